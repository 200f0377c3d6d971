"""Layer-wise sensitivity: quantize one part of the network at a time and measure the damage.

A configuration quantizes one (decoder layer, module kind) cell, one whole layer, or one module kind
in every layer; the rest stays at full precision. For each it measures
- the relative error of the output of the last quantized layer, on the same inputs;
- the mean negative log-likelihood of the full-precision model's correct traces (output tokens only)
  under the partly quantized model, and its increase over full precision;
- optionally, greedy accuracy on a small problem subset (whole layers and module kinds only).

Speed: the full-precision forward pass is run once, keeping each decoder layer's input and the
keyword arguments the model passes it (mask, rotary embeddings). A configuration whose first quantized
layer is i then replays layers i..L from the cached input. The replay is checked once against the
model's own forward pass; where it does not reproduce the logits, every configuration runs the full
model instead (slower, same numbers).

The quantizers are in quantizers.py, the traces in traces.py, the whole resumable analysis in analysis.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from qmr_core.errors import QmrError
from qmr_core.sensitivity.grid import ALL, EVERY_LAYER, KIND_ORDER, SCOPES, Row
from qmr_core.sensitivity.quantizers import Quantizer
from qmr_core.sensitivity.traces import Encoded

REPLAY_TOLERANCE = 1e-3  # max |logit| difference accepted between replay and the real forward pass


# -- model structure -------------------------------------------------------------------------


@dataclass
class Layout:
    layers: nn.ModuleList
    norm: nn.Module
    head: nn.Module
    prefix: str  # module-name prefix of the layers, e.g. "model.layers"
    kinds: list[str]  # module kinds in the order they appear in a layer
    linears: dict[int, dict[str, list[tuple[str, nn.Linear]]]]  # layer -> kind -> [(full name, module)]


def model_layout(model: nn.Module) -> Layout:
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    norm = getattr(inner, "norm", None)
    head = getattr(model, "lm_head", None)
    if not isinstance(layers, nn.ModuleList) or norm is None or head is None:
        raise QmrError(f"{type(model).__name__}: sensitivity needs a decoder with model.layers, model.norm and lm_head")
    prefix = next(name for name, mod in model.named_modules() if mod is layers)
    linears: dict[int, dict[str, list[tuple[str, nn.Linear]]]] = {}
    kinds: list[str] = []
    for i, layer in enumerate(layers):
        linears[i] = {}
        for sub, mod in layer.named_modules():
            if isinstance(mod, nn.Linear):
                kind = sub.rsplit(".", 1)[-1]  # experts of a MoE layer share their kind
                linears[i].setdefault(kind, []).append((f"{prefix}.{i}.{sub}", mod))
                if kind not in kinds:
                    kinds.append(kind)
    kinds.sort(key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), k))
    return Layout(layers, norm, head, prefix, kinds, linears)


# -- the measurement -------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    layer: int  # EVERY_LAYER for a module kind in all layers
    module: str  # a module kind, or ALL for the whole layer

    def label(self) -> str:
        if (self.layer, self.module) == (EVERY_LAYER, ALL):
            return "whole model"
        where = "every layer" if self.layer == EVERY_LAYER else f"layer {self.layer}"
        return f"{where}, {'all modules' if self.module == ALL else self.module}"


def configurations(layout: Layout, scopes: Iterable[str]) -> list[Config]:
    scopes = set(scopes)
    bad = scopes - set(SCOPES)
    if bad:
        raise QmrError(f"unknown scope(s) {', '.join(sorted(bad))}; choose from {', '.join(SCOPES)}")
    configs: list[Config] = [Config(EVERY_LAYER, ALL)]  # the whole model quantized: the reference damage
    n = len(layout.layers)
    if "layers" in scopes:
        configs += [Config(i, ALL) for i in range(n)]
    if "kinds" in scopes:
        configs += [Config(EVERY_LAYER, k) for k in layout.kinds]
    if "cells" in scopes:
        configs += [Config(i, k) for i in range(n) for k in layout.kinds if k in layout.linears[i]]
    return configs


def _modules_of(layout: Layout, cfg: Config) -> list[tuple[int, str, nn.Linear]]:
    layers = range(len(layout.layers)) if cfg.layer == EVERY_LAYER else [cfg.layer]
    found = []
    for i in layers:
        for kind, modules in layout.linears[i].items():
            if cfg.module in (ALL, kind):
                found += [(i, name, mod) for name, mod in modules]
    return found


class _Recorder:
    """Captures each decoder layer's input, keyword arguments and output during one forward pass."""

    def __init__(self, layout: Layout):
        self.inputs: dict[int, torch.Tensor] = {}
        self.args: dict[int, tuple] = {}
        self.kwargs: dict[int, dict] = {}
        self.outputs: dict[int, torch.Tensor] = {}
        self.handles = []
        for i, layer in enumerate(layout.layers):
            self.handles.append(layer.register_forward_pre_hook(self._pre(i), with_kwargs=True))
            self.handles.append(layer.register_forward_hook(self._post(i)))

    def _pre(self, i: int) -> Callable:
        def hook(module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            self.inputs[i] = hidden.detach()
            self.kwargs[i] = {k: v for k, v in kwargs.items() if k != "hidden_states"}
            self.args[i] = tuple(args[1:])
        return hook

    def _post(self, i: int) -> Callable:
        def hook(module, args, output):
            self.outputs[i] = _hidden(output).detach()
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _hidden(output) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


@dataclass
class Sensitivity:
    """Measures configurations against the model's full-precision behaviour on `encoded` traces."""

    model: nn.Module
    layout: Layout
    encoded: Encoded
    quantizer: Quantizer
    device: str = "cpu"
    replay: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        self.ids = self.encoded.input_ids.to(self.device)
        self.mask = self.encoded.attention_mask.to(self.device)
        self.targets = self.encoded.targets.to(self.device)
        self.rows, self.cols = self.encoded.rows.to(self.device), self.encoded.cols.to(self.device)
        recorder = _Recorder(self.layout)
        try:
            with torch.no_grad():
                logits = self.model(input_ids=self.ids, attention_mask=self.mask, use_cache=False).logits
        finally:
            recorder.close()
        self.cache = recorder
        forward = logits[self.rows, self.cols]
        try:
            replayed = self._replay(0, None)[1]
            self.replay_diff = (replayed - forward).abs().max().item()
        except Exception:  # a layer that cannot be called on its own: measure with full passes
            replayed, self.replay_diff = None, float("inf")
        self.replay = self.replay_diff <= REPLAY_TOLERANCE
        # The baseline comes from the same path as the configurations, so their difference holds no path noise.
        self.baseline_tokens = self._token_nll(replayed if self.replay and replayed is not None else forward)
        self.baseline_nll = self.baseline_tokens.mean().item()

    def _token_nll(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits.float(), self.targets, reduction="none")

    def _delta_se(self, delta: torch.Tensor) -> float | None:
        """Standard error of the mean per-token NLL increase, clustered by trace (tokens of one trace are not
        independent): sqrt(T/(T-1) * sum_t (sum_{i in t} (d_i - mean))^2) / N."""
        n_traces = int(self.rows.max().item()) + 1
        if n_traces < 2:
            return None
        centred = delta.double() - delta.double().mean()
        per_trace = torch.zeros(n_traces, dtype=torch.float64, device=delta.device).index_add_(0, self.rows, centred)
        return math.sqrt(n_traces / (n_traces - 1) * per_trace.pow(2).sum().item()) / delta.numel()

    @torch.no_grad()
    def _replay(self, start: int, watch: int | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Run layers start..L from the cached input; return (output of layer `watch`, scored logits)."""
        hidden = self.cache.inputs[start]
        watched = None
        for i in range(start, len(self.layout.layers)):
            hidden = _hidden(self.layout.layers[i](hidden, *self.cache.args[i], **self.cache.kwargs[i]))
            if i == watch:
                watched = hidden
        hidden = self.layout.norm(hidden)
        return watched, self.layout.head(hidden[self.rows, self.cols])

    @torch.no_grad()
    def _full(self, watch: int | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        watched: dict[int, torch.Tensor] = {}
        handle = None
        if watch is not None:
            handle = self.layout.layers[watch].register_forward_hook(lambda m, a, o: watched.__setitem__(0, _hidden(o)))
        try:
            logits = self.model(input_ids=self.ids, attention_mask=self.mask, use_cache=False).logits
        finally:
            if handle:
                handle.remove()
        return watched.get(0), logits[self.rows, self.cols]

    @torch.no_grad()
    def measure(self, cfg: Config, accuracy: Callable[[], float] | None = None) -> Row:
        started = time.perf_counter()
        modules = _modules_of(self.layout, cfg)
        if not modules:
            raise QmrError(f"nothing to quantize for {cfg.label()}")
        saved = []
        err_num = err_den = 0.0
        try:
            for _, name, mod in modules:
                original = mod.weight.data
                quantized = self.quantizer.weight(name, original)
                err_num += (original.float() - quantized.float()).pow(2).sum().item()
                err_den += original.float().pow(2).sum().item()
                saved.append((mod, original))
                mod.weight.data = quantized
            first = min(i for i, _, _ in modules)
            last = max(i for i, _, _ in modules)
            watched, logits = self._replay(first, last) if self.replay else self._full(last)
            ref = self.cache.outputs[last]
            assert watched is not None  # watching `last` always yields its output
            valid = self.mask.bool()
            out_err = ((watched - ref)[valid].float().norm() / ref[valid].float().norm().clamp_min(1e-12)).item()
            tokens = self._token_nll(logits)
            nll = tokens.mean().item()
            delta_se = self._delta_se(tokens - self.baseline_tokens)
            acc = accuracy() if accuracy is not None else None
        finally:
            for mod, original in saved:
                mod.weight.data = original
        return Row(
            layer=cfg.layer, module=cfg.module, n_modules=len(modules),
            weight_err=math.sqrt(err_num / err_den) if err_den else 0.0, out_err=out_err,
            nll=nll, delta_nll=nll - self.baseline_nll, delta_nll_se=delta_se, accuracy=acc,
            seconds=time.perf_counter() - started,
        )


