"""SVG snapshots of the blind review screen at 80x24 and 160x50: blind (verdicts hidden) and revealed after a label.

The store, the set (seed 3) and the annotator are fixed and no timestamp is shown, so the pictures
are stable. Update after a deliberate change with
`python -m pytest tests/tui/test_tui_review_snapshots.py --snapshot-update` and review the SVG diff.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from qmr_core.cli import app as cli_app
from qmr_tui.app import QmrApp
from tests.helpers.review_store import build_review_store
from tests.helpers.pilot import SNAPSHOT_SIZES, settle


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
@pytest.mark.parametrize("label", [False, True], ids=["blind", "revealed"])
def test_review_screen_snapshot(snap_compare, tmp_path, label, size):
    db = build_review_store(tmp_path / "store.duckdb")
    assert CliRunner().invoke(cli_app, ["review", "sample", "--n", "5", "--seed", "3", "--db", str(db)]).exit_code == 0
    app = QmrApp(db, review="error_type-n5-s3", annotator="alice")

    async def run_before(pilot) -> None:
        await settle(pilot)
        if label:  # step 2 of the first sample, Execution (third type), as a researcher would with keys
            await pilot.press("j", "l")
            await settle(pilot)
            await pilot.press("down", "down", "enter")
            await settle(pilot)
            await pilot.pause(0.1)

    assert snap_compare(app, run_before=run_before, terminal_size=size)
