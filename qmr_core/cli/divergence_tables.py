"""The flip-prediction table `qmr errors` prints (from the `divergence` table)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from qmr_core.diagnose.flip_prediction import METRICS, flip_prediction
from qmr_core.store import Store


def flip_auc_table(store: Store, run_ids: Sequence[str]) -> Table | None:
    """One column per quantized run: AUC of lost vs both right per divergence measure, DeLong 95% CI."""
    results = flip_prediction(store, run_ids)
    if not results:
        return None
    table = Table(title="flip prediction: AUC, lost vs both right (DeLong 95% CI)", header_style="bold")
    table.add_column("")
    for r in results:
        table.add_column(r.quant_run_id, justify="right")
    table.add_row("lost / both right", *[f"{r.n_lost} / {r.n_both_right}" for r in results])
    for key, label in METRICS.items():
        cells = []
        for r in results:
            a = r.auc[key]
            cells.append(a.text() if a is not None else "-")
        table.add_row(label, *cells)
    table.caption = "0.5 = no better than chance; > 0.5: lost problems diverge more"
    return table
