"""GPTQ / AWQ-format checkpoints: made by GPTQModel here, and by AutoGPTQ / AutoAWQ elsewhere (fixtures).

The fixtures in tests/fixtures were made in throwaway environments (see make_autogptq.py and
make_autoawq.py there): a 2-layer random Llama (hidden 128), 4-bit, group 64. The reference
unpackers below read the packed tensors straight from the safetensors file, independently of
GPTQModel's kernels, so the comparison checks that qmr loads these formats correctly.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch

from qmr_core.engines.base import Decoding
from qmr_core.engines.hf import HFEngine
from qmr_core.models.registry import resolve_model
from qmr_core.quant.loading import prepare_checkpoint, quant_method, read_quant_config
from tests.helpers.quant_refs import read_tensors, reference_awq, reference_gptq

FIXTURES = Path(__file__).parents[1] / "fixtures"
AUTOGPTQ = FIXTURES / "autogptq-tiny-w4g64"
AUTOAWQ = FIXTURES / "autoawq-tiny-w4g64"
try:
    import gptqmodel  # noqa: F401
    import optimum  # noqa: F401

    HAS_GPTQMODEL = True
except ImportError:
    HAS_GPTQMODEL = False
needs_gptqmodel = pytest.mark.skipif(not HAS_GPTQMODEL, reason="gptqmodel/optimum not installed (the 'quant' extra)")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_autogptq_layout_gets_a_view_and_autoawq_loads_as_is(tmp_path, monkeypatch):
    monkeypatch.setenv("QMR_CACHE_DIR", str(tmp_path / "cache"))
    assert quant_method(AUTOGPTQ) == "gptq" and quant_method(AUTOAWQ) == "awq"
    view = prepare_checkpoint(AUTOGPTQ)
    assert view != AUTOGPTQ.resolve() and (view / "model.safetensors").resolve() == (AUTOGPTQ / "gptq_model-4bit-64g.safetensors").resolve()
    assert json.loads((view / "config.json").read_text())["quantization_config"]["group_size"] == 64
    assert prepare_checkpoint(AUTOGPTQ) == view  # cached
    assert prepare_checkpoint(AUTOAWQ) == AUTOAWQ.resolve()
    # recipe only in quantize_config.json (older AutoGPTQ): the view carries it into config.json
    old = tmp_path / "old-autogptq"
    shutil.copytree(AUTOGPTQ, old)
    config = json.loads((old / "config.json").read_text())
    del config["quantization_config"]
    (old / "config.json").write_text(json.dumps(config))
    assert read_quant_config(old)["bits"] == 4
    assert json.loads((prepare_checkpoint(old) / "config.json").read_text())["quantization_config"]["quant_method"] == "gptq"


@needs_gptqmodel
@pytest.mark.parametrize("folder, reference", [(AUTOGPTQ, reference_gptq), (AUTOAWQ, reference_awq)])
def test_foreign_checkpoints_dequantize_exactly_and_generate(folder, reference, tmp_path, monkeypatch):
    from qmr_core.quant.gptqmodel_backend import dequantized_weights

    monkeypatch.setenv("QMR_CACHE_DIR", str(tmp_path / "cache"))
    tensors = read_tensors(folder)
    loaded = dequantized_weights(prepare_checkpoint(folder))
    assert len(loaded) == 14
    for name, weight in loaded.items():
        expected = reference(tensors, name, 64)
        # the int4 kernel computes in bf16: allow a quarter of one quantization step (a wrong nibble
        # order or zero-point offset is off by at least one whole step)
        step = tensors[name + ".scales"].float()[torch.arange(weight.shape[1]) // 64].t()
        assert ((weight - expected).abs() <= 0.25 * step).all(), name
    engine = HFEngine(resolve_model(str(folder)), device="cpu")
    gen = engine.generate([[{"role": "user", "content": "What is 3 + 4?"}]], Decoding(max_new_tokens=4))[0]
    assert gen.n_tokens >= 1


@needs_gptqmodel
def test_rtn_suffix_on_a_quantized_checkpoint_is_refused(tmp_path, monkeypatch):
    from qmr_core.errors import QmrError

    monkeypatch.setenv("QMR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(QmrError, match="already quantized"):
        HFEngine(resolve_model(f"{AUTOAWQ}@rtn-w4g64"), device="cpu")
