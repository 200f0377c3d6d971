"""What sensitivity quantizes a module's weight to: built-in RTN, or weights swapped in from a quantized checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from qmr_core.errors import QmrError
from qmr_core.quant.rtn import RTNSpec, fake_quantize


class Quantizer:
    """Gives the quantized weight of a named Linear."""

    method: str
    bits: int | None = None
    group_size: int | None = None
    symmetric: bool | None = None

    def weight(self, name: str, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> dict:
        raise NotImplementedError


@dataclass
class RTNQuantizer(Quantizer):
    spec: RTNSpec
    method: str = "rtn"

    def __post_init__(self) -> None:
        self.bits, self.group_size, self.symmetric = self.spec.bits, self.spec.group_size, self.spec.symmetric

    def weight(self, name: str, w: torch.Tensor) -> torch.Tensor:
        return fake_quantize(w, self.spec)

    def describe(self) -> dict:
        return self.spec.as_dict()


@dataclass
class CheckpointQuantizer(Quantizer):
    """Weights swapped in from a quantized checkpoint (e.g. GPTQ), dequantized through its kernel."""

    folder: Path
    weights: dict[str, torch.Tensor]
    method: str = "gptq"
    bits: int | None = None
    group_size: int | None = None
    symmetric: bool | None = None

    def weight(self, name: str, w: torch.Tensor) -> torch.Tensor:
        if name not in self.weights:
            raise QmrError(f"checkpoint {self.folder} has no quantized weight for {name}")
        q = self.weights[name]
        if q.shape != w.shape:
            raise QmrError(f"checkpoint weight {name} has shape {tuple(q.shape)}, the model's has {tuple(w.shape)}")
        return q.to(device=w.device, dtype=w.dtype)

    def describe(self) -> dict:
        return {"method": self.method, "checkpoint": str(self.folder), "bits": self.bits, "group_size": self.group_size}


def checkpoint_quantizer(folder: Path, method: str) -> CheckpointQuantizer:
    from qmr_core.quant import loading

    folder = Path(folder).expanduser().resolve()
    config = loading.read_quant_config(folder) if folder.is_dir() else None
    if not config:
        raise QmrError(f"{folder} is not a quantized checkpoint (no quantization_config); make one with qmr quantize --method {method}")
    found = (loading.quant_method(folder) or "").lower()
    if found != method:
        raise QmrError(f"{folder} holds a '{found}' checkpoint, not '{method}'")
    if method != "gptq":
        raise QmrError(f"sensitivity swaps in per-module weights; '{method}' rescales norms as well, so only gptq checkpoints are read")
    from qmr_core.quant.gptqmodel_backend import dequantized_weights

    weights = dequantized_weights(folder)
    if not weights:
        raise QmrError(f"no GPTQ-quantized modules found in {folder} (a gptqmodel checkpoint is expected)")
    return CheckpointQuantizer(folder, weights, method, config.get("bits"), config.get("group_size"), config.get("sym"))


