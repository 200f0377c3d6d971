"""Numbers for the summary screen: accuracy and degradation, outcomes, error types, judge accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from qmr_core.review.annotations import empty_annotations
from qmr_core.browse.runs import Comparison, RunInfo
from qmr_core.sensitivity.grid import Grid, load_grid
from qmr_core.store import Store

OUTCOME_SQL = """
SELECT q.run_id,
       count(*) FILTER (WHERE b.correct AND NOT q.correct) AS lost,
       count(*) FILTER (WHERE NOT b.correct AND q.correct) AS gained,
       count(*) FILTER (WHERE b.correct AND q.correct) AS both_right,
       count(*) FILTER (WHERE NOT b.correct AND NOT q.correct) AS both_wrong
FROM samples q JOIN samples b ON b.run_id = $base AND b.problem_id = q.problem_id AND b.sample_idx = q.sample_idx
WHERE q.run_id IN (SELECT unnest($quants)) AND q.sample_idx = 0
GROUP BY 1
"""

ERRORS_SQL = """
SELECT run_id, coalesce(error_type, '(none)') AS error_type, coalesce(capability, '(none)') AS capability, count(*) AS n
FROM diagnoses WHERE run_id IN (SELECT unnest($runs)) AND judge = $judge AND sample_idx = 0
GROUP BY ALL ORDER BY 1, 4 DESC
"""

JUDGE_SQL = """
SELECT d.judge, count(*) AS n,
       count(*) FILTER (WHERE d.first_error_step IS NOT DISTINCT FROM a.first_error_step) AS step_ok,
       count(*) FILTER (WHERE d.error_type IS NOT DISTINCT FROM a.error_type) AS type_ok,
       count(*) FILTER (WHERE d.first_error_step IS NOT DISTINCT FROM a.first_error_step
                        AND d.error_type IS NOT DISTINCT FROM a.error_type) AS both_ok
FROM diagnoses d JOIN ann a USING (run_id, problem_id, sample_idx)
WHERE a.verdict IS NOT NULL
GROUP BY 1 ORDER BY 1
"""


@dataclass(frozen=True)
class AccuracyRow:
    run: RunInfo
    base: RunInfo | None

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


@dataclass(frozen=True)
class JudgeScore:
    judge: str
    n: int
    step_ok: int
    type_ok: int
    both_ok: int

    @property
    def step_accuracy(self) -> float:
        return self.step_ok / self.n if self.n else 0.0

    @property
    def type_accuracy(self) -> float:
        return self.type_ok / self.n if self.n else 0.0


@dataclass
class Summary:
    accuracy: list[AccuracyRow]
    outcomes: dict[str, dict[str, int]]  # quant run id -> outcome -> count
    errors: dict[str, list[tuple[str, str, int]]]  # run id -> [(error_type, capability, n)]
    judges: list[JudgeScore]
    annotated: int
    verdicts: dict[str, int] = field(default_factory=dict)
    sensitivity: Grid | None = None  # the newest layer-wise analysis of the base model (any model if none)


def accuracy_rows(runs: list[RunInfo]) -> list[AccuracyRow]:
    rows = []
    for r in runs:
        bases = [b for b in runs if b.full_precision and b.model_id == r.family and b.comparable(r)]
        base = max(bases, key=lambda b: b.n) if bases else None
        rows.append(AccuracyRow(r, base))
    return sorted(rows, key=lambda a: (a.run.family, a.run.benchmark, a.run.method != "none", a.run.method, -(a.run.bits or 99)))


def judge_scores(store: Store, annotations: pa.Table) -> list[JudgeScore]:
    with store.connect(read_only=True) as con:
        con.register("ann", annotations)
        return [JudgeScore(*r) for r in con.execute(JUDGE_SQL).fetchall()]


def load_summary(
    store: Store, runs: list[RunInfo], comparison: Comparison | None, judge: str | None, annotations: pa.Table | None
) -> Summary:
    ann = annotations if annotations is not None else empty_annotations()
    outcomes: dict[str, dict[str, int]] = {}
    errors: dict[str, list[tuple[str, str, int]]] = {}
    with store.connect(read_only=True) as con:
        if comparison is not None:
            for run_id, lost, gained, right, wrong in con.execute(
                OUTCOME_SQL, {"base": comparison.base_run_id, "quants": list(comparison.quant_run_ids)}
            ).fetchall():
                outcomes[run_id] = {"lost": lost, "gained": gained, "both_right": right, "both_wrong": wrong}
            if judge is not None:
                for run_id, etype, cap, n in con.execute(
                    ERRORS_SQL, {"runs": list(comparison.run_ids), "judge": judge}
                ).fetchall():
                    errors.setdefault(run_id, []).append((etype, cap, int(n)))
        con.register("ann", ann)
        judges = [JudgeScore(*r) for r in con.execute(JUDGE_SQL).fetchall()]
    verdicts: dict[str, int] = {}
    for v in ann.column("verdict").to_pylist():
        if v:
            verdicts[v] = verdicts.get(v, 0) + 1
    base_model = next((r.model_id for r in runs if comparison is not None and r.run_id == comparison.base_run_id), None)
    grid = latest_grid(store, base_model)
    return Summary(accuracy_rows(runs), outcomes, errors, judges, sum(verdicts.values()), verdicts, grid)


def latest_grid(store: Store, model_id: str | None) -> Grid | None:
    """The newest sensitivity analysis, preferring one of `model_id`; None when the store has none."""
    try:
        rows = store.query(
            "SELECT sens_id FROM sensitivity_runs ORDER BY (model_id = ?) DESC NULLS LAST, created_at DESC LIMIT 1",
            [model_id],
        )
    except duckdb.CatalogException:  # a store from before schema v4, opened read-only
        return None
    return load_grid(store, rows[0][0]) if rows else None
