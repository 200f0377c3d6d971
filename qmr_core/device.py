"""Where heavy work runs and in which dtype: one rule for eval, judges, teacher forcing, sensitivity,
quantization calibration and recovery training.

- device `auto`: CUDA when present, else CPU.
- dtype `auto`: bf16 on a GPU, fp32 on a CPU, for exactness.
- bf16 on a CPU is opt-in and needs native bf16 arithmetic (AVX512-BF16 or AMX); without it torch
  emulates bf16 and is slower than fp32, so it is refused.

Both facts about the machine (CUDA present, CPU bf16) are parameters, so the rule is tested on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from qmr_core.errors import QmrError

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in CPU_BF16_FLAGS)


@dataclass(frozen=True)
class Machine:
    cuda: bool
    cuda_bf16: bool
    cpu_bf16: bool

    @classmethod
    def this(cls) -> Machine:
        cuda = torch.cuda.is_available()
        return cls(cuda=cuda, cuda_bf16=cuda and torch.cuda.is_bf16_supported(), cpu_bf16=cpu_has_bf16())


def pick_device(device: str = "auto", machine: Machine | None = None) -> str:
    machine = machine or Machine.this()
    if device == "auto":
        return "cuda" if machine.cuda else "cpu"
    if device.startswith("cuda") and not machine.cuda:
        raise QmrError(f"device {device} requested but CUDA is not available")
    return device


def pick_dtype(device: str, dtype: str = "auto", machine: Machine | None = None) -> torch.dtype:
    on_gpu = device.startswith("cuda")
    if dtype == "auto":
        return torch.bfloat16 if on_gpu else torch.float32
    try:
        chosen = DTYPES[dtype]
    except KeyError:
        raise QmrError(f"unknown dtype '{dtype}' (float32, bfloat16, float16, auto)") from None
    if chosen == torch.bfloat16 and device == "cpu" and not (machine or Machine.this()).cpu_bf16:
        raise QmrError("--dtype bfloat16 on CPU needs AVX512-BF16 or AMX, which this CPU lacks; use float32")
    return chosen


@dataclass(frozen=True)
class TrainPlacement:
    """Recovery training: LoRA weights and the frozen model stay fp32; a GPU adds bf16/fp16 autocast."""

    device: str
    mixed_precision: str | None  # "bf16" | "fp16" | None

    @property
    def use_cpu(self) -> bool:
        return self.device == "cpu"


def pick_train_placement(device: str = "auto", machine: Machine | None = None) -> TrainPlacement:
    machine = machine or Machine.this()
    chosen = pick_device(device, machine)
    if chosen == "cpu":
        return TrainPlacement("cpu", None)
    if not chosen.startswith("cuda"):
        raise QmrError(f"recovery training runs on cpu or cuda, not {chosen}")
    return TrainPlacement(chosen, "bf16" if machine.cuda_bf16 else "fp16")
