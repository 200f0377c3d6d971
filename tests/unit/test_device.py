"""The device/dtype rule every heavy command follows, tested for machines with and without a GPU."""

import pytest
import torch
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.device import (
    Machine,
    cpu_has_bf16,
    pick_device,
    pick_dtype,
    pick_train_placement,
)
from qmr_core.engines import engine_key
from qmr_core.errors import QmrError

GPU = Machine(cuda=True, cuda_bf16=True, cpu_bf16=False)
OLD_GPU = Machine(cuda=True, cuda_bf16=False, cpu_bf16=False)
CPU_ONLY = Machine(cuda=False, cuda_bf16=False, cpu_bf16=False)
CPU_BF16 = Machine(cuda=False, cuda_bf16=False, cpu_bf16=True)


def test_auto_uses_the_gpu_when_present():
    assert pick_device("auto", GPU) == "cuda"
    assert pick_device("auto", CPU_ONLY) == "cpu"
    assert pick_dtype("cuda", "auto", GPU) == torch.bfloat16
    assert pick_dtype("cpu", "auto", CPU_BF16) == torch.float32  # fp32 stays the CPU default
    assert pick_device("cpu", GPU) == "cpu"
    with pytest.raises(QmrError, match="CUDA is not available"):
        pick_device("cuda", CPU_ONLY)


def test_bf16_on_cpu_is_opt_in_and_needs_native_support():
    assert pick_dtype("cpu", "bf16", CPU_BF16) == torch.bfloat16
    assert pick_dtype("cpu", "bfloat16", CPU_BF16) == torch.bfloat16
    with pytest.raises(QmrError, match="AVX512-BF16 or AMX"):
        pick_dtype("cpu", "bf16", CPU_ONLY)
    assert pick_dtype("cuda", "bf16", GPU) == torch.bfloat16
    with pytest.raises(QmrError, match="unknown dtype"):
        pick_dtype("cpu", "int3", CPU_BF16)


def test_cpu_bf16_flags():
    assert cpu_has_bf16(frozenset({"avx512f", "avx512_bf16"}))
    assert cpu_has_bf16(frozenset({"amx_tile", "amx_bf16"}))
    assert not cpu_has_bf16(frozenset({"avx2", "avx512f", "avx512bw"}))


def test_recovery_training_goes_to_the_gpu():
    on_gpu = pick_train_placement("auto", GPU)
    assert (on_gpu.device, on_gpu.mixed_precision, on_gpu.use_cpu) == ("cuda", "bf16", False)
    assert pick_train_placement("auto", OLD_GPU).mixed_precision == "fp16"
    on_cpu = pick_train_placement("auto", CPU_ONLY)
    assert (on_cpu.device, on_cpu.mixed_precision, on_cpu.use_cpu) == ("cpu", None, True)
    assert pick_train_placement("cpu", GPU).use_cpu
    with pytest.raises(QmrError):
        pick_train_placement("mps", GPU)


def test_dtype_is_part_of_the_run_identity():
    if not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16")
    assert engine_key("hf", "cpu", "bf16") != engine_key("hf", "cpu", "auto") == engine_key("hf", "cpu", "float32")


def test_eval_refuses_bf16_on_a_cpu_without_it(monkeypatch, tmp_path):
    from qmr_core import device

    monkeypatch.setattr(device, "cpu_has_bf16", lambda flags=None: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(app, ["eval", "--model", "smollm2-135m", "--benchmark", "sample", "--limit", "1",
                                      "--dtype", "bf16", "--db", str(tmp_path / "s.duckdb")])
    text = result.output.strip()
    assert result.exit_code == 1 and text.startswith("error:") and "AVX512-BF16" in text, text
    assert len(text.splitlines()) == 1
