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
from qmr_core.store.divergence import divergence_by_outcome
from qmr_core.store.records import DivergenceByOutcome

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


def flip_prediction(store: Store, quant_run_ids: Sequence[str] | None = None) -> list[FlipPrediction]:
    """One entry per (base, quantized) run pair with stored divergence, in run order."""
    rows = divergence_by_outcome(store, quant_run_ids)
    grouped: dict[tuple[str, str], dict[str, list[DivergenceByOutcome]]] = {}
    for r in rows:
        grouped.setdefault((r.base_run_id, r.quant_run_id), {"lost": [], "both_right": []})[r.outcome].append(r)
    out = []
    for (base, quant), by in grouped.items():
        aucs = {name: delong([getattr(v, name) for v in by["lost"]], [getattr(v, name) for v in by["both_right"]])
                for name in METRICS}
        out.append(FlipPrediction(base, quant, len(by["lost"]), len(by["both_right"]), aucs))
    return out
