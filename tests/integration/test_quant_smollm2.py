"""The real SmolLM2-135M through `qmr quantize` and `qmr eval` (RTN: the fastest method, ~10 s)."""

import json

import pytest
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.models.registry import resolve_model
from qmr_core.store import Store
from tests.conftest import needs_smollm2

pytest.importorskip("llmcompressor")
pytestmark = [pytest.mark.slow, needs_smollm2]
runner = CliRunner()


def test_smollm2_rtn_checkpoint_evaluates(tmp_path):
    db, out = tmp_path / "s.duckdb", tmp_path / "smollm2-rtn-w4"
    result = runner.invoke(app, ["quantize", "--model", "smollm2-135m", "--method", "rtn", "--bits", "4",
                                 "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    row = Store(db).query_dicts("SELECT * FROM models WHERE method = 'rtn'")[0]
    # 576 is not a multiple of 128: the automatic group size is 64
    assert (row["group_size"], row["base_model_id"], row["model_id"]) == (64, "smollm2-135m", resolve_model(str(out)).model_id)
    errors = json.loads(row["layer_errors_json"])
    assert len(errors) == 30 * 7 and all(0.01 < e < 0.3 for e in errors.values())
    assert 60 * 2**20 < row["size_bytes"] < 200 * 2**20  # packed int4 + float embeddings (538 MB in fp32)
    result = runner.invoke(app, ["eval", "--model", str(out), "--benchmark", "sample", "--limit", "1", "-t", "16", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert Store(db).query("SELECT count(*) FROM samples s JOIN runs r USING (run_id) WHERE r.model_id = ?", [row["model_id"]])[0][0] == 1
