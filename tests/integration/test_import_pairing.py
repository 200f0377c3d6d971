"""Runs made by lm-eval (a custom-named task) and by Inspect pair with a native qmr run: one model id, no false warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import needs_smollm2
from qmr_core.cli import app
from qmr_core.compare import compare_runs
from qmr_core.importers.inspect_log import import_inspect
from qmr_core.importers.lm_eval import BenchmarkChoice, import_lm_eval
from qmr_core.store import Store

FIXTURES = Path(__file__).parents[1] / "fixtures"
CUSTOM = FIXTURES / "lm_eval_custom"
INSPECT_LOG = next((FIXTURES / "inspect").glob("*.eval"))
runner = CliRunner()


@needs_smollm2
def test_custom_named_task_imports_with_benchmark(shared_data, tmp_path):
    db = tmp_path / "c.duckdb"
    refused = runner.invoke(app, ["import", "lm-eval", str(CUSTOM), "--db", str(db)])
    assert refused.exit_code == 1 and "--benchmark gsm8k" in refused.output and "gsm8k_local" in refused.output
    bad = runner.invoke(app, ["import", "lm-eval", str(CUSTOM), "--task", "gsm8k_local", "--db", str(db)])
    assert bad.exit_code == 1 and "TASK=BENCHMARK" in bad.output
    unknown = runner.invoke(app, ["import", "lm-eval", str(CUSTOM), "--benchmark", "gsm9k", "--db", str(db)])
    assert unknown.exit_code == 1 and unknown.output.startswith("error:") and "gsm9k" in unknown.output
    store = Store(tmp_path / "s.duckdb")
    (result,) = import_lm_eval(store, CUSTOM, choice=BenchmarkChoice.parse(None, ["gsm8k_local=gsm8k"]))
    assert (result.task, result.benchmark, result.model_id, result.n_samples, result.n_mapped) == (
        "gsm8k_local", "gsm8k", "smollm2-135m", 6, 6)
    ids = [r[0] for r in store.query("SELECT problem_id FROM samples ORDER BY problem_id")]
    assert ids == [f"gsm8k/test/{i}" for i in range(6)]
    # lm-eval's own per-sample verdicts (its "boxed" filter) sit beside qmr's regrade
    verdicts = store.query("SELECT DISTINCT metric, source FROM external_verdicts")
    assert verdicts == [("exact_match,boxed", "lm-eval")]
    assert result.tool_metric == "exact_match,boxed" and result.n_disagree == 0


@needs_smollm2
@pytest.mark.slow
def test_imported_runs_pair_with_a_native_run_without_false_warnings(shared_data, tmp_path):
    """Same model, prompt and greedy budget as the tools used: qmr compare pairs them with no warning."""
    db = tmp_path / "p.duckdb"
    res = runner.invoke(app, ["eval", "--model", "smollm2-135m", "--benchmark", "gsm8k", "--prompt", "plain", "--limit", "2",
                              "--max-new-tokens", "96", "--db", str(db)])
    assert res.exit_code == 0, res.output
    store = Store(db)
    (native,) = [r[0] for r in store.query("SELECT run_id FROM runs")]
    (lm_eval,) = import_lm_eval(store, CUSTOM, choice=BenchmarkChoice.parse("gsm8k", None))
    inspect = import_inspect(store, INSPECT_LOG, benchmark="gsm8k")
    assert {lm_eval.model_id, inspect.model_id} == {"smollm2-135m"}  # one model id for the same weights
    for imported in (lm_eval.run_id, inspect.run_id):
        summary = compare_runs(store, native, imported, write=False)
        assert summary.n == 2 and summary.warnings == []
        assert any("rendered prompts of all 2" in n for n in summary.notes)
    # the stop list lm-eval records is a note, not a decoding warning
    notes = compare_runs(store, native, lm_eval.run_id, write=False).notes
    assert any("stop" in n for n in notes)
