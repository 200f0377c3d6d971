"""The browser's shared state (qmr_tui/state.py): what opening a comparison keeps, and the runs' short labels."""

from __future__ import annotations

from qmr_core.browse import Comparison, FailureFilters, list_runs
from qmr_core.store import Store
from qmr_tui.state import BrowserState
from tests.helpers.tui_store import BASE, Q3, Q4, build_small_store


def test_a_reopened_comparison_keeps_its_judge_and_filters_and_another_resets_them(tmp_path):
    state = BrowserState()
    first = Comparison(BASE, (Q3,))
    state.open_comparison(first)
    state.judge, state.filters = "symbolic", FailureFilters(outcome="gained", subject="Geometry")
    state.open_comparison(Comparison(BASE, (Q3,)))  # the same runs: nothing is reset
    assert (state.comparison, state.judge, state.filters.subject) == (first, "symbolic", "Geometry")
    state.open_comparison(Comparison(BASE, (Q4, Q3)))
    assert state.comparison == Comparison(BASE, (Q4, Q3))
    assert state.judge is None and state.filters == FailureFilters()


def test_run_labels_come_from_the_listed_runs(tmp_path):
    state = BrowserState()
    assert state.run_label(Q3) == Q3[:8]  # before the runs are listed: the id's start
    state.runs = list_runs(Store(build_small_store(tmp_path / "store.duckdb"), create=False, write=False))
    assert [state.run_label(r) for r in (BASE, Q4, Q3)] == ["fp", "rtn w4g64", "rtn w3g64"]
    assert state.run_label("run-unknown-9") == "run-unkn"
