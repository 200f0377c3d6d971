"""How a run's model is named in tables: its quantization, or for full precision its honest precision."""

from __future__ import annotations

from typing import Any


def precision_label(source_precision: str | None, run_dtype: str | None = None) -> str:
    """An unquantized model's precision, honestly: 'fp32 (dequantized Q4_1)' for a GGUF read as float,
    'bf16' for a bf16 checkpoint, 'fp32 (from bf16)' when upcast; 'fp' when the source is unknown."""
    from qmr_core.models.precision import float_name

    if not source_precision:
        return "fp"
    run = float_name(run_dtype)
    native = float_name(source_precision)
    if native:
        return native if run in (None, native) else f"{run} (from {native})"
    return f"{run or 'fp'} (dequantized {source_precision})"


def short_quant_label(
    method: str | None, bits: int | None, group_size: int | None, act_bits: int | None,
    source_precision: str | None = None, run_dtype: str | None = None,
) -> str:
    """'fp32 (dequantized Q4_1)', 'bf16', 'rtn w4g64', 'smoothquant w8a8', 'gptq w4gch': fits a narrow column."""
    method = method or "none"
    if method == "none":
        return precision_label(source_precision, run_dtype)
    group = "" if not group_size else ("gch" if group_size == -1 else f"g{group_size}")
    act = f"a{act_bits}" if act_bits else ""
    return f"{method} w{bits}{act}{group}" if bits else method


def quant_label(row: dict[str, Any]) -> str:
    """'fp' for full precision, else e.g. 'rtn w4 g64' / 'smoothquant w8a8'."""
    method = row.get("method") or "none"
    if method == "none":
        label = precision_label(row.get("source_precision"), row.get("run_dtype"))
        return "full precision" if label == "fp" else label
    parts = [method, f"w{row['bits']}" + (f"a{row['act_bits']}" if row.get("act_bits") else "")]
    group = row.get("group_size")
    if group:
        parts.append("per-channel" if group == -1 else f"g{group}")
    return " ".join(parts)
