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
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from qmr_core import __version__
from qmr_core.errors import QmrError
from qmr_core.quant.rtn import RTNSpec, fake_quantize
from qmr_core.sensitivity.grid import ALL, EVERY_LAYER, KIND_ORDER, SCOPES, Row, record_analysis, record_rows, stored_rows
from qmr_core.store import Store

REPLAY_TOLERANCE = 1e-3  # max |logit| difference accepted between replay and the real forward pass


# -- quantizers ------------------------------------------------------------------------------


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


# -- traces ----------------------------------------------------------------------------------


@dataclass
class Trace:
    problem_id: str
    prompt: str  # exactly what the model saw
    output: str


def correct_traces(store: Store, run_id: str, limit: int) -> list[Trace]:
    rows = store.query(
        """SELECT problem_id, prompt, output FROM samples
           WHERE run_id = ? AND correct AND prompt IS NOT NULL AND length(output) > 0
           ORDER BY problem_id, sample_idx LIMIT ?""",
        [run_id, limit],
    )
    return [Trace(*r) for r in rows]


def pick_trace_run(store: Store, model_id: str) -> str:
    """The full-precision run of the model with the most correct samples that carry their prompt."""
    row = store.query(
        """SELECT r.run_id FROM runs r JOIN samples s USING (run_id)
           WHERE r.model_id = ? AND s.correct AND s.prompt IS NOT NULL
           GROUP BY r.run_id ORDER BY count(*) DESC, r.run_id LIMIT 1""",
        [model_id],
    )
    if not row:
        raise QmrError(f"no run of {model_id} with correct samples in the store; run qmr eval --model {model_id} first (or pass --run)")
    return row[0][0]


@dataclass
class Encoded:
    input_ids: torch.Tensor  # [B, T], right padded
    attention_mask: torch.Tensor
    targets: torch.Tensor  # [N] token ids scored
    rows: torch.Tensor  # [N] batch row of each scored position
    cols: torch.Tensor  # [N] position whose logits predict it
    n_tokens: int


def encode_traces(tokenizer, traces: Sequence[Trace], max_output_tokens: int, prompt_special_tokens: bool = False) -> Encoded:
    """Prompt and output tokenized apart, as generation produced them (teacher forcing does the same);
    `prompt_special_tokens` follows the engine (BOS where there is no chat template)."""
    seqs, spans = [], []
    for t in traces:
        prompt = tokenizer(t.prompt, add_special_tokens=prompt_special_tokens)["input_ids"]
        out = tokenizer(t.output, add_special_tokens=False)["input_ids"][:max_output_tokens]
        start = len(prompt) if prompt else 1  # with no prompt the first token has nothing to predict it
        if len(prompt) + len(out) <= start:
            continue
        seqs.append(prompt + out)
        spans.append((start, len(prompt) + len(out)))
    if not seqs:
        raise QmrError("no trace has output tokens to score")
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    rows, cols, targets = [], [], []
    for b, (seq, (start, end)) in enumerate(zip(seqs, spans)):
        ids[b, : len(seq)] = torch.tensor(seq)
        mask[b, : len(seq)] = 1
        for pos in range(start, end):
            rows.append(b)
            cols.append(pos - 1)
            targets.append(seq[pos])
    return Encoded(ids, mask, torch.tensor(targets), torch.tensor(rows), torch.tensor(cols), len(targets))


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


# -- accuracy on a problem subset ------------------------------------------------------------


def accuracy_probe(engine, problems: Sequence, template, decoding, batch_size: int) -> Callable[[], float]:
    """Greedy accuracy of the engine's current weights on `problems` (graded like qmr eval)."""
    from qmr_core.grading import grade

    def run() -> float:
        right = 0
        for k in range(0, len(problems), batch_size):
            chunk = problems[k : k + batch_size]
            gens = engine.generate([template.render(p) for p in chunk], decoding)
            right += sum(
                grade(p.answer, g.text, p.kind, problem=p.problem, finish_reason=g.finish_reason).correct
                for p, g in zip(chunk, gens)
            )
        return right / len(problems) if problems else float("nan")

    return run


# -- storage and the whole analysis ----------------------------------------------------------


