"""Numbers for the summary screen: accuracy and degradation, outcomes, error types, judge accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from qmr_core.review.annotations import empty_annotations
from qmr_core.browse.runs import Comparison
from qmr_core.sensitivity.grid import Grid, load_grid
from qmr_core.store import Store
from qmr_core.store.records import ErrorCount, JudgeAgreement, RunSummary
from qmr_core.store.summary_reads import error_counts, judge_agreement, latest_sensitivity_id, outcome_counts

@dataclass(frozen=True)
class AccuracyRow:
    run: RunSummary
    base: RunSummary | None

    @property
    def delta(self) -> float | None:
        """Accuracy change vs the full-precision base, in absolute terms (negative = worse)."""
        if self.base is None or self.run.accuracy is None or self.base.accuracy is None or self.run.full_precision:
            return None
        return self.run.accuracy - self.base.accuracy

    @property
    def relative(self) -> float | None:
        """Relative degradation (acc_fp - acc_q) / acc_fp, what papers quote."""
        if self.delta is None or not self.base or not self.base.accuracy:
            return None
        return -self.delta / self.base.accuracy


@dataclass
class Summary:
    accuracy: list[AccuracyRow]
    outcomes: dict[str, dict[str, int]]  # quant run id -> outcome -> count
    errors: dict[str, list[ErrorCount]]  # run id -> its error types and capabilities, counted
    judges: list[JudgeAgreement]
    annotated: int
    verdicts: dict[str, int] = field(default_factory=dict)
    sensitivity: Grid | None = None  # the newest layer-wise analysis of the base model (any model if none)


def accuracy_rows(runs: list[RunSummary]) -> list[AccuracyRow]:
    rows = []
    for r in runs:
        bases = [b for b in runs if b.full_precision and b.model_id == r.family and b.comparable(r)]
        base = max(bases, key=lambda b: b.n) if bases else None
        rows.append(AccuracyRow(r, base))
    return sorted(rows, key=lambda a: (a.run.family, a.run.benchmark, a.run.method != "none", a.run.method, -(a.run.bits or 99)))


def judge_scores(store: Store, annotations: pa.Table) -> list[JudgeAgreement]:
    with store.connect(read_only=True) as con:
        return judge_agreement(con, annotations)


def load_summary(
    store: Store, runs: list[RunSummary], comparison: Comparison | None, judge: str | None, annotations: pa.Table | None
) -> Summary:
    ann = annotations if annotations is not None else empty_annotations()
    outcomes: dict[str, dict[str, int]] = {}
    errors: dict[str, list[ErrorCount]] = {}
    with store.connect(read_only=True) as con:
        if comparison is not None:
            outcomes = outcome_counts(con, comparison.base_run_id, comparison.quant_run_ids)
            if judge is not None:
                errors = error_counts(con, comparison.run_ids, judge)
        judges = judge_agreement(con, ann)
    verdicts: dict[str, int] = {}
    for v in ann.column("verdict").to_pylist():
        if v:
            verdicts[v] = verdicts.get(v, 0) + 1
    base_model = next((r.model_id for r in runs if comparison is not None and r.run_id == comparison.base_run_id), None)
    grid = latest_grid(store, base_model)
    return Summary(accuracy_rows(runs), outcomes, errors, judges, sum(verdicts.values()), verdicts, grid)


def latest_grid(store: Store, model_id: str | None) -> Grid | None:
    """The newest sensitivity analysis, preferring one of `model_id`; None when the store has none."""
    sens_id = latest_sensitivity_id(store, model_id)
    return load_grid(store, sens_id) if sens_id is not None else None
