"""Headless parts of the browser: alignment, comparison rows, filters, search, traces, annotations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from qmr_core.review.annotations import AnnotationStore, annotations_path
from qmr_core.browse import (
    FailureFilters,
    apply_filters,
    comparison_for_run,
    default_comparison,
    default_judge,
    list_judges,
    list_runs,
    load_rows,
    load_trace,
    search_keys,
)
from qmr_core.compare.align import align_steps, display_rows, first_divergent_row, index_pairs
from qmr_core.compare.word_diff import word_diff
from qmr_core.browse.failures import load_comparison, page_result
from qmr_core.browse.summary import load_summary
from qmr_core.browse.trace import sample_markdown
from qmr_core.errors import QmrError
from qmr_core.store import Store
from tests.helpers.tui_store import BASE, Q3, Q4, build_small_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def small(tmp_path) -> Store:
    return Store(build_small_store(tmp_path / "store.duckdb"), create=False)


def _rows(base: list[str], quant: list[str]):
    return display_rows(index_pairs(align_steps(base, quant)), base, quant)  # compare's aligner, shown


def test_align_pairs_equal_and_changed_steps_and_keeps_one_sided_ones():
    rows = _rows(["a", "b", "c", "d"], ["a", "B ", "x", "y", "d"])
    assert [(r.base, r.quant, r.kind) for r in rows] == [
        (0, 0, "equal"),
        (1, 1, "equal"),  # case and spacing are normalised away
        (None, 2, "quant_only"),  # nothing alike: left unaligned
        (None, 3, "quant_only"),
        (2, None, "base_only"),
        (3, 4, "equal"),
    ]
    assert first_divergent_row(rows) == 2
    changed = _rows(["Step 1: 7 * 7 = 49 dollars"], ["Step 1: 7 * 7 = 42 dollars"])
    assert [(r.base, r.quant, r.kind) for r in changed] == [(0, 0, "changed")]
    assert first_divergent_row(_rows(["a"], ["a"])) is None
    assert [r.kind for r in _rows([], ["a"])] == ["quant_only"]


def test_word_diff_marks_only_the_changed_words():
    left, right = word_diff("so 7 * 7 = 49 dollars", "so 7 * 7 = 42 dollars")
    assert ("49", "del") in left and ("42", "ins") in right
    assert "".join(t for t, _ in left) == "so 7 * 7 = 49 dollars"
    assert "".join(t for t, _ in right) == "so 7 * 7 = 42 dollars"
    long = "x " * 2000
    assert word_diff(long, long + "y") == ([(long, "same")], [(long + "y", "same")])


def test_default_comparison_and_run_resolution(small):
    runs = list_runs(small)
    comp = default_comparison(runs)
    assert comp is not None and comp.base_run_id == BASE and comp.quant_run_ids == (Q4, Q3)  # 4-bit before 3-bit
    assert comparison_for_run(runs, "run-w3").quant_run_ids == (Q3,)
    assert comparison_for_run(runs, BASE).quant_run_ids == (Q4, Q3)
    with pytest.raises(QmrError, match="no run"):
        comparison_for_run(runs, "nope")
    with pytest.raises(QmrError, match="ambiguous"):
        comparison_for_run(runs, "run-")


def test_rows_compute_outcomes_from_samples_without_pairs(small):
    comp = comparison_for_run(list_runs(small), Q3)
    judges = list_judges(small, comp)
    assert default_judge(judges) == "hf:judge"
    assert default_judge([("symbolic", 3), ("majority-vote", 1)]) == "majority-vote"
    assert default_judge([("hf:x", 9), ("combined", 2)]) == "combined"
    rows = load_rows(small, comp, "hf:judge")
    by_id = {r["problem_id"]: r for r in rows.to_pylist()}
    assert by_id["sample/algebra/1"]["outcome"] == "lost"
    assert by_id["sample/number_theory/3"]["outcome"] == "gained"
    assert by_id["sample/number_theory/3"]["diag_run_id"] == BASE  # a gained problem's failing trace is the base's
    assert by_id["sample/prealgebra/4"]["outcome"] == "both_right"
    assert by_id["sample/counting/5"]["outcome"] == "both_wrong"
    algebra = by_id["sample/algebra/1"]
    assert (algebra["error_type"], algebra["first_error_step"], algebra["n_judges"], algebra["n_agree"]) == ("Execution", 2, 1, 1)
    geometry = by_id["sample/geometry/2"]
    assert (geometry["n_judges"], geometry["n_agree"]) == (1, 0)  # symbolic, the other locator, put it elsewhere
    # with the whole store as the truth: outcome counts match a direct count over samples
    lost = small.query(
        """SELECT count(*) FROM samples q JOIN samples b ON b.problem_id = q.problem_id AND b.run_id = ?
           WHERE q.run_id = ? AND b.correct AND NOT q.correct""", [BASE, Q3]
    )[0][0]
    assert sum(r["outcome"] == "lost" for r in by_id.values()) == lost


def test_first_page_is_the_head_of_the_full_lost_list(small):
    comp = default_comparison(list_runs(small))
    full = apply_filters(load_rows(small, comp, "hf:judge"), FailureFilters())
    first = load_comparison(small, comp, "hf:judge", outcome="lost", limit=4)
    assert first.judge == "hf:judge" and first.rows.num_rows == 4
    assert apply_filters(first.rows, FailureFilters()).keys == full.keys[:4]
    page = page_result(first)  # shown as loaded, without apply_filters
    assert page.keys == full.keys[:4]
    assert page.table.column_names == full.table.column_names
    assert page.table.to_pylist() == full.table.slice(0, 4).to_pylist()


def test_first_page_loads_without_importing_pandas(tmp_path):
    """pyarrow imports pandas (~0.3 s) on the first conversion from Python values; the first page
    of the failure table (rows, display result and column widths) must not pay for it."""
    db = build_small_store(tmp_path / "store.duckdb")
    code = f"""
