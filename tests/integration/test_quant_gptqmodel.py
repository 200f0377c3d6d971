"""GPTQModel backend on the tiny random Llama: GPTQ / AWQ checkpoints, their errors, loading for eval."""

import json

import pytest
import torch

from qmr_core.engines.base import Decoding
from qmr_core.engines.hf import HFEngine
from qmr_core.models.registry import resolve_model
from qmr_core.quant.api import quantize
from qmr_core.quant.spec import QuantSpec

pytest.importorskip("gptqmodel")
pytest.importorskip("optimum")
from tests.helpers.quant_refs import float_linear_weights, read_tensors, reference_awq, reference_gptq  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("method, fmt, reference", [("gptq", "gptq", reference_gptq), ("awq", "awq", reference_awq)])
def test_gptqmodel_checkpoint_round_trip(tiny_model, tmp_path, method, fmt, reference):
    spec = QuantSpec(method, 4, 64, backend="gptqmodel", calib="text", n_samples=8, seq_len=64)
    qm = quantize(str(tiny_model), spec, tmp_path / "ckpt")
    assert qm.checkpoint_format == fmt and qm.backend_version.startswith("gptqmodel 7.")
    config = json.loads((qm.out_dir / "config.json").read_text())["quantization_config"]
    assert (config["quant_method"], config["bits"], config["group_size"]) == (fmt, 4, 64)
    tensors = read_tensors(qm.out_dir)
    source = float_linear_weights(tiny_model)
    if method == "gptq":
        assert len(qm.layer_errors) == 14
        name = "model.layers.1.mlp.down_proj"
        expected = reference(tensors, name, 64)  # independent unpacking of the packed tensors
        err = ((source[name] - expected).norm() / source[name].norm()).item()
        assert qm.layer_errors[name] == pytest.approx(err, rel=0.02)
    else:  # only modules whose AWQ smoothing is exactly recoverable are scored
        assert sorted({n.rsplit(".", 1)[-1] for n in qm.layer_errors}) == ["gate_proj", "k_proj", "q_proj"]
    assert all(0.01 < e < 0.3 for e in qm.layer_errors.values())
    assert qm.notes["library_losses"]
    engine = HFEngine(resolve_model(str(qm.out_dir)), device="cpu")
    assert "Linear" in type(engine.model.model.layers[0].self_attn.q_proj).__name__
    assert type(engine.model.model.layers[0].self_attn.q_proj) is not torch.nn.Linear  # a packed int4 kernel
    gen = engine.generate([[{"role": "user", "content": "What is 3 + 4?"}]], Decoding(max_new_tokens=4))[0]
    assert gen.n_tokens >= 1
