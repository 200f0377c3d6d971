"""llm-compressor (vLLM project): RTN, GPTQ, AWQ and SmoothQuant W8A8 -> compressed-tensors checkpoints.

Recipes: rtn = QuantizationModifier; gptq = GPTQModifier; awq = AWQModifier + QuantizationModifier
(the 0.14 API pairs them); smoothquant = SmoothQuantModifier + GPTQModifier with int8 weights and
dynamic per-token int8 activations. lm_head stays in full precision.

Per-layer error: the relative error between the weight that entered the quantizer and its dequantized
value. For AWQ and SmoothQuant that weight is the smoothed one (both methods rescale weights on
purpose, so comparing with the source weight would mix scaling into the error); for GPTQ it is the
weight before GPTQ's error-compensating updates, so the number includes those updates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

from qmr_core.quant.backend_common import (
    BackendResult,
    LayerProgress,
    no_tqdm,
    package_version,
    quiet_library_logs,
    require,
    tokenize_calibration,
)
from qmr_core.quant.measure import relative_error
from qmr_core.quant.spec import QuantSpec

IGNORE = ["lm_head"]


def _scheme(spec: QuantSpec):
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

    if spec.group_size == -1:
        weights = QuantizationArgs(num_bits=spec.bits, type="int", symmetric=spec.is_symmetric, strategy="channel")
    else:
        weights = QuantizationArgs(
            num_bits=spec.bits, type="int", symmetric=spec.is_symmetric, strategy="group", group_size=spec.group_size
        )
    acts = None
    if spec.act_bits:
        acts = QuantizationArgs(num_bits=spec.act_bits, type="int", symmetric=True, strategy="token", dynamic=True)
    return QuantizationScheme(targets=["Linear"], weights=weights, input_activations=acts)


def build_recipe(spec: QuantSpec) -> list:
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
    from llmcompressor.modifiers.transform import AWQModifier, SmoothQuantModifier

    groups = {"group_0": _scheme(spec)}
    actorder = "static" if spec.act_order else None
    if spec.method == "rtn":
        return [QuantizationModifier(config_groups=groups, ignore=IGNORE)]
    if spec.method == "gptq":
        return [GPTQModifier(config_groups=groups, ignore=IGNORE, actorder=actorder)]
    if spec.method == "awq":
        return [AWQModifier(), QuantizationModifier(config_groups=groups, ignore=IGNORE)]
    return [
        SmoothQuantModifier(smoothing_strength=spec.smoothing_strength),
        GPTQModifier(config_groups=groups, ignore=IGNORE, actorder=None),
    ]


@contextlib.contextmanager
def _cpu_safe_awq() -> Iterator[None]:
    """llm-compressor's AWQ pins cached activations, which a CPU-only torch refuses
    ("Cannot access accelerator device when none is available"); pinning only speeds GPU copies."""
    from llmcompressor.pipelines.cache import IntermediatesCache

    if torch.cuda.is_available() or not hasattr(IntermediatesCache, "pin_memory"):
        yield
        return
    original = IntermediatesCache.pin_memory
    IntermediatesCache.pin_memory = lambda self, *a, **k: None  # type: ignore[method-assign, unused-ignore]
    try:
        yield
    finally:
        IntermediatesCache.pin_memory = original  # type: ignore[method-assign, unused-ignore]


@contextlib.contextmanager
def _layer_progress(on_layer: LayerProgress | None, n_layers: int) -> Iterator[None]:
    """Advance a progress callback each time llm-compressor finishes one sequential subgraph (a layer)."""
    from llmcompressor.core import LifecycleCallbacks

    if on_layer is None:
        yield
        return
    original = LifecycleCallbacks.__dict__["sequential_epoch_end"]
    done = [0]

    def wrapped(cls, modules, **kwargs):
        result = original.__func__(cls, modules, **kwargs)
        done[0] += 1
        on_layer(min(done[0], n_layers), n_layers)
        return result

    LifecycleCallbacks.sequential_epoch_end = classmethod(wrapped)  # type: ignore[method-assign, assignment, unused-ignore]
    try:
        yield
    finally:
        LifecycleCallbacks.sequential_epoch_end = original  # type: ignore[method-assign, unused-ignore]


@contextlib.contextmanager
def _capture_gptq_inputs(store: dict[int, torch.Tensor]) -> Iterator[None]:
    """Keep the weight each module had just before GPTQ rewrote it (after any smoothing)."""
    from llmcompressor.modifiers.gptq.base import GPTQModifier

    original = GPTQModifier.compress_module_list

    def wrapped(self, module_list):
        for module in module_list:
            store[id(module)] = module.weight.detach().to("cpu", copy=True)
        return original(self, module_list)

    GPTQModifier.compress_module_list = wrapped  # type: ignore[method-assign, unused-ignore]
    try:
        yield
    finally:
        GPTQModifier.compress_module_list = original  # type: ignore[method-assign, unused-ignore]


@torch.no_grad()
def _layer_errors(model: torch.nn.Module, before: dict[int, torch.Tensor]) -> dict[str, float]:
    from compressed_tensors.quantization.lifecycle.forward import fake_quantize

    errors: dict[str, float] = {}
    for name, module in model.named_modules():
        args = getattr(getattr(module, "quantization_scheme", None), "weights", None)
        if args is None or not hasattr(module, "weight_scale"):
            continue
        weight = module.weight.detach()
        zero = getattr(module, "weight_zero_point", None)
        dequant = fake_quantize(weight, module.weight_scale, zero, args, getattr(module, "weight_global_scale", None))
        errors[name] = relative_error(before.get(id(module), weight), dequant)
    return errors


def quantize(source: Path | str, spec: QuantSpec, calib_texts: list[str] | None, out_dir: Path,
             on_layer: LayerProgress | None = None) -> BackendResult:
    """The `QuantBackend` face (quant/spec.py)."""
    quiet_library_logs()
    require("llmcompressor", "llmcompressor")
    from datasets import Dataset
    from llmcompressor import oneshot
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    notes: dict = {"recipe": [type(m).__name__ for m in build_recipe(spec)]}
    kwargs: dict = {}
    if spec.needs_calibration:
        rows, stats = tokenize_calibration(tokenizer, calib_texts or [], spec.seq_len)
        notes["calibration_tokens"] = stats
        kwargs = dict(
            dataset=Dataset.from_list(rows),
            num_calibration_samples=len(rows),
            max_seq_length=spec.seq_len,
            shuffle_calibration_samples=False,
        )
    before: dict[int, torch.Tensor] = {}
    torch.manual_seed(spec.seed)
    n_layers = int(getattr(model.config, "num_hidden_layers", 0) or 0) + 1  # + the final norm / head subgraph
    with no_tqdm(), _cpu_safe_awq(), _layer_progress(on_layer, n_layers), _capture_gptq_inputs(before):
        oneshot(model=model, recipe=build_recipe(spec), **kwargs)
        errors = _layer_errors(model, before)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir, save_compressed=True)
    tokenizer.save_pretrained(out_dir)
    if on_layer:
        on_layer(n_layers, n_layers)
    return BackendResult(
        backend="llmcompressor",
        backend_version=f"llmcompressor {package_version('llmcompressor')}, compressed-tensors {package_version('compressed-tensors')}",
        checkpoint_format="compressed-tensors",
        layer_errors=errors,
        notes=notes,
    )
