"""Per-token divergence of one problem, placed in each side's steps for the trace view's shading.

Base (full-precision) side: KL(fp || quant) of each token of the fp trace. Quantized side: the fp
model's surprisal of each token of the quantized trace. Both come from the `divergence` table
(`qmr diagnose`, migration 010) with each token's character offset in its output; a token runs to
the next token's offset and is cut at step boundaries, so a step gets (start, end, value) ranges in
its own text. Tokens outside every step (whitespace between steps, the end-of-sequence token) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import duckdb

from qmr_core.store.traces import divergence_row, output_length, step_spans

Side = Literal["base", "quant"]


@dataclass(frozen=True)
class TokenValue:
    start: int  # character range in the step's text
    end: int
    value: float


@dataclass
class TraceDivergence:
    base: dict[int, list[TokenValue]] = field(default_factory=dict)  # step -> KL(fp || quant) per token
    quant: dict[int, list[TokenValue]] = field(default_factory=dict)  # step -> fp surprisal per token
    kl_mean: float | None = None
    surprisal_mean: float | None = None
    locator_step: int | None = None  # the first quantized step the fp model would not have written
    locator_token: str | None = None
    threshold: float | None = None

    def side(self, which: Side) -> dict[int, list[TokenValue]]:
        return self.base if which == "base" else self.quant

    def describe_locator(self) -> str:
        if self.locator_step is None:
            return "[FP] the full-precision model would have written every quantized step"
        p = f"p<{math.exp(-self.threshold):.0%}" if self.threshold is not None else "unlikely"
        return f"[FP] quantized step {self.locator_step + 1}: fp would not write {self.locator_token!r} ({p})"


def token_values(values: Sequence[float], offsets: Sequence[int], spans: Sequence[tuple[int, int]],
                 text_len: int) -> dict[int, list[TokenValue]]:
    """Per step, the character ranges (in the step's text) of the tokens that overlap it, with their values."""
    out: dict[int, list[TokenValue]] = {}
    n = len(offsets)
    for t in range(n):
        start = offsets[t]
        end = offsets[t + 1] if t + 1 < n else text_len
        for k, (s, e) in enumerate(spans):
            lo, hi = max(start, s), min(end, e)
            if lo < hi:
                out.setdefault(k, []).append(TokenValue(lo - s, hi - s, float(values[t])))
            if e >= end:
                break
    return out


def load_divergence(con: duckdb.DuckDBPyConnection, base_run_id: str, quant_run_id: str, problem_id: str,
                    sample_idx: int = 0) -> TraceDivergence | None:
    """The stored divergence of one quantized sample, or None (never scored)."""
    row = divergence_row(con, base_run_id, quant_run_id, problem_id, sample_idx)
    if row is None:
        return None
    base_idx = row.base_sample_idx
    return TraceDivergence(
        base=token_values(row.kl_tokens or [], row.fp_offsets or [], step_spans(con, base_run_id, problem_id, base_idx),
                          output_length(con, base_run_id, problem_id, base_idx)),
        quant=token_values(row.surprisal_tokens or [], row.q_offsets or [],
                           step_spans(con, quant_run_id, problem_id, sample_idx),
                           output_length(con, quant_run_id, problem_id, sample_idx)),
        kl_mean=row.kl_mean, surprisal_mean=row.surprisal_mean, locator_step=row.first_unlikely_step,
        locator_token=row.first_unlikely_text, threshold=row.unlikely_nats,
    )
