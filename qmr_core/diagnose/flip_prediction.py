"""Does per-problem divergence predict which problems quantization flips? AUC, lost vs both right.

Per problem (samples averaged; greedy runs have one), from the `divergence` table:
- ``kl_mean``: mean per-token KL(fp || quant) on the full-precision trace. It needs only the fp
  trace and both models' distributions, not what the quantized model wrote: the honest predictor.
- ``kl_max``: the largest per-token KL on that trace.
- ``surprisal_mean``: the fp model's mean surprisal on the *quantized* trace. Post hoc: a lost
  problem's trace differs from the fp trace by construction, so a high AUC here is expected and says
  little; it is shown for contrast.
Positives are lost problems, negatives both-right ones; an AUC above 0.5 means lost problems diverge more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qmr_core.diagnose.auc import AucResult, delong
from qmr_core.store import Store

METRICS = {
    "kl_mean": "mean KL(fp||q), fp trace",
    "kl_max": "max KL(fp||q), fp trace",
    "surprisal_mean": "fp surprisal of q trace (post hoc)",
}


@dataclass(frozen=True)
class FlipPrediction:
    base_run_id: str
    quant_run_id: str
    n_lost: int
    n_both_right: int
    auc: dict[str, AucResult | None]  # metric -> AUC with DeLong 95% interval


def _has_divergence(store: Store) -> bool:
    return bool(store.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'divergence'"))


def flip_prediction(store: Store, quant_run_ids: Sequence[str] | None = None) -> list[FlipPrediction]:
    """One entry per (base, quantized) run pair with stored divergence, in run order."""
    if not _has_divergence(store):
        return []
    where = "AND d.quant_run_id IN (SELECT unnest(?))" if quant_run_ids is not None else ""
    rows = store.query(
        f"""SELECT d.base_run_id, d.quant_run_id, p.outcome, avg(d.kl_mean), avg(d.kl_max), avg(d.surprisal_mean)
            FROM divergence d JOIN pairs p USING (base_run_id, quant_run_id, problem_id)
            WHERE p.outcome IN ('lost', 'both_right') {where}
            GROUP BY d.base_run_id, d.quant_run_id, d.problem_id, p.outcome ORDER BY 1, 2""",
        [list(quant_run_ids)] if quant_run_ids is not None else [],
    )
    grouped: dict[tuple[str, str], dict[str, list[tuple]]] = {}
    for base, quant, outcome, *values in rows:
        grouped.setdefault((base, quant), {"lost": [], "both_right": []})[outcome].append(tuple(values))
    out = []
    for (base, quant), by in grouped.items():
        aucs = {name: delong([v[k] for v in by["lost"]], [v[k] for v in by["both_right"]])
                for k, name in enumerate(METRICS)}
        out.append(FlipPrediction(base, quant, len(by["lost"]), len(by["both_right"]), aucs))
    return out
