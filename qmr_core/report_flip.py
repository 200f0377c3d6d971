"""The report's flip-prediction section: does divergence predict which problems quantization flips?"""

from __future__ import annotations

from qmr_core.diagnose.flip_prediction import METRICS, flip_prediction
from qmr_core.report import FLOAT, INT, TEXT, ReportData, ReportTable, _run_cells, _run_cols, _sort_key

SHORT = {"kl_mean": "KL mean", "kl_max": "KL max", "surprisal_mean": "q surprisal"}


def flip_prediction_table(data: ReportData) -> ReportTable | None:
    """Per quantized run: AUC (lost vs both right) of each divergence measure, with DeLong 95% bounds."""
    results = {r.quant_run_id: r for r in flip_prediction(data.store, [r.run_id for r in data.runs])}
    if not results:
        return None
    cols, kinds = _run_cols(data)
    cols += ["lost", "both right"]
    kinds += [INT, INT]
    for key in METRICS:
        cols += [f"AUC {SHORT[key]}", "lo", "hi"]
        kinds += [FLOAT, FLOAT, FLOAT]
    cols.append("run")
    kinds.append(TEXT)
    t = ReportTable("flip_prediction", "Flip prediction: AUC of divergence, lost vs both-right problems", cols, kinds)
    for run in sorted(data.runs, key=_sort_key):
        r = results.get(run.run_id)
        if r is None:
            continue
        cells = _run_cells(data, run) + [r.n_lost, r.n_both_right]
        for key in METRICS:
            a = r.auc[key]
            cells += [a.auc, a.lo, a.hi] if a else [None, None, None]
        t.rows.append(cells + [run.run_id])
    t.note = ("KL mean/max: KL(fp||quant) per token of the full-precision trace, both models under the same prefix; "
              "q surprisal: the fp model's mean surprisal on the quantized trace (post hoc, for contrast). "
              "lo/hi: DeLong 95% interval; 0.5 = chance.")
    return t
