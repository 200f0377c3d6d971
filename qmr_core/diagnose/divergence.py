"""fp-referenced divergence in both directions, per token, judge-free.

*fp trace side*: the full-precision trace (prompt + output) is fed to both models; at every output
token we keep KL(fp || quant) between their next-token distributions under that same prefix. The
mean over a trace is a per-problem measure of how far quantization moved the model on a trace it
got right, computed before looking at what the quantized model wrote.

*quantized trace side*: the quantized trace is fed to the full-precision model; at every output
token we keep its surprisal (-log p_fp, nats) and its rank among the fp model's choices. A control
pass with the quantized model on its own trace marks *seams*: tokens the quantized model would not
produce itself (re-tokenization of the stored text, sampled decoding), which say nothing about the fp
model and are skipped by the locator.

The locator: the first step the full-precision model would not have written is the step holding
the first non-seam quantized token that is not the fp model's top choice there and whose fp
surprisal exceeds ``threshold`` nats (default ln 20: the fp model gives it less than a 5% chance).
An end-of-sequence token belongs to the last step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from qmr_core.diagnose.rules import step_at
from qmr_core.diagnose.teacher_forcing import TFItem, _batches, _encode, _Encoded, output_logprobs
from qmr_core.errors import QmrError

UNLIKELY_NATS = math.log(20.0)  # p_fp < 5%


@dataclass(frozen=True)
class DivItem:
    key: tuple  # caller's identifier, e.g. (problem_id, sample_idx)
    base: TFItem  # the full-precision trace
    quant: TFItem  # the quantized trace


@dataclass
class DivResult:
    key: tuple
    kl_tokens: list[float]  # KL(fp || quant) per fp-trace token, nats
    fp_offsets: list[int]  # character offset of each fp-trace token in the fp output
    kl_steps: list[float | None]  # mean KL per fp step
    surprisal_tokens: list[float]  # -log p_fp of each quantized-trace token, nats
    fp_rank_tokens: list[int]  # 0 = the fp model's own top choice
    q_offsets: list[int]
    surprisal_steps: list[float | None]  # mean surprisal per quantized step
    surprisal_step_max: list[float | None]
    seam_tokens: list[int]  # quantized-trace tokens the quantized model itself would not produce
    first_unlikely_token: int | None
    first_unlikely_step: int | None
    first_unlikely_text: str | None
    threshold: float

    def as_row(self) -> dict:
        def stats(v: list[float]) -> tuple[float | None, float | None]:
            return (_r(sum(v) / len(v)), _r(max(v))) if v else (None, None)

        kl_mean, kl_max = stats(self.kl_tokens)
        s_mean, s_max = stats(self.surprisal_tokens)
        return {
            "fp_n_tokens": len(self.kl_tokens), "kl_mean": kl_mean, "kl_max": kl_max,
            "kl_tokens": self.kl_tokens, "fp_offsets": self.fp_offsets, "kl_steps": self.kl_steps,
            "q_n_tokens": len(self.surprisal_tokens), "surprisal_mean": s_mean, "surprisal_max": s_max,
            "surprisal_tokens": self.surprisal_tokens, "fp_rank_tokens": self.fp_rank_tokens,
            "q_offsets": self.q_offsets, "surprisal_steps": self.surprisal_steps,
            "surprisal_step_max": self.surprisal_step_max, "n_seams": len(self.seam_tokens),
            "seam_tokens": self.seam_tokens, "first_unlikely_token": self.first_unlikely_token,
            "first_unlikely_step": self.first_unlikely_step, "first_unlikely_text": self.first_unlikely_text,
            "unlikely_nats": _r(self.threshold),
        }


def _r(x: float) -> float:
    return round(float(x), 4)


def per_step(values: Sequence[float], offsets: Sequence[int], spans: Sequence[tuple[int, int]],
             reduce=max) -> list[float | None]:  # noqa: ANN001
    """Reduce per-token values to one per step (tokens between steps count for the next step)."""
    groups: list[list[float]] = [[] for _ in spans]
    for v, o in zip(values, offsets, strict=True):
        s = step_at(o, spans)
        if s is not None:
            groups[s].append(float(v))
    return [_r(reduce(g)) if g else None for g in groups]


def _mean(v: list[float]) -> float:
    return sum(v) / len(v)


def first_unlikely(surprisal: Sequence[float], ranks: Sequence[int], seams: Sequence[int], threshold: float) -> int | None:
    """Index of the first non-seam token that is not the fp model's top choice and whose surprisal exceeds the threshold."""
    skip = set(seams)
    return next((t for t, (s, k) in enumerate(zip(surprisal, ranks, strict=True))
                 if s > threshold and k > 0 and t not in skip), None)


