"""llm-compressor backend on the tiny random Llama: all four methods, checkpoints, loading, the CLI."""

import json

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.engines.hf import load_model_and_tokenizer
from qmr_core.models.registry import resolve_model
from qmr_core.quant.api import quantize, read_recipe
from qmr_core.quant.rtn import RTNSpec, fake_quantize
from qmr_core.quant.spec import QuantSpec, default_spec
from qmr_core.store import Store
from tests.helpers.quant_refs import float_linear_weights

pytest.importorskip("llmcompressor")

runner = CliRunner()
LINEARS = 14  # 2 layers x (q, k, v, o, gate, up, down); lm_head stays float


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _loaded_weights(folder) -> dict[str, torch.Tensor]:
    model, _, _ = load_model_and_tokenizer(resolve_model(str(folder)))
    return {n: m.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


@pytest.mark.parametrize("bits, group", [(4, 64), (3, 128), (8, -1)])
def test_builtin_rtn_matches_llmcompressor_rtn(tiny_model, tmp_path, bits, group):
    """qmr's in-place RTN and llm-compressor's RTN checkpoint give the same dequantized weights."""
    spec = QuantSpec("rtn", bits, group)
    qm = quantize(str(tiny_model), spec, tmp_path / "ckpt")
    source = float_linear_weights(tiny_model)
    loaded = _loaded_weights(qm.out_dir)
    compared = 0
    for name, weight in loaded.items():
        if name == "lm_head":
            assert torch.equal(weight, source[name])
            continue
        ours = fake_quantize(source[name], RTNSpec(bits, group, True))
        assert torch.allclose(weight, ours, rtol=1e-5, atol=1e-6), name
        compared += 1
    assert compared == LINEARS
    # and the recorded per-layer error is the error of exactly those weights
    name = "model.layers.0.mlp.down_proj"
    expected = ((source[name] - loaded[name]).norm() / source[name].norm()).item()
    assert qm.layer_errors[name] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "method, bits, packed_dtype",
    [("gptq", 4, "I32"), ("awq", 4, "I32"), ("smoothquant", 8, "I8")],
)
def test_calibrated_methods_write_packed_checkpoints_that_load(tiny_model, tmp_path, method, bits, packed_dtype):
    spec = default_spec(method, bits, group_size=-1 if method == "smoothquant" else 64, calib="text", n_samples=8, seq_len=64)
    qm = quantize(str(tiny_model), spec, tmp_path / "ckpt")
    config = json.loads((qm.out_dir / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors"
    weights = config["config_groups"]["group_0"]["weights"]
    assert weights["num_bits"] == bits and weights["symmetric"] == (method != "awq")
    assert bool(config["config_groups"]["group_0"]["input_activations"]) == (method == "smoothquant")
    with safe_open(str(qm.out_dir / "model.safetensors"), "pt") as fh:
        key = "model.layers.0.self_attn.q_proj.weight_packed" if bits == 4 else "model.layers.0.self_attn.q_proj.weight"
        assert fh.get_slice(key).get_dtype() == packed_dtype
        if method == "awq":
            assert "model.layers.0.self_attn.q_proj.weight_zero_point" in fh.keys()
    assert len(qm.layer_errors) == LINEARS
    assert all(0 < e < (0.05 if bits == 8 else 0.5) for e in qm.layer_errors.values())
    recipe = read_recipe(qm.out_dir)
    assert recipe["spec"] == spec.as_dict() and recipe["calibration"]["source"] == "text"
    assert recipe["calibration"]["n_used"] == 8 and recipe["calibration"]["n_tokens"] <= 8 * 64
    assert qm.weights_bytes < qm.size_bytes and qm.quant_seconds > 0 and qm.peak_rss_bytes > 100 * 2**20

    # qmr's fast load (weights dequantized once) gives the same logits as transformers' default load
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(qm.out_dir, dtype=torch.float32)
    fast, _, _ = load_model_and_tokenizer(resolve_model(str(qm.out_dir)))
    ids = torch.randint(0, 500, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(fast(ids).logits, reference(ids).logits, atol=1e-5)


def test_quantize_refuses_bad_inputs(tiny_model, tmp_path):
    from qmr_core.errors import QmrError

    out = tmp_path / "busy"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(QmrError, match="not empty"):
        quantize(str(tiny_model), QuantSpec("rtn", 4), out)
    with pytest.raises(QmrError, match="does not divide the layer widths"):
        quantize(str(tiny_model), QuantSpec("rtn", 4, 96), tmp_path / "a")
    with pytest.raises(QmrError, match="built-in @rtn suffix"):
        quantize(f"{tiny_model}@rtn-w4g64", QuantSpec("rtn", 4), tmp_path / "b")
    done = quantize(str(tiny_model), QuantSpec("rtn", 4, 64), tmp_path / "c")
    with pytest.raises(QmrError, match="already quantized"):
        quantize(str(done.out_dir), QuantSpec("rtn", 4), tmp_path / "d")
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary folder is left behind


def test_cli_quantize_records_the_recipe_and_eval_joins_it(tiny_model, tmp_path):
    db = tmp_path / "q.duckdb"
    out = tmp_path / "tiny-gptq"
    result = runner.invoke(app, ["quantize", "--model", str(tiny_model), "--method", "gptq", "--bits", "4",
                                 "--calib", "text", "--n-samples", "8", "--seq-len", "64", "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "gptq-w4g128 via llmcompressor" in result.output  # automatic group: 128 divides 128 and 256
    assert (out / "quantize.log").is_file()
    store = Store(db)
    row = store.query_dicts("SELECT * FROM models WHERE method = 'gptq'")[0]
    assert row["model_id"] == resolve_model(str(out)).model_id
    assert row["base_model_id"] == resolve_model(str(tiny_model)).model_id
    assert (row["bits"], row["group_size"], row["act_bits"], row["is_symmetric"], row["backend"]) == (4, 128, None, True, "llmcompressor")
    assert row["backend_version"].startswith("llmcompressor 0.")
    assert json.loads(row["spec_json"])["calib"] == "text"
    assert json.loads(row["calib_json"])["n_used"] == 8
    assert len(json.loads(row["layer_errors_json"])) == LINEARS
    assert row["size_bytes"] > 0 and row["quant_seconds"] > 0 and row["peak_rss_bytes"] > 0 and row["n_params"] > 0
    assert store.query("SELECT count(*) FROM models WHERE model_id = ?", [row["base_model_id"]])[0][0] == 1

    result = runner.invoke(app, ["eval", "--model", str(out), "--benchmark", "sample", "--limit", "2", "-t", "8", "--db", str(db)])
    assert result.exit_code == 0, result.output
    joined = store.query("SELECT m.method, m.bits FROM runs r JOIN models m USING (model_id)")
    assert joined == [("gptq", 4)]

    bad = runner.invoke(app, ["quantize", "--model", str(tiny_model), "--method", "smoothquant", "--bits", "2",
                              "--out", str(tmp_path / "x"), "--db", str(db)])
    assert bad.exit_code == 1
    assert "smoothquant is W8A8" in bad.output and "Traceback" not in bad.output


def test_sweep_fills_the_grid_and_resumes(tiny_model, tmp_path):
    db = tmp_path / "s.duckdb"
    args = ["sweep", "--model", str(tiny_model), "--methods", "rtn,smoothquant", "--bits", "4,8",
            "--benchmark", "sample", "--limit", "2", "-t", "8", "--calib", "text", "--n-samples", "4", "--seq-len", "32",
            "--out-root", str(tmp_path / "ckpts"), "--db", str(db)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "n/a" in first.output  # smoothquant w4
    grid = first.output[first.output.index("method"):]
    assert "rtn" in grid and "smoothquant" in grid
    store = Store(db)
    assert store.query("SELECT count(*) FROM runs WHERE status = 'done'")[0][0] == 4  # base + rtn w4, w8 + sq w8
    assert sorted(r[0] for r in store.query("SELECT method FROM models")) == ["none", "rtn", "rtn", "smoothquant"]
    n_samples = store.query("SELECT count(*) FROM samples")[0][0]
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert second.output.count("not quantized again") == 3
    assert store.query("SELECT count(*) FROM samples")[0][0] == n_samples
