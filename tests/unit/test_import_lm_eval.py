"""`qmr import lm-eval`: real lm-evaluation-harness 0.4.13 output (tests/fixtures/lm_eval, made by running
lm-eval on SmolLM2-135M-Instruct here; see its README) becomes runs that look like `qmr eval` runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qmr_core.benchmarks.registry import load_benchmark, select
from qmr_core.cli import app
from qmr_core.errors import QmrError
from qmr_core.grading import grade
from qmr_core.importers.lm_eval import (
    ModelOverride, import_lm_eval, map_problem, read_samples, task_benchmark,
)
from qmr_core.store import Store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lm_eval"
runner = CliRunner()


def _sample_files() -> list[Path]:
    return sorted(FIXTURES.rglob("samples_*.jsonl"))


def test_task_names():
    assert task_benchmark("gsm8k") == ("gsm8k", None)
    assert task_benchmark("gsm8k_cot_zeroshot") == ("gsm8k", None)
    assert task_benchmark("minerva_math500") == ("math500", None)
    assert task_benchmark("hendrycks_math500") == ("math500", None)
    assert task_benchmark("minerva_math_counting_and_prob") == ("math", "Counting & Probability")
    assert task_benchmark("hendrycks_math_precalc") == ("math", "Precalculus")
    assert task_benchmark("gsm8k_platinum") is None and task_benchmark("arc_easy") is None


def test_fixture_is_lm_eval_output():
    files = _sample_files()
    assert {f.name.split("_20")[0] for f in files} >= {"samples_minerva_math500", "samples_minerva_math_algebra", "samples_gsm8k_cot_zeroshot"}
    for f in files:
        docs = read_samples(f)
        assert docs and all(isinstance(d["resps"], list) for d in docs)
        assert len({d["doc_id"] for d in docs}) == len(docs)  # one record per document, whatever the filters


def test_import_maps_ids_regrades_and_is_idempotent(shared_data, tmp_path):
    store = Store(tmp_path / "i.duckdb")
    results = import_lm_eval(store, FIXTURES)
    by_task = {r.task: r for r in results}
    assert set(by_task) == {"minerva_math500", "minerva_math_algebra", "gsm8k_cot_zeroshot"}
    for r in results:
        assert r.n_problems > 0 and r.n_mapped == r.n_problems, r  # every document found in qmr's data by text
    math500 = {p.problem_id: p for p in load_benchmark("math500")}
    gsm8k = {p.problem_id: p for p in load_benchmark("gsm8k")}
    ids = {r[0]: r[1] for r in store.query("SELECT problem_id, run_id FROM samples")}
    assert all(pid in math500 for pid, run in ids.items() if run == by_task["minerva_math500"].run_id)
    gsm_ids = sorted(pid for pid, run in ids.items() if run == by_task["gsm8k_cot_zeroshot"].run_id)
    assert gsm_ids and all(pid in gsm8k for pid in gsm_ids)
    # lm-eval's doc_id is the row of the test split, which is qmr's id for GSM8K
    docs = read_samples(next(f for f in _sample_files() if "gsm8k" in f.name))
    assert gsm_ids == sorted(f"gsm8k/test/{d['doc_id']}" for d in docs)
    # samples: lm-eval's exact prompt and raw output, regraded by qmr against qmr's gold answer
    rows = store.query_dicts(
        "SELECT s.*, p.answer, p.kind FROM samples s JOIN problems p USING (problem_id) ORDER BY s.run_id, s.problem_id"
    )
    assert rows and all(r["prompt"] and r["grader_version"] and r["finish_reason"] is None for r in rows)
    for r in rows:
        assert r["correct"] == grade(r["answer"], r["output"], r["kind"]).correct
        n = store.query("SELECT count(*) FROM steps WHERE run_id = ? AND problem_id = ?", [r["run_id"], r["problem_id"]])[0][0]
        assert n == r["n_steps"]
    math_doc = read_samples(next(f for f in _sample_files() if "minerva_math500" in f.name))[0]
    stored = next(r for r in rows if r["run_id"] == by_task["minerva_math500"].run_id and r["output"] == math_doc["resps"][0][0])
    assert stored["prompt"] == math_doc["arguments"]["gen_args_0"]["arg_0"]
    # runs look like qmr runs: they join their model, carry lm-eval's own metrics, and resume as the same runs
    joined = store.query("SELECT count(*) FROM runs r JOIN models m USING (model_id) WHERE r.engine = 'lm-eval' AND r.status = 'done'")
    assert joined[0][0] == 3
    engine = json.loads(store.query("SELECT engine_json FROM runs WHERE run_id = ?", [by_task["minerva_math500"].run_id])[0][0])
    assert engine["task"] == "minerva_math500" and engine["lm_eval_version"] == "0.4.13" and engine["lm_eval_results"]
    n_before = store.query("SELECT count(*) FROM samples")[0][0]
    again = import_lm_eval(store, FIXTURES)
    assert sorted(r.run_id for r in again) == sorted(r.run_id for r in results)
    assert store.query("SELECT count(*) FROM samples")[0][0] == n_before
    assert store.query("SELECT count(*) FROM runs")[0][0] == 3


def test_imported_runs_compare_with_native_runs_and_open_in_the_browser(shared_data, tiny_model, tmp_path):
    from qmr_core.browse.runs import comparison_for_run, list_runs
    from qmr_core.browse.trace import load_trace
    from qmr_core.api import evaluate
    from qmr_core.compare import compare_runs, infer_base_run
    from qmr_core.engines.base import Decoding

    store = Store(tmp_path / "c.duckdb")
    fp = import_lm_eval(store, FIXTURES, ModelOverride(model_id="smol-fp"))
    q4 = import_lm_eval(store, FIXTURES, ModelOverride(model_id="smol-q4", base_model_id="smol-fp", method="awq", bits=4, group_size=128))
    fp_run = next(r.run_id for r in fp if r.task == "minerva_math500")
    q4_run = next(r.run_id for r in q4 if r.task == "minerva_math500")
    assert infer_base_run(store, q4_run) == fp_run
    summary = compare_runs(store, fp_run, q4_run, write=True)
    n = store.query("SELECT count(*) FROM samples WHERE run_id = ?", [fp_run])[0][0]
    assert summary.n == n and summary.lost == [] and summary.abs_drop == 0  # the same outputs: nothing lost
    # a native qmr run on the same problems pairs with the imported one problem by problem
    pids = [r[0] for r in store.query("SELECT problem_id FROM samples WHERE run_id = ?", [fp_run])]
    problems = select(load_benchmark("math500"), ids=pids)
    native = evaluate(store, str(tiny_model), "math500", problems=problems, decoding=Decoding(max_new_tokens=4),
                      batch_size=4, device="cpu").run_id
    cross = compare_runs(store, fp_run, native, write=False)
    assert cross.n == len(pids)
    # the TUI's browse layer sees the pair like any other
    runs = list_runs(store)
    comp = comparison_for_run(runs, q4_run)
    assert comp.base_run_id == fp_run and comp.quant_run_ids == (q4_run,)
    detail = load_trace(store, fp_run, q4_run, pids[0])
    assert detail.base.steps == detail.quant.steps and detail.problem


def test_report_shows_imported_quantized_runs(shared_data, tmp_path):
    from qmr_core.report.paper import build_report

    store = Store(tmp_path / "r.duckdb")
    import_lm_eval(store, FIXTURES, ModelOverride(model_id="smol-fp"))
    import_lm_eval(store, FIXTURES, ModelOverride(model_id="smol-q4", base_model_id="smol-fp", method="awq", bits=4))
    acc = build_report(store)[1][0]
    quant_rows = [r for r in acc.rows if r[1] == "awq w4"]
    assert len(quant_rows) == 3 and all(r[acc.columns.index("drop (pp)")] == 0 for r in quant_rows)


def test_mapping_without_qmr_data():
    gsm = {"question": "Tom has 3 apples and buys 4 more. How many now?", "answer": "3 + 4 = 7\n#### 7"}
    p, how = map_problem(gsm, 41, "gsm8k", None, None)
    assert (p.problem_id, how, p.answer, p.kind) == ("gsm8k/test/41", "doc_id", "7", "gsm8k")
    doc = {"problem": "Compute $2+2$.", "solution": "We get $\\boxed{4}$.", "answer": "4"}
    p, how = map_problem(doc, 0, "math", "Algebra", None)
    assert how == "hash" and p.problem_id.startswith("math/lm-eval/") and p.answer == "4" and p.subject == "Algebra"
    again, _ = map_problem(dict(doc), 7, "math", "Algebra", None)
    assert again.problem_id == p.problem_id  # stable: the same problem text, the same id
    with pytest.raises(QmrError, match="no .problem. or .question. text"):
        map_problem({"solution": "x"}, 1, "math", None, None)


def test_cli_import_and_errors(shared_data, tmp_path):
    db = tmp_path / "cli.duckdb"
    res = runner.invoke(app, ["import", "lm-eval", str(FIXTURES), "--db", str(db)])
    assert res.exit_code == 0, res.output
    run_ids = [r[0] for r in Store(db, create=False).query("SELECT run_id FROM runs")]
    assert len(run_ids) == 3 and all(r in res.output for r in run_ids)
    missing = runner.invoke(app, ["import", "lm-eval", str(tmp_path / "nothing"), "--db", str(db)])
    assert missing.exit_code == 1 and missing.output.startswith("error:") and "does not exist" in missing.output
    empty = tmp_path / "empty"
    empty.mkdir()
    none = runner.invoke(app, ["import", "lm-eval", str(empty), "--db", str(db)])
    assert none.exit_code == 1 and "--log_samples" in none.output
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    src = _sample_files()[0]
    shutil.copy(src, lonely / src.name)
    no_results = runner.invoke(app, ["import", "lm-eval", str(lonely), "--db", str(db)])
    assert no_results.exit_code == 1 and "results_" in no_results.output
    bad = runner.invoke(app, ["import", "lm-eval", str(FIXTURES), "--base-model", "x", "--db", str(db)])
    assert bad.exit_code == 1 and "--method" in bad.output
    help_ = runner.invoke(app, ["import", "lm-eval", "--help"])
    assert help_.exit_code == 0 and "Example:" in help_.output


def test_regrade_disagreeing_with_lm_eval_is_counted(shared_data, tmp_path):
    """A copy where document 0's generation is replaced by a right answer lm-eval's record still marks wrong."""
    folder = tmp_path / "edited"
    shutil.copytree(FIXTURES, folder)
    path = next(folder.rglob("samples_gsm8k_cot_zeroshot_*.jsonl"))
    lines = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["doc_id"] == 0:
            assert rec["exact_match"] == 0
            rec["resps"] = [["She sells 16 - 3 - 4 = 9 eggs for $2 each, 9 * 2 = 18. The answer is 18."]]
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    store = Store(tmp_path / "d.duckdb")
    result = next(r for r in import_lm_eval(store, folder) if r.task == "gsm8k_cot_zeroshot")
    assert result.n_disagree == 1 and result.qmr_score == pytest.approx(1 / result.n_samples)
    assert store.query("SELECT correct FROM samples WHERE problem_id = 'gsm8k/test/0'") == [(True,)]