@torch.no_grad()
def _kl(fp_rows: torch.Tensor, q_rows: torch.Tensor) -> torch.Tensor:
    """KL(fp || quant) per row, from log-probabilities; clamped at 0 against rounding."""
    return (fp_rows.exp() * (fp_rows - q_rows)).sum(-1).clamp(min=0.0)


@torch.no_grad()
def _quant_side(e: _Encoded, fp_rows: torch.Tensor, q_rows: torch.Tensor) -> tuple[list[float], list[int], list[int]]:
    """(fp surprisal, fp rank, seam token indices) of each token of a quantized trace."""
    if not e.output_ids:
        return [], [], []
    target = torch.tensor(e.output_ids, device=fp_rows.device)
    lp = fp_rows.gather(1, target[:, None])
    rank = (fp_rows > lp).sum(-1)
    own = q_rows.argmax(-1)
    seam = own != target
    if e.eos_ids:  # the final end-of-sequence: any eos id is the model's own choice
        seam[-1] = int(own[-1]) not in e.eos_ids
    surprisal = [_r(-x) if math.isfinite(x) else 1e9 for x in lp[:, 0].tolist()]
    return surprisal, [int(x) for x in rank.tolist()], torch.nonzero(seam).flatten().tolist()


def divergence(fp_engine, quant_engine, items: Sequence[DivItem], batch_size: int = 4,
               threshold: float = UNLIKELY_NATS, on_batch=None) -> list[DivResult]:
    """Score every item in both directions; results in input order.

    Engines are HFEngine-like (``.model``, ``.tokenizer``, ``.device``, ``.has_chat_template``,
    ``.eos_ids``) and must share one vocabulary.
    """
    if batch_size < 1:
        raise QmrError("batch size must be >= 1")
    for eng in (fp_engine, quant_engine):
        if not hasattr(eng, "model") or not hasattr(eng, "tokenizer"):
            raise QmrError("divergence needs local transformers engines (hf)")
    if len(fp_engine.tokenizer) != len(quant_engine.tokenizer):
        raise QmrError("the full-precision and quantized models' tokenizers differ")
    fp_side = [_encode(fp_engine, it.base) for it in items]
    q_side = [_encode(fp_engine, it.quant) for it in items]
    vocab = fp_engine.model.get_output_embeddings().weight.shape[0]
    pad = fp_engine.tokenizer.pad_token_id if fp_engine.tokenizer.pad_token_id is not None else 0
    kl: dict[int, list[float]] = {}
    quant: dict[int, tuple] = {}
    index = {id(e): k for k, e in enumerate(fp_side + q_side)}
    n = len(items)
    for batch in _batches(fp_side + q_side, vocab, batch_size):
        fp_rows = output_logprobs(fp_engine.model, fp_engine.device, pad, batch)
        q_rows = output_logprobs(quant_engine.model, quant_engine.device, pad, batch)
        for e, f, q in zip(batch, fp_rows, q_rows, strict=True):
            k = index[id(e)]
            if k < n:
                kl[k] = [_r(x) for x in _kl(f, q.to(f.device)).tolist()]
            else:
                quant[k - n] = _quant_side(e, f, q.to(f.device))
        if on_batch:
            on_batch(len(batch))
    return [_result(items[k], fp_side[k], q_side[k], kl[k], quant[k], threshold, fp_engine.tokenizer) for k in range(n)]


def _result(item: DivItem, fp_e: _Encoded, q_e: _Encoded, kl: list[float], quant: tuple, threshold: float,
            tokenizer) -> DivResult:  # noqa: ANN001
    surprisal, rank, seams = quant
    first = first_unlikely(surprisal, rank, seams, threshold)
    q_spans = list(item.quant.spans)
    return DivResult(
        key=item.key,
        kl_tokens=kl,
        fp_offsets=list(fp_e.offsets),
        kl_steps=per_step(kl, fp_e.offsets, item.base.spans, _mean),
        surprisal_tokens=surprisal,
        fp_rank_tokens=rank,
        q_offsets=list(q_e.offsets),
        surprisal_steps=per_step(surprisal, q_e.offsets, q_spans, _mean),
        surprisal_step_max=per_step(surprisal, q_e.offsets, q_spans, max),
        seam_tokens=seams,
        first_unlikely_token=first,
        first_unlikely_step=step_at(q_e.offsets[first], q_spans) if first is not None else None,
        first_unlikely_text=tokenizer.decode([q_e.output_ids[first]]) if first is not None else None,
        threshold=threshold,
    )
