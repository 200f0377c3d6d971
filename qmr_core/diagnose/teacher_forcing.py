"""Teacher-forced divergence: where would the quantized model first leave the base model's trace?

The base sample's exact prompt plus its output is fed to the quantized model in one forward pass
(no generation). For every output token we keep the log-prob of the base token under the
quantized model, the quantized model's argmax and its top-1/top-2 probability margin. The first
token whose argmax differs from the base token is the *first flip*; its character offset maps to
a step through the stored step spans. This is judge-free and deterministic.

The output is re-tokenized from its text (the generated ids are not stored). A control pass with
the base model itself (``control=``) marks the tokens where even the base model would not produce
the trace's token (re-tokenization seams, sampling-mode samples); a flip then needs the base model
to agree with the trace and the quantized model to disagree.

Batches are left-padded with explicit position ids, and only the output positions' logits are
kept (``logits_to_keep``), so memory grows with the output length, not the prompt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from qmr_core.diagnose.rules import step_at
from qmr_core.errors import QmrError

WINDOW = 8  # tokens kept on each side of the flip
MAX_LOGIT_FLOATS = 60_000_000  # per batch: batch x kept positions x vocab (240 MB of float32)


@dataclass(frozen=True)
class TFItem:
    key: tuple  # caller's identifier, e.g. (problem_id, sample_idx)
    prompt: str  # exactly what the base model saw
    output: str
    spans: Sequence[tuple[int, int]]  # step character spans in output
    ended_with_eos: bool = False  # score the end-of-sequence token too


@dataclass
class FlipSummary:
    key: tuple
    n_tokens: int
    n_flips: int
    first_flip_token: int | None
    first_flip_char: int | None
    first_flip_step: int | None
    base_token: str | None
    quant_token: str | None
    flip_logprob: float | None
    flip_margin: float | None
    mean_logprob: float | None
    window_start: int | None
    margins: list[float]
    logprobs: list[float]
    step_logprobs: list[float | None]
    n_control_mismatch: int | None

    def as_row(self) -> dict:
        return {
            "n_tokens": self.n_tokens,
            "n_flips": self.n_flips,
            "first_flip_token": self.first_flip_token,
            "first_flip_char": self.first_flip_char,
            "first_flip_step": self.first_flip_step,
            "base_token": self.base_token,
            "quant_token": self.quant_token,
            "flip_logprob": self.flip_logprob,
            "flip_margin": self.flip_margin,
            "mean_logprob": self.mean_logprob,
            "window_start": self.window_start,
            "margins_json": json.dumps(self.margins),
            "logprobs_json": json.dumps(self.logprobs),
            "step_logprob_json": json.dumps(self.step_logprobs),
            "n_control_mismatch": self.n_control_mismatch,
        }


@dataclass
class _Encoded:
    item: TFItem
    prompt_ids: list[int]
    output_ids: list[int]
    offsets: list[int]  # character offset in the output of each output token
    eos_ids: frozenset[int]  # any of these ends generation: they are interchangeable at the last position


def _encode(engine, item: TFItem) -> _Encoded:
    tok = engine.tokenizer
    prompt_ids = tok(item.prompt, add_special_tokens=not engine.has_chat_template)["input_ids"]
    enc = tok(item.output, add_special_tokens=False, return_offsets_mapping=True)
    output_ids = list(enc["input_ids"])
    offsets = [start for start, _end in enc["offset_mapping"]]
    eos_ids = frozenset(engine.eos_ids)
    if item.ended_with_eos and eos_ids:
        # The generation config names the token the model emits (a GGUF tokenizer's eos may differ).
        configured = engine.model.generation_config.eos_token_id
        configured = configured[0] if isinstance(configured, list) and configured else configured
        eos = configured if configured in eos_ids else min(eos_ids)
        output_ids.append(eos)
        offsets.append(len(item.output))
    return _Encoded(item, list(prompt_ids), output_ids, offsets, eos_ids if item.ended_with_eos else frozenset())


@torch.no_grad()
def output_logprobs(model, device: str, pad_id: int, batch: list[_Encoded]) -> list[torch.Tensor]:
    """Per item: the log-softmax rows (n_output x vocab) that predict each output token, one forward pass."""
    seqs = [e.prompt_ids + e.output_ids for e in batch]
    width = max(len(s) for s in seqs)
    keep = max(len(e.output_ids) for e in batch) + 1
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, width - len(s) :] = torch.tensor(s, dtype=torch.long)
        mask[r, width - len(s) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    try:
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
    except TypeError:  # a model class without logits_to_keep
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -keep:]
    # logits[r, k] predicts the token after kept position k; the output occupies the last n slots
    return [logits[r, keep - len(e.output_ids) - 1 : keep - 1].float().log_softmax(-1) for r, e in enumerate(batch)]


@torch.no_grad()
def _score(model, device: str, pad_id: int, batch: list[_Encoded]) -> list[tuple[torch.Tensor, ...]]:
    """Per item: (base-token log-probs, argmax ids, top1 - top2 probability margins), one value per output token."""
    out: list[tuple[torch.Tensor, ...]] = []
    for e, rows in zip(batch, output_logprobs(model, device, pad_id, batch), strict=True):
        if not e.output_ids:
            empty = torch.zeros(0)
            out.append((empty, empty.long(), empty))
            continue
        target = torch.tensor(e.output_ids, device=rows.device)
        base_lp = rows.gather(1, target[:, None])[:, 0]
        top = rows.topk(2, dim=-1)
        probs = top.values.exp()
        out.append((base_lp.cpu(), top.indices[:, 0].cpu(), (probs[:, 0] - probs[:, 1]).cpu()))
    return out


def _batches(encoded: list[_Encoded], vocab: int, batch_size: int) -> list[list[_Encoded]]:
    order = sorted(encoded, key=lambda e: len(e.prompt_ids) + len(e.output_ids))
    batches: list[list[_Encoded]] = []
    current: list[_Encoded] = []
    for e in order:
        keep = max([len(x.output_ids) for x in current + [e]]) + 1
        if current and (len(current) >= batch_size or (len(current) + 1) * keep * vocab > MAX_LOGIT_FLOATS):
            batches.append(current)
            current = []
        current.append(e)
    if current:
        batches.append(current)
    return batches


def _r(x: float) -> float:
    return round(float(x), 4)


def _summarize(e: _Encoded, scored, control_argmax: torch.Tensor | None, decode) -> FlipSummary:
    base_lp, argmax, margin = scored
    n = len(e.output_ids)
    target = torch.tensor(e.output_ids, dtype=torch.long)
    disagree = argmax != target
    if e.eos_ids and n:  # the final end-of-sequence: any eos id agrees
        disagree[-1] = int(argmax[-1]) not in e.eos_ids
    n_control = None
    if control_argmax is not None:
        control_ok = control_argmax == target
        if e.eos_ids and n:
            control_ok[-1] = int(control_argmax[-1]) in e.eos_ids
        n_control = int((~control_ok).sum()) if n else 0
        disagree = disagree & control_ok
    flips = torch.nonzero(disagree).flatten().tolist() if n else []
    first = flips[0] if flips else None
    spans = list(e.item.spans)
    per_step: list[list[float]] = [[] for _ in spans]
    for t in range(n):
        s = step_at(e.offsets[t], spans)
        if s is not None:
            per_step[s].append(float(base_lp[t]))
    step_lp = [_r(sum(v) / len(v)) if v else None for v in per_step]
    summary = FlipSummary(
        key=e.item.key,
        n_tokens=n,
        n_flips=len(flips),
        first_flip_token=first,
        first_flip_char=None,
        first_flip_step=None,
        base_token=None,
        quant_token=None,
        flip_logprob=None,
        flip_margin=None,
        mean_logprob=_r(base_lp.mean()) if n else None,
        window_start=None,
        margins=[],
        logprobs=[],
        step_logprobs=step_lp,
        n_control_mismatch=n_control,
    )
    if first is not None:
        lo, hi = max(0, first - WINDOW), min(n, first + WINDOW + 1)
        summary.first_flip_char = int(e.offsets[first])
        summary.first_flip_step = step_at(e.offsets[first], spans)
        summary.base_token = decode(e.output_ids[first])
        summary.quant_token = decode(int(argmax[first]))
        summary.flip_logprob = _r(base_lp[first])
        summary.flip_margin = _r(margin[first])
        summary.window_start = lo
        summary.margins = [_r(x) for x in margin[lo:hi].tolist()]
        summary.logprobs = [_r(x) if math.isfinite(x) else -1e9 for x in base_lp[lo:hi].tolist()]
    return summary


def teacher_force(engine, items: Sequence[TFItem], batch_size: int = 4, control=None, on_batch=None) -> list[FlipSummary]:
    """Score every item's output under ``engine`` (the quantized model); results in input order.

    ``engine`` and ``control`` are HFEngine-like: ``.model``, ``.tokenizer``, ``.device``,
    ``.has_chat_template``, ``.eos_ids``. ``control`` must share the tokenizer's vocabulary.
    """
    if batch_size < 1:
        raise QmrError("batch size must be >= 1")
    if not hasattr(engine, "model") or not hasattr(engine, "tokenizer"):
        raise QmrError("teacher forcing needs a local transformers engine (hf)")
    if control is not None and len(control.tokenizer) != len(engine.tokenizer):
        raise QmrError("the control model's tokenizer differs from the quantized model's")
    encoded = [_encode(engine, it) for it in items]
    vocab = engine.model.get_output_embeddings().weight.shape[0]
    pad = engine.tokenizer.pad_token_id if engine.tokenizer.pad_token_id is not None else 0
    results: dict[int, FlipSummary] = {}
    index = {id(e): k for k, e in enumerate(encoded)}

    def decode(token_id: int) -> str:
        return engine.tokenizer.decode([token_id])

    for batch in _batches(encoded, vocab, batch_size):
        scored = _score(engine.model, engine.device, pad, batch)
        control_scored = _score(control.model, control.device, pad, batch) if control is not None else None
        for r, e in enumerate(batch):
            ctrl = control_scored[r][1] if control_scored is not None else None
            results[index[id(e)]] = _summarize(e, scored[r], ctrl, decode)
        if on_batch:
            on_batch(len(batch))
    return [results[k] for k in range(len(encoded))]
