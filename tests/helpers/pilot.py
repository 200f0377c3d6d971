"""Pilot helpers for the Textual app tests."""

from __future__ import annotations

import pytest

from qmr_tui.screens.failures import FailuresScreen
from qmr_tui.screens.runs import RunsScreen
from qmr_tui.screens.trace import TraceScreen

SNAPSHOT_SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


async def settle(pilot, rounds: int = 40) -> None:
    """Wait until no worker runs and the messages they posted are handled."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            return
    raise AssertionError("workers did not settle")


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def open_trace(pilot) -> TraceScreen:
    await settle(pilot)
    assert isinstance(pilot.app.screen, RunsScreen)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, FailuresScreen)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TraceScreen)
    return screen
