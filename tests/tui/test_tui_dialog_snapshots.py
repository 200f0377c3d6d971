"""SVG snapshots of every dialog at 80x24 and 160x50: help, error, filters, search, correct, note, step detail.

Each opens over the screen a researcher opens it from, on the fixed store of tests/helpers/tui_store.py.
The inputs' cursors do not blink here, so the pictures are stable. Update after a deliberate change
with `python -m pytest tests/tui/test_tui_dialog_snapshots.py --snapshot-update` and review the SVG diff.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from qmr_tui.app import QmrApp
from qmr_tui.screens.dialogs import (
    CorrectScreen,
    DetailScreen,
    ErrorScreen,
    FiltersScreen,
    HelpScreen,
    NoteScreen,
    SearchScreen,
)
from tests.helpers.pilot import SNAPSHOT_SIZES, settle
from tests.helpers.tui_store import Q3, build_small_store

# dialog -> (the keys that open it from the failure list of the base vs w3 comparison, its screen class)
DIALOGS = {
    "help": (["question_mark"], HelpScreen),
    "filters": (["f"], FiltersScreen),
    "search": (["slash", *"pencils"], SearchScreen),
    "detail": (["enter", "enter"], DetailScreen),  # the trace of the first lost problem, then its step detail
    "correct": (["enter", "c"], CorrectScreen),
    "note": (["enter", "e", *"slip"], NoteScreen),
}


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_dialog_snapshot(snap_compare, tmp_path, dialog, size):
    keys, kind = DIALOGS[dialog]
    app = QmrApp(build_small_store(tmp_path / "store.duckdb"), run=Q3)

    async def open_dialog(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        assert isinstance(pilot.app.screen, kind)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False

    assert snap_compare(app, run_before=open_dialog, terminal_size=size)


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_error_dialog_snapshot(snap_compare, tmp_path, monkeypatch, size):
    monkeypatch.chdir(tmp_path)  # a relative path: the message names no temporary folder
    app = QmrApp("missing.duckdb")

    async def wait_for_error(pilot) -> None:
        await settle(pilot)
        assert isinstance(pilot.app.screen, ErrorScreen)

    assert snap_compare(app, run_before=wait_for_error, terminal_size=size)
