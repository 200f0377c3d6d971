"""Pilot tests of the browser: every screen and key, at 80x24 and 160x50, plus a live writer."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
from textual_fastdatatable import ArrowBackend
from typer.testing import CliRunner

from qmr_core.review.annotations import AnnotationStore
from qmr_core.browse import FailureFilters
from qmr_core.cli import app as cli_app
from qmr_core.store import SCHEMA_VERSION, Store
from qmr_tui.app import QmrApp
from qmr_tui.screens.dialogs import CorrectScreen, DetailScreen, ErrorScreen, FiltersScreen, HelpScreen, NoteScreen, SearchScreen
from qmr_tui.screens.failures import FailuresScreen
from qmr_tui.screens.runs import RunsScreen
from qmr_tui.screens.summary import SummaryScreen
from qmr_tui.screens.trace import TraceScreen
from qmr_tui.widgets.failures_table import measure_columns
from qmr_tui.widgets.trace_view import TraceView
from tests.helpers.pilot import open_trace, settle, text_of
from tests.helpers.tui_store import BASE, Q3, Q4, build_small_store

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


@pytest.fixture
def store_path(tmp_path) -> Path:
    return build_small_store(tmp_path / "store.duckdb")


@pytest.mark.parametrize("size", SIZES)
async def test_runs_screen_keys(store_path, size):
    app = QmrApp(store_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert screen.base == BASE and screen.quants == [Q4, Q3]
        assert "base tiny-fp (fp)" in text_of(app, "#runs-selection")
        # cursor on the base row; move to the w3 run (rows are ordered by run id) and toggle it off and on
        await pilot.press("down")
        await pilot.press("space")
        assert screen.quants == [Q4]
        await pilot.press("space")
        assert screen.quants == [Q4, Q3]
        await pilot.press("b")  # make the 3-bit run the base: it leaves the quantized list
        assert screen.base == Q3 and Q3 not in screen.quants
        await pilot.press("up", "b", "down", "space")
        assert screen.base == BASE and Q3 in screen.quants
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("q")
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen) and len(app.runs) == 3
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FailuresScreen)
        await pilot.press("q")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.parametrize("size", SIZES)
async def test_failures_screen_keys_filters_search_sort(store_path, size):
    app = QmrApp(store_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        lost = screen.result.shown
        assert lost == 11 and "11 of 50 rows" in text_of(app, "#failures-status")
        assert screen.table.table.row_count == 11
        # f: the filter dialog shows live counts; choosing a subject narrows the list at once
        await pilot.press("f")
        assert isinstance(app.screen, FiltersScreen)
        select = app.screen.query_one("#filter-subject")
        assert ("Geometry (1)", "Geometry") in app.screen._options("subject")
        select.value = "Geometry"
        await settle(pilot)
        assert screen.result.shown == 1 and app.filters.subject == "Geometry"
        assert "1 of 50 rows match" in text_of(app, "#filters-count")
        await pilot.press("x")  # reset inside the dialog
        await settle(pilot)
        assert screen.result.shown == lost
        await pilot.press("escape")
        assert app.screen is screen
        # /: search problem texts and traces
        await pilot.press("slash")
        assert isinstance(app.screen, SearchScreen)
        await pilot.press(*"four sides", "enter")
        await settle(pilot)
        assert screen.result.keys == [(Q3, "sample/geometry/2")]
        await pilot.press("x")
        await settle(pilot)
        assert screen.result.shown == lost and app.filters.search == ""
        # o cycles the sort, O reverses it
        await pilot.press("o")
        await settle(pilot)
        assert app.filters.sort == "error_type"
        errors = screen.result.table.column("error").to_pylist()
        assert errors == sorted(errors)
        await pilot.press("O")
        await settle(pilot)
        assert screen.result.table.column("error").to_pylist() == sorted(errors, reverse=True)
        await pilot.press("r")
        await settle(pilot)
        assert screen.result.shown == lost
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("escape")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        await pilot.press("q")
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@pytest.mark.parametrize("size", SIZES)
async def test_trace_screen_keys(store_path, size):
    app = QmrApp(store_path)
    async with app.run_test(size=size) as pilot:
        screen = await open_trace(pilot)
        view = screen.query_one(TraceView)
        assert view.split == (size[0] >= 100)
        first = screen.detail
        assert first.problem_id == "sample/algebra/1" and first.outcome == "lost"
        # opens on the judged error step of the quantized trace, labelled with its type
        assert view.cursor == 2 and view.active == "quant"
        assert "[E:Execution]" in text_of(app, "#diag-main")
        lines = "\n".join(view.render_line(y).text for y in range(view.size.height))
        assert "[E:Execution]" in lines and "[DIV]" in lines and "[SYM]" in lines
        assert "gold 49" in text_of(app, "#answers")
        # j/k/g/G steps, tab switches the pane
        await pilot.press("j")
        assert view.cursor == 3
        await pilot.press("k", "k")
        assert view.cursor == 1
        await pilot.press("G")
        assert view.cursor == len(first.rows) - 1
        await pilot.press("g")
        assert view.cursor == 0
        await pilot.press("tab")
        assert view.active == "base"
        await pilot.press("tab")
        assert view.active == "quant"
        # y copies the current step, Y the sample
        await pilot.press("j", "j", "y")
        assert app.clipboard == "So the total is 7 * 7 = 42 dollars."
        await pilot.press("Y")
        assert app.clipboard.startswith("## sample/algebra/1 (lost)")
        # enter: full detail
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        # n/p move through the failure list (prefetched neighbours)
        await pilot.press("n")
        await settle(pilot)
        second = screen.detail
        assert second.problem_id != first.problem_id and second.key == app.nav_keys[1]
        await pilot.press("p")
        await settle(pilot)
        assert screen.detail.key == first.key
        # a accepts the judge's diagnosis; c corrects it; e writes a note
        await pilot.press("a")
        await settle(pilot)
        ann = AnnotationStore.for_store(store_path).get((Q3, "sample/algebra/1", 0))
        assert (ann.verdict, ann.first_error_step, ann.error_type) == ("accepted", 2, "Execution")
        assert "you accepted" in text_of(app, "#diag-verdict")
        await pilot.press("c")
        assert isinstance(app.screen, CorrectScreen)
        await pilot.press("up", "enter")  # Method, on the step under the cursor (step 3)
        await settle(pilot)
        ann = AnnotationStore.for_store(store_path).get((Q3, "sample/algebra/1", 0))
        assert (ann.verdict, ann.first_error_step, ann.error_type) == ("corrected", 2, "Method")
        lines = "\n".join(view.render_line(y).text for y in range(view.size.height))
        assert "[YOU:E:Method]" in lines
        await pilot.press("e")
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"slip", "enter")
        await settle(pilot)
        assert AnnotationStore.for_store(store_path).get((Q3, "sample/algebra/1", 0)).note == "slip"
        # / searches from the trace screen too, and highlights the term
        await pilot.press("slash")
        assert isinstance(app.screen, SearchScreen)
        await pilot.press(*"pencils", "enter")
        await settle(pilot)
        assert view.highlight == "pencils" and app.nav_keys == [(Q3, "sample/algebra/1")]
        await pilot.press("f")
        assert isinstance(app.screen, FiltersScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.press("v")
        assert view.layout_mode == "split" and view.split
        await pilot.press("v")
        assert view.layout_mode == "unified" and not view.split
        await pilot.press("r")
        await settle(pilot)
        assert screen.detail.quant.annotation.note == "slip"
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("q", "q")
        assert isinstance(app.screen, FailuresScreen)
        # the verdict column shows the saved verdict once the list is back
        await settle(pilot)
        row = app.screen.result.keys.index((Q3, "sample/algebra/1"))
        assert app.screen.result.table.column("you").to_pylist()[row] == "corrected"


async def test_verdict_survives_a_restart(store_path):
    app = QmrApp(store_path, run=Q3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FailuresScreen)  # --run opens the comparison at once
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
    again = QmrApp(store_path, run=Q3)
    async with again.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert again.screen.result.table.column("you").to_pylist()[0] == "accepted"
        await pilot.press("enter")
        await settle(pilot)
        assert "you accepted: step 3 [E:Execution]" in text_of(again, "#diag-verdict")


async def test_accept_without_a_diagnosis_explains_what_to_do(store_path):
    app = QmrApp(store_path, run=Q3)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("tab")  # the base trace is right: no diagnosis to accept
        await pilot.press("a")
        await settle(pilot)
        assert any("nothing to accept" in n.message for n in app._notifications)
        assert AnnotationStore.for_store(store_path).get((BASE, "sample/algebra/1", 0)) is None


async def test_mouse_click_selects_pane_and_step_and_header_sorts(store_path):
    app = QmrApp(store_path, run=Q3)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        failures = app.screen
        await pilot.click("#failures-table DataTable", offset=(2, 0))  # the "outcome" header
        await settle(pilot)
        assert app.filters.sort == "outcome"
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        view = screen.query_one(TraceView)
        await pilot.click(TraceView, offset=(10, 0))  # left half, first row
        assert view.active == "base" and view.cursor == 0
        await pilot.click(TraceView, offset=(120, 1))
        assert view.active == "quant" and view.cursor == 1
        assert failures is not screen


async def test_palette_lists_every_screen_action(store_path):
    app = QmrApp(store_path, run=Q3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in ("Next failure", "Previous failure", "Accept the judge's diagnosis of this trace",
                      "Copy the current step (OSC 52)", "Layout: stacked", "Back to the failure list"):
            assert title in titles
        failures = next(s for s in app.screen_stack if isinstance(s, FailuresScreen))
        assert {"Sort by level", "Show gained", "Judge: symbolic"} <= {c.title for c in app.get_system_commands(failures)}
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"layout: stacked")
        await settle(pilot)
        await pilot.pause(0.5)  # the palette searches its providers asynchronously
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one(TraceView).layout_mode == "unified"


async def test_missing_and_newer_stores_give_a_clear_message(tmp_path):
    app = QmrApp(tmp_path / "nothing.duckdb")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "no qmr store" in str(app.screen.query("Static")[1].render())
        await pilot.press("q")
    assert app.return_code == 1
    newer = tmp_path / "newer.duckdb"
    Store(newer).execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION + 1])
    runner = CliRunner()
    result = runner.invoke(cli_app, ["tui", "--db", str(newer)])
    assert result.exit_code == 1 and "newer than this qmr" in result.output
    result = runner.invoke(cli_app, ["tui", "--db", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 1 and "no qmr store" in result.output and "Traceback" not in result.output
    for command in ("tui", "serve-tui"):
        result = runner.invoke(cli_app, [command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output
    result = runner.invoke(cli_app, ["serve-tui", "--db", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 1 and "no qmr store" in result.output


WRITER = textwrap.dedent(
    """
    import sys, time
    from qmr_core.store import Store, upsert_rows
    store = Store(sys.argv[1], create=False)
    for i in range(int(sys.argv[2])):
        pid = f"live/{i:03d}"
        with store.transaction() as con:
            upsert_rows(con, "problems", [dict(problem_id=pid, benchmark="sample", unique_id=pid, subject="Live",
                        level=1, kind="math", problem="live", answer="1", content_hash=pid)])
            rows = []
            for run, ok in (("run-fp-0001", True), ("run-w3-0003", False)):
                rows.append(dict(run_id=run, problem_id=pid, sample_idx=0, output="Step 1: 1", extracted_answer="1" if ok else "2",
                                 correct=ok, n_steps=0))
            upsert_rows(con, "samples", rows)
            time.sleep(0.05)  # hold the write lock a little, as a real batch does
        print(i, flush=True)
        time.sleep(0.05)
    """
)


async def test_app_keeps_working_while_another_process_writes(store_path):
    n = 30
    app = QmrApp(store_path, run=Q3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.screen.result.shown
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store_path), str(n)], stdout=subprocess.PIPE, text=True)
        try:
            refreshes = 0
            deadline = time.monotonic() + 120
            while writer.poll() is None and time.monotonic() < deadline:
                await pilot.press("r")
                await settle(pilot, rounds=400)
                refreshes += 1
                assert app.screen.result.shown >= before  # every refresh succeeds, partial or not
            assert writer.wait(60) == 0
        finally:
            if writer.poll() is None:
                writer.kill()
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.result.shown == before + n  # every written lost problem is picked up
        assert refreshes >= 2
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)


async def test_summary_shows_the_sensitivity_heat_map(store_path):
    store = Store(store_path)
    store.upsert("sensitivity_runs", [{"sens_id": "sens-1", "model_id": "tiny-fp", "method": "rtn", "bits": 3, "group_size": 64,
                                       "quantizer_json": "{}", "trace_run_id": BASE, "n_traces": 4, "n_tokens": 200,
                                       "baseline_nll": 1.5}])
    rows = [{"sens_id": "sens-1", "layer": layer, "module": module, "n_modules": 1, "nll": 1.5 + d, "delta_nll": d}
            for layer, module, d in [(0, "q_proj", 0.01), (0, "down_proj", 0.30), (1, "q_proj", 0.02), (1, "down_proj", 0.05),
                                     (0, "all", 0.42), (1, "all", 0.07), (-1, "q_proj", 0.03), (-1, "down_proj", 0.4), (-1, "all", 0.9)]]
    store.upsert("sensitivity", rows)
    app = QmrApp(store_path, run=Q3)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        from rich.console import Console

        console = Console(width=160, record=True, file=open("/dev/null", "w"))
        console.print(app.screen.query_one("#summary-content").content)
        shown = console.export_text()
        assert "Layer sensitivity · tiny-fp · rtn w3" in shown
        assert "down" in shown and "whole layer" in shown and "0.420" in shown and "0.900" in shown
        assert "most damaging layers: 0 (0.420)" in shown and "6.0x" in shown


@pytest.mark.parametrize("rows", [0, 3])
def test_widths_measured_in_the_worker_match_fastdatatables_own(rows):
    data = pa.table({
        "ascii": ["a", "abcd", None],
        "wide": ["数学题", "x", "∅"],  # two cells per CJK character
        "marks": ["abc…", "[b]x[/b]", None],  # markup is shown literally (render_markup=False)
        "lines": ["a\nbcdefgh", "数\n学题题题", "x\r\ny"],  # a row shows the first line and a marker
        "none": pa.array([None, None, None], pa.string()),
    }).slice(0, rows)
    backend = ArrowBackend(data)
    backend.render_markup = False
    assert measure_columns(data) == backend.column_content_widths


async def test_a_loaded_comparison_is_kept_out_of_later_collections(store_path):
    app = QmrApp(store_path, run=Q3)
    async with app.run_test() as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen) and not screen.partial and screen.result.shown
        assert gc.get_freeze_count() > 0  # the whole comparison loaded, painted, then the heap was settled
    assert gc.get_freeze_count() == 0  # nothing stays frozen after the app


async def test_the_first_page_keeps_every_filter_of_a_reopened_comparison(store_path, monkeypatch):
    shown: list[tuple[bool, set[str]]] = []
    original = FailuresScreen._show

    def record(self, result, widths):
        shown.append((self.partial, set(result.table.column("subject").to_pylist())))
        return original(self, result, widths)

    app = QmrApp(store_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        app.screen.set_filters(FailureFilters(outcome="lost", subject="Geometry"))
        await settle(pilot)
        await pilot.press("q")  # back to the runs; the comparison keeps its filters
        await settle(pilot)
        monkeypatch.setattr(FailuresScreen, "_show", record)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.result.shown == 1
    assert shown[0][0] and not shown[-1][0]  # the first page, then the whole comparison
    assert all(subjects == {"Geometry"} for _partial, subjects in shown), shown
