"""Integration on the real SmolLM2-135M GGUF: a few problems, small budgets."""

import duckdb
import pytest
from typer.testing import CliRunner

from qmr_core.cli import app
from tests.conftest import needs_smollm2

pytestmark = [pytest.mark.slow, needs_smollm2]
runner = CliRunner()


def test_eval_on_shared_math500_then_resume_generates_nothing(shared_data, tmp_path):
    db = tmp_path / "m.duckdb"
    args = ["eval", "--model", "smollm2-135m", "--benchmark", str(shared_data / "math500.jsonl"),
            "--limit", "3", "--batch-size", "3", "--max-new-tokens", "24", "--db", str(db)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT problem_id, output, grader_version, n_tokens FROM samples").fetchall()
    con.close()
    assert len(rows) == 3 and all(r[0].startswith("math500/test/") and r[2] and r[3] > 0 for r in rows)
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "nothing to generate" in second.output


def test_demo_subset_writes_three_runs(tmp_path):
    db = tmp_path / "demo.duckdb"
    result = runner.invoke(app, ["demo", "--db", str(db), "--limit", "2", "--max-new-tokens", "16"])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    models = con.execute(
        "SELECT m.model_id, m.method, m.bits, count(*) FROM runs JOIN models m USING (model_id) "
        "JOIN samples USING (run_id) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    n_pairs = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
    w3 = "(SELECT run_id FROM runs WHERE model_id = 'smollm2-135m@rtn-w3g64')"
    diagnosed = {r[0] for r in con.execute(f"SELECT DISTINCT problem_id FROM diagnoses WHERE run_id = {w3}").fetchall()}
    lost = {r[0] for r in con.execute(f"SELECT problem_id FROM pairs WHERE quant_run_id = {w3} AND outcome = 'lost'").fetchall()}
    con.close()
    assert n_pairs == 4  # 2 problems x 2 quantized runs
    assert diagnosed == lost  # the demo diagnoses exactly the lost problems
    assert "qmr tui --db" in result.output
    assert [(m[0], m[1], m[2], m[3]) for m in models] == [
        ("smollm2-135m", "none", None, 2),
        ("smollm2-135m@rtn-w3g64", "rtn", 3, 2),
        ("smollm2-135m@rtn-w4g64", "rtn", 4, 2),
    ]


def test_sensitivity_replay_holds_on_smollm2(tmp_path):
    """The cached-layer replay reproduces the real model's logits, and 3-bit RTN of every layer costs NLL."""
    import json

    from qmr_core.sensitivity import layers as sens
    from qmr_core.sensitivity.quantizers import RTNQuantizer
    from qmr_core.sensitivity.traces import Trace, encode_traces
    from qmr_core.engines.hf import HFEngine
    from qmr_core.models.registry import resolve_model
    from qmr_core.paths import REPO_DIR
    from qmr_core.benchmarks.prompts import get_template
    from qmr_core.quant.rtn import RTNSpec

    engine = HFEngine(resolve_model("smollm2-135m"), device="cpu")
    rows = [json.loads(line) for line in (REPO_DIR / "data" / "sample_math.jsonl").read_text().splitlines()[:2]]
    traces = [Trace(r["unique_id"], engine.render(get_template("steps").render(r["problem"])), r["solution"]) for r in rows]
    enc = encode_traces(engine.tokenizer, traces, 40)
    layout = sens.model_layout(engine.model)
    meter = sens.Sensitivity(engine.model, layout, enc, RTNQuantizer(RTNSpec(3, 64)))
    assert len(layout.layers) == 30 and layout.kinds[0] == "q_proj"
    assert meter.replay, f"replay differs from the forward pass by {meter.replay_diff}"
    whole = meter.measure(sens.Config(sens.EVERY_LAYER, sens.ALL))
    one = meter.measure(sens.Config(29, "q_proj"))
    assert whole.delta_nll > 0 and whole.out_err > one.out_err > 0
    assert abs(one.delta_nll) < whole.delta_nll
