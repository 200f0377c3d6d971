"""GPTQModel (successor of AutoGPTQ): GPTQ, AWQ and RTN -> GPTQ- / AWQ-format checkpoints.

These checkpoints load in transformers (with `optimum` installed) onto GPTQModel's ATen int4 CPU
kernel, which decodes faster than float on CPU. Measured workarounds for a CPU-only machine:
- its CPU worker pool needs at least 2 workers (GPTQMODEL_CPU_WORKERS) or it refuses to start on 2 cores;
- AWQ asks for CUDA unless the torch AWQ backend is named.

Per-layer error: each quantized module of the saved checkpoint is dequantized through the kernel that
loads it (the module applied to an identity matrix) and compared with the weight that entered the
quantizer: the source weight for GPTQ and RTN; for AWQ the smoothed weight, which is exactly
recoverable only for q/k_proj (after input_layernorm) and gate_proj (after post_attention_layernorm);
AWQ's other modules (whose rows or columns carry scales of a neighbour) are left out of the table.
The error is computed by `layer_errors` after the timed quantization, since it reloads both models.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

from qmr_core.quant.backend_common import (
    BackendResult,
    LayerProgress,
    package_version,
    quiet_library_logs,
    require,
    tokenize_calibration,
)
from qmr_core.quant.loading import set_gptqmodel_log_level
from qmr_core.quant.measure import relative_error
from qmr_core.quant.spec import QuantSpec

# Modules whose AWQ smoothing is exactly recoverable: input columns scaled by a norm's factor, and
# no output-row scaling (v_proj and up_proj also take the inverse scales of o_proj / down_proj).
_NORM_FED = {
    "self_attn.q_proj": "input_layernorm",
    "self_attn.k_proj": "input_layernorm",
    "mlp.gate_proj": "post_attention_layernorm",
}
_LAYER = re.compile(r"^(.*\.layers\.\d+)\.(.+)$")


def _prepare_env() -> None:
    if (os.cpu_count() or 1) <= 3:
        os.environ.setdefault("GPTQMODEL_CPU_WORKERS", "2")
    quiet_library_logs()


def _config(spec: QuantSpec):
    from gptqmodel import AWQConfig, GPTQConfig, RTNConfig

    common = dict(bits=spec.bits, group_size=spec.group_size, sym=spec.is_symmetric)
    if spec.method == "gptq":
        return GPTQConfig(desc_act=spec.act_order, **common)
    if spec.method == "awq":
        return AWQConfig(**common)
    return RTNConfig(**common)


@torch.no_grad()
def dequantized_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Each quantized Linear's effective [out, in] weight, read through the kernel that serves it."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu")
    weights: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or not hasattr(module, "in_features") or not hasattr(module, "qweight"):
            continue
        eye = torch.eye(module.in_features, dtype=torch.float32)
        probe = eye.to(getattr(module, "scales", eye).dtype)
        out = module(probe).float()
        bias = getattr(module, "bias", None)
        if bias is not None:
            out = out - bias.float()
        weights[name] = out.t().contiguous()
    del model
    return weights


@torch.no_grad()
def _reference_weights(source: Path, names: list[str], method: str, quantized_norms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    modules = dict(model.named_modules())
    refs: dict[str, torch.Tensor] = {}
    for name in names:
        weight = modules[name].weight.detach().float()
        if method == "awq":
            m = _LAYER.match(name)
            norm = _NORM_FED.get(m.group(2)) if m else None
            if m is None or norm is None or f"{m.group(1)}.{norm}" not in quantized_norms:
                continue
            source_norm = modules[f"{m.group(1)}.{norm}"].weight.detach().float()
            weight = weight * (source_norm / quantized_norms[f"{m.group(1)}.{norm}"])  # W' = W diag(s), s = n / n'
        refs[name] = weight
    del model
    return refs


def _norm_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    norms: dict[str, torch.Tensor] = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as fh:
            for key in fh.keys():
                if key.endswith("layernorm.weight"):
                    norms[key.removesuffix(".weight")] = fh.get_tensor(key).float()
    return norms


def layer_errors(source: Path, out_dir: Path, method: str) -> dict[str, float]:
    deq = dequantized_weights(out_dir)
    refs = _reference_weights(source, list(deq), method, _norm_weights(out_dir) if method == "awq" else {})
    return {name: relative_error(refs[name], deq[name]) for name in deq if name in refs}


def quantize(source: Path | str, spec: QuantSpec, calib_texts: list[str] | None, out_dir: Path,
             on_layer: LayerProgress | None = None) -> BackendResult:
    """The `QuantBackend` face (quant/spec.py)."""
    _prepare_env()
    require("gptqmodel", "gptqmodel")
    require("optimum", "gptqmodel")
    from gptqmodel import BACKEND, GPTQModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    texts = calib_texts or []
    if not texts:  # RTN needs no data, but GPTQModel's loop still runs one forward pass
        texts = ["The quick brown fox jumps over the lazy dog. " * 8]
    rows, stats = tokenize_calibration(tokenizer, texts, spec.seq_len)
    torch.manual_seed(spec.seed)
    set_gptqmodel_log_level(logging.INFO)  # its progress goes to the quantize log
    return _run(GPTQModel, BACKEND, tokenizer, rows, stats, source, spec, out_dir, on_layer)


def _run(GPTQModel, BACKEND, tokenizer, rows, stats, source: Path | str, spec: QuantSpec, out_dir: Path, on_layer) -> BackendResult:
    model = GPTQModel.load(str(source), _config(spec), device="cuda" if torch.cuda.is_available() else "cpu")
    kwargs = {"backend": BACKEND.AWQ_TORCH} if spec.method == "awq" and not torch.cuda.is_available() else {}
    log = model.quantize(rows, batch_size=1, calibration_data_min_length=1, **kwargs)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    tokenizer.save_pretrained(out_dir)
    del model
    if on_layer:
        on_layer(1, 1)
    losses = {
        f"layer{row.get('layer')}.{row.get('module')}": float(row["loss"])
        for rows_ in (log or {}).values()
        for row in rows_
        if isinstance(row, dict) and _is_float(row.get("loss"))
    }
    fmt = "awq" if spec.method == "awq" else "gptq"
    return BackendResult(
        backend="gptqmodel",
        backend_version=f"gptqmodel {package_version('gptqmodel')}, optimum {package_version('optimum')}",
        checkpoint_format=fmt,
        layer_errors={},  # filled by layer_errors() outside the timed region
        notes={"calibration_tokens": stats if spec.needs_calibration else None, "library_losses": losses,
               "awq_torch_backend": bool(kwargs)},
    )


def _is_float(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
        return True
    except (TypeError, ValueError):
        return False
