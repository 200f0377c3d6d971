"""Built-in round-to-nearest weight fake-quantization, for bit sweeps, the demo and sensitivity analysis.

Weights are quantized per output row in groups of `group_size` input columns (-1: one group per row,
i.e. per channel) and written back dequantized, in place. The quantization grid follows
compressed-tensors (what llm-compressor writes): symmetric uses scale = absmax / ((2^b - 1) / 2)
with codes in [-2^(b-1), 2^(b-1) - 1]; asymmetric uses scale = (max - min) / (2^b - 1) over a range
that always contains 0, with an integer zero point.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from qmr_core.errors import QmrError
from qmr_core.models.rtn_spec import RTNSpec, parse_rtn_tag

DEFAULT_SKIP = ("lm_head",)
__all__ = ["DEFAULT_SKIP", "RTNSpec", "parse_rtn_tag", "fake_quantize", "quantizable_linears", "choose_group_size", "rtn_quantize_"]


def fake_quantize(weight: torch.Tensor, spec: RTNSpec) -> torch.Tensor:
    """Quantize-dequantize a [out, in] weight; returns a new tensor of the same dtype."""
    out_features, in_features = weight.shape
    group = in_features if spec.group_size == -1 else spec.group_size
    if in_features % group:
        raise QmrError(f"group size {group} does not divide the layer width {in_features}")
    w = weight.detach().float().reshape(out_features, in_features // group, group)
    levels = 2**spec.bits - 1
    if spec.symmetric:
        q_min, q_max = -(2 ** (spec.bits - 1)), 2 ** (spec.bits - 1) - 1
        scale = w.abs().amax(dim=-1, keepdim=True) / (levels / 2)
        scale = torch.where(scale == 0, torch.ones_like(scale), scale)
        q = torch.clamp(torch.round(w / scale), q_min, q_max)
        deq = q * scale
    else:
        lo = torch.clamp(w.amin(dim=-1, keepdim=True), max=0.0)
        hi = torch.clamp(w.amax(dim=-1, keepdim=True), min=0.0)
        scale = (hi - lo) / levels
        scale = torch.where(scale == 0, torch.ones_like(scale), scale)
        zero = torch.clamp(torch.round(-lo / scale), 0, levels)
        q = torch.clamp(torch.round(w / scale) + zero, 0, levels)
        deq = (q - zero) * scale
    return deq.reshape(out_features, in_features).to(weight.dtype)


def quantizable_linears(model: nn.Module, skip: Iterable[str] = DEFAULT_SKIP) -> list[tuple[str, nn.Linear]]:
    skip = tuple(skip)
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not any(name == s or name.endswith("." + s) for s in skip)
    ]


def choose_group_size(model: nn.Module, preferred: Iterable[int] = (128, 64, 32)) -> int:
    """The largest preferred group size that divides every quantized layer's width."""
    widths = {m.in_features for _, m in quantizable_linears(model)}
    for g in preferred:
        if all(w % g == 0 for w in widths):
            return g
    return -1


@torch.no_grad()
def rtn_quantize_(
    model: nn.Module,
    spec: RTNSpec,
    skip: Iterable[str] = DEFAULT_SKIP,
    only: Iterable[str] | None = None,
) -> dict[str, float]:
    """Fake-quantize every Linear (or only those named in `only`) in place.

    Returns each layer's relative weight error ||W - Q(W)||_F / ||W||_F.
    """
    wanted = set(only) if only is not None else None
    errors: dict[str, float] = {}
    for name, module in quantizable_linears(model, skip):
        if wanted is not None and name not in wanted:
            continue
        original = module.weight.data
        quantized = fake_quantize(original, spec)
        norm = original.float().norm().item()
        errors[name] = (original.float() - quantized.float()).norm().item() / norm if norm else 0.0
        module.weight.data.copy_(quantized)
    if wanted is not None and not errors:
        raise QmrError(f"none of the layers {sorted(wanted)[:3]}... were found to quantize")
    return errors
