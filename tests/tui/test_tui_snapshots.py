"""SVG snapshots of every screen of the browser at 80x24 and 160x50: runs, failures, trace (side by side
and stacked), summary. The dialogs are in test_tui_dialog_snapshots.py, blind review in
test_tui_review_snapshots.py.

The store is built by a fixture with fixed ids and texts and the app shows no timestamps or paths
beyond the file name, so the pictures are stable. Update after a deliberate change with
`python -m pytest tests/tui/test_tui_snapshots.py --snapshot-update` and review the SVG diff.
"""

from __future__ import annotations

import pytest

from qmr_tui.app import QmrApp
from qmr_tui.screens.trace import TraceScreen
from tests.helpers.pilot import SNAPSHOT_SIZES, settle
from tests.helpers.tui_store import Q3, build_small_store

LAYOUT_COMMANDS = {"split": "Layout: side by side", "unified": "Layout: stacked"}


@pytest.mark.parametrize(
    ("layout", "size"),
    [("unified", (80, 24)), ("split", (160, 50)), ("split", (80, 24)), ("unified", (160, 50))],
    ids=["unified-80x24", "split-160x50", "split-80x24", "unified-160x50"],
)
def test_trace_screen_snapshot(snap_compare, tmp_path, layout, size):
    app = QmrApp(build_small_store(tmp_path / "store.duckdb"), run=Q3)

    async def open_first_lost(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, TraceScreen)
        if screen.view.split != (layout == "split"):  # as the palette's layout command does
            next(c for c in screen.palette_commands() if c.title == LAYOUT_COMMANDS[layout]).callback()
            await settle(pilot)
        assert screen.view.split == (layout == "split")

    assert snap_compare(app, run_before=open_first_lost, terminal_size=size)


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_runs_screen_snapshot(snap_compare, tmp_path, size):
    app = QmrApp(build_small_store(tmp_path / "store.duckdb"))

    assert snap_compare(app, run_before=settle, terminal_size=size)


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_failures_screen_snapshot(snap_compare, tmp_path, size):
    app = QmrApp(build_small_store(tmp_path / "store.duckdb"), run=Q3)
    assert snap_compare(app, run_before=settle, terminal_size=size)


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_summary_screen_snapshot(snap_compare, tmp_path, size):
    app = QmrApp(build_small_store(tmp_path / "store.duckdb"), run=Q3)

    async def open_summary(pilot) -> None:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)

    assert snap_compare(app, run_before=open_summary, terminal_size=size)