import sys
from qmr_core.review.annotations import AnnotationStore
from qmr_core.browse import default_comparison, list_runs
from qmr_core.browse.failures import load_comparison, page_result
from qmr_core.store import Store
from qmr_tui.widgets.failures_table import MeasuredArrowBackend, measure_columns
store = Store({str(db)!r}, create=False)
comp = default_comparison(list_runs(store))
first = load_comparison(store, comp, None, AnnotationStore.for_store({str(db)!r}).arrow(), outcome="lost", limit=500)
page = page_result(first)
backend = MeasuredArrowBackend(page.table, measure_columns(page.table))
assert page.shown > 0 and backend.get_row_at(0)
print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_pairs_row_sets_the_divergent_step(small):
    small.upsert("pairs", [dict(base_run_id=BASE, quant_run_id=Q3, problem_id="sample/geometry/2", outcome="lost",
                                first_divergent_step=1, similarity=0.25)])
    detail = load_trace(small, BASE, Q3, "sample/geometry/2", "hf:judge")
    assert detail.divergent_source == "qmr compare" and detail.rows[detail.divergent_row].quant == 1
    assert detail.similarity == 0.25
    # qmr compare stores len(quant steps) when the quantized trace stops where the base goes on
    small.execute("DELETE FROM steps WHERE run_id = ? AND problem_id = 'sample/number_theory/3' AND step_idx = 2", [Q3])
    small.upsert("pairs", [dict(base_run_id=BASE, quant_run_id=Q3, problem_id="sample/number_theory/3", outcome="gained",
                                first_divergent_step=2, similarity=0.5)])
    short = load_trace(small, BASE, Q3, "sample/number_theory/3", "hf:judge")
    assert short.divergent_row is not None and short.rows[short.divergent_row].quant is None
    plain = load_trace(small, BASE, Q3, "sample/algebra/1", "hf:judge")
    assert plain.divergent_source == "alignment" and plain.rows[plain.divergent_row].quant == 2


