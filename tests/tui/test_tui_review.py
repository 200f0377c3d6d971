"""Blind review end to end at 80x24: verdicts hidden until the researcher's label, shown after, and
judge accuracy (summary screen and `qmr judge-accuracy`) equal to the hand-computed numbers."""

from __future__ import annotations

import html
import io
import re
from collections import defaultdict
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Select
from typer.testing import CliRunner

from qmr_core.cli import app as cli_app
from qmr_core.review.store import ReviewStore
from qmr_tui.app import QmrApp
from qmr_tui.screens.dialogs import CorrectScreen, DetailScreen
from qmr_tui.screens.review import ReviewScreen
from qmr_tui.screens.summary import SummaryScreen
from tests.helpers.review_store import build_review_store
from tests.helpers.review_store import ALICE
from tests.helpers.pilot import settle

TYPES = ["Conceptual", "Method", "Execution", "Reasoning", "Degenerate"]
SET = "error_type-n5-s3"
VERDICT_MARKERS = ("[E:", "[SYM]", "[DIV]", "[FLIP]", "combined", "hf:judge", "agree")


def screen_text(app) -> str:
    """What the terminal shows, read back from the SVG screenshot (rows joined by newlines)."""
    rows: dict[float, list[tuple[float, str]]] = defaultdict(list)
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', app.export_screenshot()):
        rows[float(m.group(2))].append((float(m.group(1)), html.unescape(m.group(3)).replace("\xa0", " ")))
    return "\n".join("".join(t for _, t in sorted(cells)) for _, cells in sorted(rows.items()))


@pytest.fixture
def review_db(tmp_path) -> Path:
    db = build_review_store(tmp_path / "s.duckdb")
    result = CliRunner().invoke(cli_app, ["review", "sample", "--n", "5", "--seed", "3", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return db


async def label_current(pilot, screen: ReviewScreen, step: int | None, etype: str | None) -> None:
    """Move the trace cursor to the step (keys), press l, pick the type with the arrow keys and enter."""
    if step is not None:
        for _ in range(12):
            if screen.view.current_step("quant") == step:
                break
            await pilot.press("j")
        assert screen.view.current_step("quant") == step
    await pilot.press("l")
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, CorrectScreen) and "blind label" in dialog.heading
    if step is None:
        dialog.query_one(Select).value = -1  # "none: no faulty step" = no error
        await pilot.pause()
    else:
        assert dialog.query_one(Select).value == step  # the cursor's step is the default
    for _ in range(TYPES.index(etype) if etype else 0):
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)


async def test_blind_review_then_judge_accuracy_at_80x24(review_db):
    app = QmrApp(review_db, review=SET, annotator="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and len(screen.items) == 5
        seen = []
        for k in range(5):
            item = screen.items[screen.index]
            assert screen.index == k and screen.detail is not None and screen.detail.quant.run_id == item.run_id
            before = screen_text(app)
            assert "BLIND" in before and "verdicts hidden" in before
            assert not [m for m in VERDICT_MARKERS if m in before], before
            assert screen.view.cursor == 0  # not opened at a judged step
            await pilot.press("enter")  # the step detail (every judge) stays closed while blind
            assert not isinstance(app.screen, DetailScreen)
            step, etype = ALICE[(item.run_id, item.problem_id)]
            await label_current(pilot, screen, step, etype)
            after = screen_text(app)
            assert "revealed" in after and "you (blind, alice)" in after and "combined" in after
            diag = next(d for d in screen.detail.quant.diagnoses if d.judge == "combined")
            if diag.first_error_step is not None:
                assert f"[E:{diag.error_type}]" in after  # the trace markers are back
            seen.append(item.key)
            await pilot.press("l")  # a second label would not be blind
            assert len(ReviewStore.for_store(review_db).blind_labels()) == k + 1
            if k < 4:
                await pilot.press("n")
                await settle(pilot)
        assert sorted(seen) == sorted((r, p, 0) for r, p in ALICE)
        labels = ReviewStore.for_store(review_db).blind_labels()
        assert {lab.annotator for lab in labels} == {"alice"} and all(lab.review_set == SET for lab in labels)
        assert {lab.key: (lab.first_error_step, lab.error_type) for lab in labels} == {(r, p, 0): v for (r, p), v in ALICE.items()}
        # the summary screen: combined 4/5 step, 4/5 type; hf:judge 3/4 and 3/4, one missing (hand-computed
        # in tests/unit/test_review_cli.py; Wilson 4/5 = [37.6, 96.4], 3/4 = [30.1, 95.4])
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        console = Console(width=78, record=True, file=io.StringIO())  # the summary's width at 80 columns
        console.print(app.screen.query_one("#summary-content").content)
        summary = console.export_text()
        assert "5 samples" in summary
        assert re.search(r"combined\s+│\s+5\s+│\s+80\.0 \[37\.6–96\.4\]\s+│\s+80\.0 \[37\.6–96\.4\]\s+│\s+0", summary), summary
        assert re.search(r"hf:judge\s+│\s+4\s+│\s+75\.0 \[30\.1–95\.4\]\s+│\s+75\.0 \[30\.1–95\.4\]\s+│\s+1", summary), summary
    out = CliRunner().invoke(cli_app, ["judge-accuracy", "--set", SET, "--format", "md", "--db", str(review_db)]).output
    assert "| combined | 5 | 80.0 | [37.6, 96.4] | 80.0 | [37.6, 96.4] | 60.0 | [23.1, 88.2] | 0 |" in out


async def test_blind_review_is_per_annotator(review_db):
    review = ReviewStore.for_store(review_db)
    _, items = review.require_set(SET)
    first = items[0]
    review.add_blind_label(first.key, 0, "Execution", annotator="alice", review_set=SET)
    app = QmrApp(review_db, review=SET, annotator="bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.index == 0  # alice's label does not reveal it to bob
        assert "BLIND" in screen_text(app)
    app = QmrApp(review_db, review=SET, annotator="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.index == 1 and "BLIND" in screen_text(app)  # opens at alice's first unlabelled sample
        await pilot.press("p")
        await settle(pilot)
        assert screen.index == 0 and "you (blind, alice): step 1 [E:Execution]" in screen_text(app)


def test_tui_review_option_checks_the_set(review_db):
    result = CliRunner().invoke(cli_app, ["tui", "--review", "nope", "--db", str(review_db)])
    assert result.exit_code == 1 and "no review set 'nope'" in result.output
