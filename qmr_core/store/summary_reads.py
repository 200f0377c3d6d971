"""The summary screen's reads: outcome counts of a comparison, error types per judge, judge accuracy
against the researcher's annotations (an Arrow table registered as `ann`), the newest sensitivity analysis."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from qmr_core.store.records import ErrorCount, JudgeAgreement
from qmr_core.store.store import Store

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


def outcome_counts(con: duckdb.DuckDBPyConnection, base_run_id: str,
                   quant_run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """quantized run -> outcome -> problems, from sample 0 of each run."""
    rows = con.execute(OUTCOME_SQL, {"base": base_run_id, "quants": list(quant_run_ids)}).fetchall()
    return {run_id: {"lost": lost, "gained": gained, "both_right": right, "both_wrong": wrong}
            for run_id, lost, gained, right, wrong in rows}


def error_counts(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str], judge: str) -> dict[str, list[ErrorCount]]:
    """run -> one judge's diagnoses counted per error type and capability, most frequent first."""
    out: dict[str, list[ErrorCount]] = {}
    for run_id, etype, cap, n in con.execute(ERRORS_SQL, {"runs": list(run_ids), "judge": judge}).fetchall():
        out.setdefault(run_id, []).append(ErrorCount(etype, cap, int(n)))
    return out


def judge_agreement(con: duckdb.DuckDBPyConnection, annotations: pa.Table) -> list[JudgeAgreement]:
    """Per judge: annotated samples, step right, type right and both right against the researcher's verdicts."""
    con.register("ann", annotations)
    return [JudgeAgreement(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in con.execute(JUDGE_SQL).fetchall()]


def latest_sensitivity_id(store: Store, model_id: str | None) -> str | None:
    """The newest sensitivity analysis, preferring one of `model_id`; None when the store has none."""
    rows = store.query(
        "SELECT sens_id FROM sensitivity_runs ORDER BY (model_id = ?) DESC NULLS LAST, created_at DESC LIMIT 1",
        [model_id],
    )
    return rows[0][0] if rows else None
