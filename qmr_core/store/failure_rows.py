"""Reading a comparison's failure table: one row per (quantized run, problem), with display columns.

The rows hold sample 0 of each run (the trace that is shown): the outcome from the samples' `correct`
flags (so the table works before `qmr compare`), the chosen judge's diagnosis of the failing side, how
many other judges agree, `qmr compare`'s first divergent step and similarity, and the researcher's
annotation (an Arrow table registered as `ann`). browse/failures.py filters and sorts them in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

ROWS_SQL = """
WITH q AS (
    SELECT run_id, problem_id, correct, extracted_answer FROM samples
    WHERE sample_idx = 0 AND run_id IN (SELECT unnest($quants))
), b AS (
    SELECT problem_id, correct, extracted_answer FROM samples WHERE sample_idx = 0 AND run_id = $base
), k AS (
    SELECT q.run_id AS quant_run_id, q.problem_id,
           CASE WHEN b.correct AND NOT q.correct THEN 'lost'
                WHEN NOT b.correct AND q.correct THEN 'gained'
                WHEN b.correct THEN 'both_right' ELSE 'both_wrong' END AS outcome,
           b.extracted_answer AS base_answer, q.extracted_answer AS quant_answer
    FROM q JOIN b USING (problem_id)
), kd AS (
    SELECT *, CASE WHEN outcome = 'gained' THEN $base ELSE quant_run_id END AS diag_run_id FROM k
), sel AS (
    SELECT run_id, problem_id, judge, first_error_step, error_type, capability FROM diagnoses
    WHERE sample_idx = 0 AND judge = $judge AND run_id IN (SELECT unnest($runs))
), labels AS (
    SELECT unnest($label_runs) AS run_id, unnest($label_names) AS label
), agree AS (
    -- only the other judges that located a step count (never the combined row: it is derived from them)
    SELECT d.run_id, d.problem_id,
           count(*) FILTER (WHERE d.first_error_step IS NOT NULL AND d.judge NOT IN (s.judge, 'combined')) AS n_judges,
           count(*) FILTER (WHERE d.first_error_step = s.first_error_step AND d.judge NOT IN (s.judge, 'combined')) AS n_agree,
           bool_or(s.first_error_step IS NULL) AS unlocated
    FROM diagnoses d JOIN sel s ON s.run_id = d.run_id AND s.problem_id = d.problem_id
    WHERE d.sample_idx = 0
    GROUP BY d.run_id, d.problem_id
)
SELECT kd.quant_run_id, kd.problem_id, kd.outcome, p.subject, p.level, p.answer AS gold,
       kd.base_answer, kd.quant_answer, kd.diag_run_id,
       sel.error_type, sel.first_error_step, sel.capability,
       agree.n_judges, agree.n_agree,
       pr.first_divergent_step, pr.similarity,
       a.verdict, a.note, a.first_error_step AS ann_step, a.error_type AS ann_type,
       lab.label AS quant,
       CASE kd.outcome WHEN 'lost' THEN 0 WHEN 'gained' THEN 1 WHEN 'both_wrong' THEN 2 ELSE 3 END AS outcome_rank,
       kd.quant_run_id || chr(31) || kd.problem_id AS row_key,
       {display}
FROM kd
JOIN problems p USING (problem_id)
JOIN labels lab ON lab.run_id = kd.quant_run_id
LEFT JOIN sel ON sel.run_id = kd.diag_run_id AND sel.problem_id = kd.problem_id
LEFT JOIN agree ON agree.run_id = kd.diag_run_id AND agree.problem_id = kd.problem_id
LEFT JOIN pairs pr ON pr.base_run_id = $base AND pr.quant_run_id = kd.quant_run_id AND pr.problem_id = kd.problem_id
LEFT JOIN ann a ON a.run_id = kd.diag_run_id AND a.problem_id = kd.problem_id AND a.sample_idx = 0
ORDER BY outcome_rank, p.subject, p.level, kd.problem_id, lab.label
"""

_KD_FROM = "quant_run_id END AS diag_run_id FROM k"

SEARCH_SQL = """
SELECT q.run_id AS quant_run_id, q.problem_id
FROM samples q
JOIN samples b ON b.run_id = $base AND b.problem_id = q.problem_id AND b.sample_idx = 0
JOIN problems p ON p.problem_id = q.problem_id
WHERE q.sample_idx = 0 AND q.run_id IN (SELECT unnest($quants))
  AND (contains(lower(p.problem), $needle) OR contains(lower(q.output), $needle) OR contains(lower(b.output), $needle))
"""


def _short(column: str, width: int) -> str:
    return f"CASE WHEN length({column}) > {width} THEN left({column}, {width - 1}) || '…' ELSE {column} END"


# The table's columns, formatted once at load time (name in the table, SQL over the joined rows).
DISPLAY = [
    ("outcome", "kd.outcome"),
    ("quant", "lab.label"),
    ("subject", _short("coalesce(p.subject, '')", 14)),
    ("lvl", "coalesce(p.level::VARCHAR, '')"),
    ("gold", _short("p.answer", 12)),
    ("base", _short("coalesce(kd.base_answer, '∅')", 12)),
    ("quantized", _short("coalesce(kd.quant_answer, '∅')", 12)),
    ("error", "coalesce(sel.error_type, '')"),
    ("step", "coalesce((sel.first_error_step + 1)::VARCHAR, '')"),
    ("agree", "CASE WHEN agree.unlocated THEN 'none' WHEN agree.n_judges > 0 "
              "THEN agree.n_agree::VARCHAR || '/' || agree.n_judges::VARCHAR ELSE '' END"),
    ("you", "coalesce(a.verdict, CASE WHEN a.note IS NOT NULL THEN 'note' END, '')"),
    ("problem", "kd.problem_id"),
]


def _display_sql() -> str:
    return ",\n       ".join(f"{sql} AS d_{name}" for name, sql in DISPLAY)


DISPLAY_NAMES = tuple(name for name, _ in DISPLAY)


def judge_counts(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> list[tuple[str, int]]:
    """Judges that diagnosed samples of the runs, most diagnoses first."""
    rows = con.execute(
        "SELECT judge, count(*) FROM diagnoses WHERE run_id IN (SELECT unnest(?)) GROUP BY 1 ORDER BY 2 DESC, 1",
        [list(run_ids)],
    ).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def comparison_rows(
    con: duckdb.DuckDBPyConnection, base_run_id: str, quant_run_ids: Sequence[str], judge: str | None,
    labels: dict[str, str], annotations: pa.Table, outcome: str | None = None, limit: int | None = None,
) -> pa.Table:
    """Every row of the comparison in display order; `outcome` and `limit` ask for a first page only."""
    con.register("ann", annotations)
    params = {
        "base": base_run_id,
        "quants": list(quant_run_ids),
        "runs": [base_run_id, *quant_run_ids],
        "judge": judge,
        "label_runs": list(labels),
        "label_names": list(labels.values()),
    }
    sql = ROWS_SQL.replace("{display}", _display_sql())
    if outcome is not None:
        sql = sql.replace(_KD_FROM, _KD_FROM + " WHERE outcome = $outcome")
        params["outcome"] = outcome
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return con.sql(sql, params=params).to_arrow_table()


def search_matches(con: duckdb.DuckDBPyConnection, base_run_id: str, quant_run_ids: Sequence[str], text: str) -> pa.Table:
    """(quant_run_id, problem_id) of the rows whose problem or either trace contains `text` (any case)."""
    params = {"base": base_run_id, "quants": list(quant_run_ids), "needle": text.lower()}
    return con.sql(SEARCH_SQL, params=params).to_arrow_table()