def test_filters_facets_sort_and_search(small):
    comp = default_comparison(list_runs(small))
    rows = load_rows(small, comp, "hf:judge")
    lost = apply_filters(rows, FailureFilters())
    assert lost.total == rows.num_rows
    outcome_counts = dict(lost.facets["outcome"])
    assert outcome_counts["lost"] == lost.shown
    assert sum(outcome_counts.values()) == rows.num_rows  # the outcome facet ignores the outcome filter
    assert set(lost.table.column("outcome").to_pylist()) == {"lost"}
    geometry = apply_filters(rows, FailureFilters(subject="Geometry"))
    assert geometry.shown == dict(lost.facets["subject"])["Geometry"]
    by_step = apply_filters(rows, FailureFilters(outcome=None, sort="step", descending=True))
    steps = [int(s) for s in by_step.table.column("step").to_pylist() if s]
    assert steps == sorted(steps, reverse=True)
    none_type = apply_filters(rows, FailureFilters(outcome=None, error_type="(none)"))
    assert set(none_type.table.column("error").to_pylist()) == {""}
    matches = search_keys(small, comp, "RECTANGLE")
    found = apply_filters(rows, FailureFilters(outcome=None, search="rectangle"), matches)
    assert found.keys == [(Q3, "sample/geometry/2"), (Q4, "sample/geometry/2")] or sorted(found.keys) == sorted(
        [(Q3, "sample/geometry/2"), (Q4, "sample/geometry/2")]
    )
    in_trace = search_keys(small, comp, "four sides")  # only in the 3-bit trace
    assert in_trace.to_pylist() == [{"quant_run_id": Q3, "problem_id": "sample/geometry/2"}]
    assert apply_filters(rows, FailureFilters(search="zzz-nothing"), search_keys(small, comp, "zzz-nothing")).shown == 0


def test_trace_markers_flags_and_markdown(small):
    detail = load_trace(small, BASE, Q3, "sample/algebra/1", "hf:judge", labels={Q3: "w3"})
    assert detail.outcome == "lost" and detail.failing_side == "quant"
    assert detail.quant.diagnosis("hf:judge").first_error_step == 2
    assert detail.quant.agreement("hf:judge") == (1, 1)  # the other judge that located a step agrees
    assert [f.step_idx for f in detail.quant.flags] == [2]  # from the symbolic judge when no flags table exists
    assert detail.flip_step is None
    assert 2 in detail.diffs
    md = sample_markdown(detail)
    assert "3. [E:Execution] So the total is 7 * 7 = 42 dollars." in md and "Gold: 49" in md


def test_compare_and_diagnose_tables_are_used_when_filled(small):
    with small.connect() as con:
        con.execute(
            """INSERT INTO flips (base_run_id, quant_run_id, problem_id, sample_idx, quant_model_id, n_tokens, n_flips,
                                  first_flip_token, first_flip_step, base_token, quant_token, flip_margin)
               VALUES (?, ?, 'sample/algebra/1', 0, 'm', 40, 3, 17, 1, ' 4', ' 2', 0.04)""", [BASE, Q3])
        con.execute(
            """INSERT INTO symbolic_flags (run_id, problem_id, sample_idx, step_idx, claim_idx, claim, lhs_value, rhs_value,
                                           stated, true_value, checker_version)
               VALUES (?, 'sample/algebra/1', 0, 2, 0, '7 * 7 = 42', '49', '42', '42', '49', 't')""", [Q3])
        # qmr compare's alignment pairs base step 1 with nothing and shifts the rest
        for pos, b, q in [(0, 0, 0), (1, 1, None), (2, None, 1), (3, 2, 2), (4, 3, 3)]:
            con.execute("INSERT INTO step_alignments (base_run_id, quant_run_id, problem_id, sample_idx, pos, base_step_idx, quant_step_idx) "
                        "VALUES (?, ?, 'sample/algebra/1', 0, ?, ?, ?)", [BASE, Q3, pos, b, q])
    detail = load_trace(small, BASE, Q3, "sample/algebra/1", "hf:judge")
    assert detail.flip_step == 1 and "' 4'→' 2'" in detail.flip.describe()
    assert [(f.step_idx, f.text) for f in detail.quant.flags] == [(2, "7 * 7 = 42 is false (true value 49)")]
    assert detail.alignment_source == "qmr compare"
    assert [(r.base, r.quant, r.kind) for r in detail.rows] == [
        (0, 0, "equal"), (1, None, "base_only"), (None, 1, "quant_only"), (2, 2, "changed"), (3, 3, "changed")]


def test_a_store_that_lost_its_compare_tables_says_so_in_one_line(small):
    """Migrations guarantee the tables, so the browser reads them without probing; a store that lost one
    (edited by hand) gets one clear error instead of a catalog error."""
    with small.connect() as con:
        for table in ("flips", "symbolic_flags", "step_alignments", "judge_votes", "comparisons"):
            con.execute(f"DROP TABLE {table}")
    with pytest.raises(QmrError, match="lost table.*flips.*restore it from a copy"):
        load_trace(small, BASE, Q3, "sample/algebra/1", "hf:judge")


