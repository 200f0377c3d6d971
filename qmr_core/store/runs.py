"""Reading runs: the one RunSummary read model of `qmr runs`, the browser and the report."""

from __future__ import annotations

import duckdb

from qmr_core.store.labels import short_quant_label
from qmr_core.store.lease import with_shown_status
from qmr_core.store.records import RunSummary
from qmr_core.store.store import Store

# The precision columns next to method/bits/...: what the weights were at their source and the
# dtype the run computed in (needs `models m` and `runs r` in the query).
PRECISION_COLUMNS = "m.source_precision, json_extract_string(r.engine_json, '$.dtype') AS run_dtype"

RUN_SUMMARY_SQL = f"""
SELECT r.run_id, r.model_id, coalesce(m.name, r.model_id) AS model, m.base_model_id,
       coalesce(b.name, m.base_model_id, coalesce(m.name, r.model_id)) AS family_name,
       coalesce(m.method, 'none') AS method, m.bits, m.group_size, m.act_bits, {PRECISION_COLUMNS},
       r.benchmark, r.prompt_template, r.prompt_text, r.decoding_json, r.engine, r.status,
       r.created_at, r.finished_at, r.parent_run_id,
       count(s.problem_id) AS n,
       avg(CASE WHEN s.correct THEN 1.0 ELSE 0.0 END) AS accuracy,
       avg(CASE WHEN s.step_format = 'tagged' THEN 1.0 ELSE 0.0 END) AS format_rate,
       avg(CASE WHEN s.finish_reason = 'length' THEN 1.0 ELSE 0.0 END) AS truncation_rate,
       sum(s.n_tokens) AS tokens
FROM runs r
LEFT JOIN models m USING (model_id)
LEFT JOIN models b ON b.model_id = m.base_model_id
LEFT JOIN samples s USING (run_id)
GROUP BY ALL
ORDER BY r.created_at, r.run_id
"""


def run_summaries(store: Store) -> list[RunSummary]:
    """Every run with its counts, oldest first; `status` is `interrupted` for a `running` run whose process is gone."""
    return with_shown_status(store, [RunSummary(**r) for r in store.query_dicts(RUN_SUMMARY_SQL)])


def run_summary(store: Store, run_id: str) -> RunSummary | None:
    return next((r for r in run_summaries(store) if r.run_id == run_id), None)


def has_runs(store: Store) -> bool:
    return bool(store.query("SELECT 1 FROM runs LIMIT 1"))


def list_run_ids(store: Store, prefix: str = "") -> list[str]:
    """Every run id, oldest run first; with `prefix`, the ids that start with it, in id order."""
    if not prefix:
        return [r[0] for r in store.query("SELECT run_id FROM runs ORDER BY created_at")]
    return [r[0] for r in store.query("SELECT run_id FROM runs WHERE run_id LIKE ? ORDER BY run_id", [prefix + "%"])]


def run_labels(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, str]:
    """run id -> its short quantization label ('rtn w4g64', 'bf16'), for the runs that exist."""
    rows = con.execute(
        f"""SELECT r.run_id, coalesce(m.method, 'none'), m.bits, m.group_size, m.act_bits, {PRECISION_COLUMNS}
            FROM runs r LEFT JOIN models m USING (model_id) WHERE r.run_id IN (SELECT unnest(?))""",
        [run_ids],
    ).fetchall()
    return {run_id: short_quant_label(*label) for run_id, *label in rows}
