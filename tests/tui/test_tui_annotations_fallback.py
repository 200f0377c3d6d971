"""A corrupt or read-only annotations file does not block the failures and summary views."""

from __future__ import annotations

import duckdb
import pytest

from qmr_core.store import annotations as annotations_module
from qmr_core.review.annotations import AnnotationStore, annotations_path
from qmr_tui.app import QmrApp
from qmr_tui.screens.failures import FailuresScreen
from qmr_tui.screens.summary import SummaryScreen
from tests.helpers.pilot import settle, text_of
from tests.helpers.tui_store import Q3, build_small_store


@pytest.fixture
def store_path(tmp_path):
    return build_small_store(tmp_path / "store.duckdb")


def _summary_text(app) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"))
    console.print(app.screen.query_one("#summary-content").content)
    return console.export_text()


async def test_a_corrupt_annotations_file_is_browsed_around_with_a_visible_note(store_path):
    annotations_path(store_path).write_bytes(b"not a database at all " * 500)
    app = QmrApp(store_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert screen.result.shown == 11 and "11 of 50 rows" in text_of(app, "#failures-status")
        notes = [n.message for n in app._notifications]
        assert any("annotations unavailable" in m and "browsing without them" in m for m in notes), notes
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        assert "note: annotations unavailable" in _summary_text(app)


async def test_annotations_are_read_without_write_access(store_path, monkeypatch):
    AnnotationStore.for_store(store_path).accept((Q3, "sample/algebra/1", 0), "symbolic", 2, "Execution")
    opens: list[bool] = []
    real = duckdb.connect

    def spy(database=":memory:", read_only=False, **kw):
        if str(database).endswith(".annotations.duckdb"):
            opens.append(read_only)
        return real(database, read_only=read_only, **kw)

    monkeypatch.setattr(annotations_module.duckdb, "connect", spy)
    app = QmrApp(store_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FailuresScreen) and app.screen.result.shown == 11
        await pilot.press("s")
        await settle(pilot)
        assert "accepted 1" in _summary_text(app)
    assert opens and all(opens)  # every open while browsing was read-only
