"""Reference unpackers of GPTQ v1 and AWQ GEMM checkpoints, read straight from safetensors, independent of GPTQModel."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # AutoAWQ's GEMM packing puts column order[i] at nibble i


def _nibbles(packed: torch.Tensor, dim: int) -> torch.Tensor:
    """Unpack int32 words holding 8 4-bit values along `dim` (value i in bits 4i..4i+3)."""
    shifts = torch.arange(0, 32, 4, dtype=torch.int32)
    if dim == 0:  # [n/8, m] -> [n, m]
        vals = (packed.unsqueeze(1) >> shifts.view(1, 8, 1)) & 0xF
        return vals.reshape(-1, packed.shape[1])
    vals = (packed.unsqueeze(2) >> shifts.view(1, 1, 8)) & 0xF  # [n, m/8] -> [n, m]
    return vals.reshape(packed.shape[0], -1)


def reference_gptq(tensors: dict, prefix: str, group: int) -> torch.Tensor:
    """GPTQ v1 (AutoGPTQ / GPTQModel): W[out, in] = scale * (q - (qzero + 1))."""
    q = _nibbles(tensors[prefix + ".qweight"], dim=0).float()  # [in, out]
    zeros = _nibbles(tensors[prefix + ".qzeros"], dim=1).float() + 1  # [groups, out]
    scales = tensors[prefix + ".scales"].float()
    g = torch.arange(q.shape[0]) // group
    return (scales[g] * (q - zeros[g])).t()


def reference_awq(tensors: dict, prefix: str, group: int) -> torch.Tensor:
    """AWQ GEMM: W[out, in] = scale * (q - zero), columns interleaved in AWQ_ORDER inside each word."""
    def unpack(t):
        vals = _nibbles(t, dim=1).reshape(t.shape[0], -1, 8)
        out = torch.empty_like(vals)
        out[..., AWQ_ORDER] = vals
        return out.reshape(t.shape[0], -1).float()

    q = unpack(tensors[prefix + ".qweight"])  # [in, out]
    zeros = unpack(tensors[prefix + ".qzeros"])
    scales = tensors[prefix + ".scales"].float()
    g = torch.arange(q.shape[0]) // group
    return (scales[g] * (q - zeros[g])).t()


def read_tensors(folder: Path) -> dict:
    out = {}
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as fh:
            out.update({k: fh.get_tensor(k) for k in fh.keys()})
    return out


def float_linear_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every nn.Linear weight of a float checkpoint, by module name."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return {n: m.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
