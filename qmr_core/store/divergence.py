"""Reads and writes of the `divergence` table (fp-referenced per-token divergence of a run pair).

Reads return records (records_compare.py), rows are written as dicts; the scoring lives in
qmr_core/diagnose/divergence*.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qmr_core.store.records_compare import DivergenceByOutcome, SampleWithSpans
from qmr_core.store.store import Store

SampleKey = tuple[str, int]  # (problem_id, sample_idx) within one run


def samples_with_spans(store: Store, run_id: str, problem_ids: Sequence[str]) -> dict[SampleKey, SampleWithSpans]:
    """(problem, sample) -> prompt, output, finish reason and its steps' character spans, in order."""
    rows = store.query_dicts(
        """SELECT problem_id, sample_idx, prompt, output, finish_reason FROM samples
           WHERE run_id = ? AND problem_id IN (SELECT unnest(?))""",
        [run_id, list(problem_ids)],
    )
    spans: dict[SampleKey, list[tuple[int, int]]] = {}
    for pid, idx, start, end in store.query(
        """SELECT problem_id, sample_idx, span_start, span_end FROM steps
           WHERE run_id = ? AND problem_id IN (SELECT unnest(?)) ORDER BY problem_id, sample_idx, step_idx""",
        [run_id, list(problem_ids)],
    ):
        spans.setdefault((pid, idx), []).append((start, end))
    return {(r["problem_id"], r["sample_idx"]): SampleWithSpans(**r, spans=spans.get((r["problem_id"], r["sample_idx"]), []))
            for r in rows}


def first_unlikely_steps(store: Store, base_run_id: str, quant_run_id: str) -> dict[SampleKey, int | None]:
    """(problem, sample) -> `first_unlikely_step` of every scored quantized sample of the pair."""
    return {(r[0], r[1]): r[2] for r in store.query(
        """SELECT problem_id, sample_idx, first_unlikely_step FROM divergence
           WHERE base_run_id = ? AND quant_run_id = ?""", [base_run_id, quant_run_id])}


def run_models(store: Store, run_ids: Sequence[str]) -> dict[str, str]:
    """run -> model_id."""
    return dict(store.query("SELECT run_id, model_id FROM runs WHERE run_id IN (SELECT unnest(?))", [list(run_ids)]))


def write_divergence(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    store.upsert("divergence", rows)


def divergence_by_outcome(store: Store, quant_run_ids: Sequence[str] | None = None) -> list[DivergenceByOutcome]:
    """Mean KL, max KL and mean surprisal per scored lost or both-right problem, averaged over its samples,
    ordered by run pair (optionally only these quantized runs)."""
    where = "AND d.quant_run_id IN (SELECT unnest(?))" if quant_run_ids is not None else ""
    return [DivergenceByOutcome(*r) for r in store.query(
        f"""SELECT d.base_run_id, d.quant_run_id, p.outcome, avg(d.kl_mean) AS kl_mean, avg(d.kl_max) AS kl_max,
                   avg(d.surprisal_mean) AS surprisal_mean
            FROM divergence d JOIN pairs p USING (base_run_id, quant_run_id, problem_id)
            WHERE p.outcome IN ('lost', 'both_right') {where}
            GROUP BY d.base_run_id, d.quant_run_id, d.problem_id, p.outcome ORDER BY 1, 2""",
        [list(quant_run_ids)] if quant_run_ids is not None else [],
    )]