def test_without_compare_rows_the_browser_aligns_and_the_symbolic_judge_flags(small):
    with small.connect() as con:
        for table in ("flips", "symbolic_flags", "step_alignments"):
            con.execute(f"DELETE FROM {table}")
    detail = load_trace(small, BASE, Q3, "sample/algebra/1", "hf:judge")
    assert detail.flip is None and detail.alignment_source == "qmr-browse"
    assert [f.step_idx for f in detail.quant.flags] == [2]  # the symbolic judge's diagnosis stands in


def test_annotations_persist_in_a_side_file_and_score_the_judges(small, tmp_path):
    ann = AnnotationStore.for_store(small.path)
    assert ann.path == tmp_path / "store.annotations.duckdb" == annotations_path(small.path)
    assert ann.get((Q3, "sample/algebra/1", 0)) is None and ann.arrow().num_rows == 0
    assert not ann.path.exists()  # reads never create the file
    ann.accept((Q3, "sample/algebra/1", 0), "hf:judge", 2, "Execution", author="me")
    ann.correct((Q3, "sample/geometry/2", 0), "hf:judge", 1, "Conceptual", author="me")
    ann.set_note((Q3, "sample/geometry/2", 0), "treats it as a square", author="me")
    again = AnnotationStore(ann.path)
    geo = again.get((Q3, "sample/geometry/2", 0))
    assert (geo.verdict, geo.first_error_step, geo.error_type, geo.note) == ("corrected", 1, "Conceptual", "treats it as a square")
    assert [h.action for h in again.history((Q3, "sample/geometry/2", 0))] == ["correct", "note"]
    with pytest.raises(QmrError, match="step"):
        again.correct((Q3, "x", 0), None, -1, "Method")
    # the eval store is untouched: no annotation table there
    assert not small.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'annotations'")
    summary = load_summary(small, list_runs(small), default_comparison(list_runs(small)), "hf:judge", again.arrow())
    scores = {j.judge: j for j in summary.judges}
    # hf:judge: algebra (step 2 Execution) right; geometry (step 1 Conceptual) right
    assert (scores["hf:judge"].n, scores["hf:judge"].step_ok, scores["hf:judge"].type_ok) == (2, 2, 2)
    # symbolic: algebra right; geometry flagged step 2 Execution, the researcher says step 1 Conceptual
    assert (scores["symbolic"].n, scores["symbolic"].step_ok, scores["symbolic"].type_ok) == (2, 1, 1)
    assert summary.verdicts == {"accepted": 1, "corrected": 1}
    rows = load_rows(small, default_comparison(list_runs(small)), "hf:judge", again.arrow())
    verdicts = {(r["quant_run_id"], r["problem_id"]): r["verdict"] for r in rows.to_pylist()}
    assert verdicts[(Q3, "sample/algebra/1")] == "accepted" and verdicts[(Q4, "sample/algebra/1")] is None


def test_summary_accuracy_and_relative_degradation(small):
    runs = list_runs(small)
    summary = load_summary(small, runs, default_comparison(runs), "hf:judge", None)
    acc = {a.run.run_id: a for a in summary.accuracy}
    base = acc[BASE].run.accuracy
    q3 = acc[Q3].run.accuracy
    assert acc[Q3].relative == pytest.approx((base - q3) / base)
    assert acc[BASE].relative is None
    assert summary.outcomes[Q3]["lost"] + summary.outcomes[Q3]["both_right"] == round(base * acc[BASE].run.n)
    assert sum(r.n for r in summary.errors[Q3]) == small.query(
        "SELECT count(*) FROM diagnoses WHERE run_id = ? AND judge = 'hf:judge'", [Q3])[0][0]


def test_newer_annotation_schema_is_refused(tmp_path):
    path = tmp_path / "a.annotations.duckdb"
    AnnotationStore(path).set_note(("r", "p", 0), "x")
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO annotation_schema VALUES (99)")
    con.close()
    with pytest.raises(QmrError, match="newer"):
        AnnotationStore(path).get(("r", "p", 0))
