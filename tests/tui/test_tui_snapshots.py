"""SVG snapshots of the trace screen: side by side (160x50) and stacked (80x24).

The store is built by a fixture with fixed ids and texts and the app shows no timestamps or paths
beyond the file name, so the pictures are stable. Update after a deliberate change with
`python -m pytest tests/tui/test_tui_snapshots.py --snapshot-update` and review the SVG diff.
"""

from __future__ import annotations

import pytest

from qmr_tui.app import QmrApp
from tests.helpers.pilot import settle
from tests.helpers.tui_store import Q3, build_small_store


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["unified-80x24", "split-160x50"])
def test_trace_screen_snapshot(snap_compare, tmp_path, size):
    app = QmrApp(build_small_store(tmp_path / "store.duckdb"), run=Q3)

    async def open_first_lost(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app, run_before=open_first_lost, terminal_size=size)