def sensitivity_id(model_id: str, quantizer: dict, trace_run_id: str, trace_ids: Sequence[str], max_tokens: int,
                   setup: dict) -> str:
    """Everything that changes the numbers: a resumed analysis must match all of it."""
    payload = json.dumps([model_id, quantizer, trace_run_id, list(trace_ids), max_tokens, setup], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def analysis_row(sens_id: str, model_id: str, quantizer: Quantizer, trace_run_id: str, n_traces: int, n_tokens: int,
                 baseline_nll: float, baseline_acc: float | None, n_acc: int, seconds: float, device: str) -> dict:
    return {
        "sens_id": sens_id, "model_id": model_id, "method": quantizer.method, "bits": quantizer.bits,
        "group_size": quantizer.group_size, "is_symmetric": quantizer.symmetric,
        "quantizer_json": json.dumps(quantizer.describe(), sort_keys=True), "trace_run_id": trace_run_id,
        "n_traces": n_traces, "n_tokens": n_tokens, "baseline_nll": baseline_nll, "baseline_acc": baseline_acc,
        "n_acc_problems": n_acc or None, "seconds": seconds, "device": device, "qmr_version": __version__,
    }


@dataclass
class AnalysisResult:
    sens_id: str
    baseline_nll: float
    baseline_acc: float | None
    rows: list[Row]
    reused: int
    replay: bool
    seconds: float


def analyze(
    store: Store,
    engine,
    model_id: str,
    quantizer: Quantizer,
    trace_run_id: str,
    n_traces: int = 8,
    max_output_tokens: int = 256,
    scopes: Iterable[str] = SCOPES,
    acc_problems: Sequence = (),
    acc_template=None,
    acc_decoding=None,
    batch_size: int = 8,
    on_row: Callable[[Config, Row, int, int], None] | None = None,
) -> AnalysisResult:
    """Measure every configuration of `scopes` not already stored for the same analysis (resumable)."""
    started = time.perf_counter()
    traces = correct_traces(store, trace_run_id, n_traces)
    if not traces:
        raise QmrError(f"run {trace_run_id} has no correct samples with stored prompts to score")
    layout = model_layout(engine.model)
    configs = configurations(layout, scopes)
    setup = {"device": str(engine.device), "dtype": str(engine.torch_dtype), "acc_problems": [p.problem_id for p in acc_problems],
             "acc_template": getattr(acc_template, "name", None),
             "acc_decoding": acc_decoding.as_dict() if acc_decoding is not None else None}
    sens_id = sensitivity_id(model_id, quantizer.describe(), trace_run_id, [t.problem_id for t in traces],
                             max_output_tokens, setup)
    done = stored_rows(store, sens_id)
    encoded = encode_traces(engine.tokenizer, traces, max_output_tokens, not engine.has_chat_template)
    meter = Sensitivity(engine.model, layout, encoded, quantizer, device=engine.device)
    probe = accuracy_probe(engine, acc_problems, acc_template, acc_decoding, batch_size) if acc_problems else None
    known = store.query("SELECT baseline_acc FROM sensitivity_runs WHERE sens_id = ?", [sens_id])
    baseline_acc = known[0][0] if known and known[0][0] is not None else (probe() if probe else None)
    info = analysis_row(sens_id, model_id, quantizer, trace_run_id, len(traces), encoded.n_tokens, meter.baseline_nll,
                        baseline_acc, len(acc_problems), 0.0, str(engine.device))
    if known:
        info["seconds"] = store.query("SELECT seconds FROM sensitivity_runs WHERE sens_id = ?", [sens_id])[0][0] or 0.0
    record_analysis(store, info)
    rows = [done[(c.layer, c.module)] for c in configs if (c.layer, c.module) in done]
    todo = [c for c in configs if (c.layer, c.module) not in done]
    pending: list[Row] = []
    for k, cfg in enumerate(todo, 1):
        coarse = cfg.module == ALL or cfg.layer == EVERY_LAYER  # accuracy is measured for these, not for cells
        row = meter.measure(cfg, probe if coarse else None)
        rows.append(row)
        pending.append(row)
        if on_row:
            on_row(cfg, row, k, len(todo))
        if len(pending) >= 16:
            record_rows(store, sens_id, pending)
            pending = []
    record_rows(store, sens_id, pending)
    elapsed = time.perf_counter() - started
    info["seconds"] = (info["seconds"] or 0.0) + elapsed
    record_analysis(store, info)
    return AnalysisResult(sens_id, meter.baseline_nll, baseline_acc, rows, len(configs) - len(todo), meter.replay, elapsed)
