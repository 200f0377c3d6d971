"""Reads and writes of `qmr compare`'s tables: `pairs`, `step_alignments`, `comparisons`.

Also the reads compare needs from `runs`/`samples`/`steps` to pair two runs. A run's identity and the paired
scores are records (records_compare.py), the rest plain values; the pairing itself lives in qmr_core/compare/.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from qmr_core.errors import QmrError
from qmr_core.store.records_compare import PairedScore, RunIdentity
from qmr_core.store.store import Store, upsert_rows


def run_info(store: Store, run_id: str) -> RunIdentity:
    """The run's identity for pairing: model (name), base model, benchmark, prompt, decoding, engine."""
    rows = store.query_dicts(
        """SELECT r.run_id, r.model_id, coalesce(m.name, r.model_id) AS model, m.base_model_id, r.benchmark,
                  r.prompt_text, r.decoding_json, r.engine
           FROM runs r LEFT JOIN models m USING (model_id) WHERE r.run_id = ?""",
        [run_id],
    )
    if not rows:
        raise QmrError(f"no run '{run_id}' in {store.path}")
    return RunIdentity(**rows[0])


def matching_runs(store: Store, model_id: str, benchmark: str, prompt_text: str, decoding_json: str) -> list[str]:
    """Runs of a model with the same benchmark, prompt and decoding, oldest first."""
    rows = store.query(
        """SELECT run_id FROM runs WHERE model_id = ? AND benchmark = ? AND prompt_text = ? AND decoding_json = ?
           ORDER BY created_at""",
        [model_id, benchmark, prompt_text, decoding_json],
    )
    return [r[0] for r in rows]


def paired_scores(store: Store, base_run_id: str, quant_run_id: str) -> list[PairedScore]:
    """Per problem of either run: each run's score (fraction right) and sample count, subject and level."""
    return [PairedScore(**r) for r in store.query_dicts(
        """WITH b AS (SELECT problem_id, avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS score, count(*) AS n
                      FROM samples WHERE run_id = ? GROUP BY problem_id),
                q AS (SELECT problem_id, avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS score, count(*) AS n
                      FROM samples WHERE run_id = ? GROUP BY problem_id)
           SELECT coalesce(b.problem_id, q.problem_id) AS problem_id, b.score AS base_score, q.score AS quant_score,
                  b.n AS base_n, q.n AS quant_n, p.subject, p.level
           FROM b FULL OUTER JOIN q USING (problem_id)
           LEFT JOIN problems p ON p.problem_id = coalesce(b.problem_id, q.problem_id)
           ORDER BY 1""",
        [base_run_id, quant_run_id],
    )]


def first_sample_steps(store: Store, run_id: str, problem_ids: list[str]) -> dict[str, list[str]]:
    """problem -> the step texts of its sample 0, in order."""
    rows = store.query(
        """SELECT problem_id, text FROM steps WHERE run_id = ? AND sample_idx = 0
           AND problem_id IN (SELECT unnest(?)) ORDER BY problem_id, step_idx""",
        [run_id, problem_ids],
    )
    out: dict[str, list[str]] = {}
    for pid, text in rows:
        out.setdefault(pid, []).append(text)
    return out


def write_comparison(store: Store, base_run_id: str, quant_run_id: str, pair_rows: Sequence[dict[str, Any]],
                     alignment_rows: Sequence[dict[str, Any]], summary_json: str) -> None:
    """Replace a run pair's `pairs`, `step_alignments` and `comparisons` rows in one transaction."""
    key = [base_run_id, quant_run_id]
    with store.transaction() as con:
        con.execute("DELETE FROM pairs WHERE base_run_id = ? AND quant_run_id = ?", key)
        con.execute("DELETE FROM step_alignments WHERE base_run_id = ? AND quant_run_id = ?", key)
        upsert_rows(con, "pairs", pair_rows)
        upsert_rows(con, "step_alignments", alignment_rows)
        con.execute(
            "INSERT OR REPLACE INTO comparisons (base_run_id, quant_run_id, summary_json) VALUES (?, ?, ?)",
            [*key, summary_json],
        )


def step_alignments(con: duckdb.DuckDBPyConnection, base_run_id: str, quant_run_id: str, problem_id: str,
                     sample_idx: int = 0) -> list[tuple[int | None, int | None]] | None:
    """`qmr compare`'s alignment of one problem as (base step, quant step) per position; None when not stored."""
    rows = con.execute(
        """SELECT base_step_idx, quant_step_idx FROM step_alignments
           WHERE base_run_id = ? AND quant_run_id = ? AND problem_id = ? AND sample_idx = ? ORDER BY pos""",
        [base_run_id, quant_run_id, problem_id, sample_idx],
    ).fetchall()
    return [(r[0], r[1]) for r in rows] or None


def problems_with_outcome(store: Store, base_run_id: str, quant_run_id: str, outcomes: Sequence[str]) -> list[str]:
    """The paired problems whose outcome is one of ``outcomes``, in problem order."""
    return [r[0] for r in store.query(
        """SELECT problem_id FROM pairs WHERE base_run_id = ? AND quant_run_id = ? AND outcome IN (SELECT unnest(?))
           ORDER BY problem_id""", [base_run_id, quant_run_id, list(outcomes)])]


def first_divergent_steps(store: Store, base_run_id: str, quant_run_id: str) -> dict[str, int | None]:
    """problem -> the first quantized step that differs from the base trace (compare's alignment)."""
    return dict(store.query(
        "SELECT problem_id, first_divergent_step FROM pairs WHERE base_run_id = ? AND quant_run_id = ?",
        [base_run_id, quant_run_id]))


def compared_base_runs(store: Store) -> dict[str, str]:
    """quantized run -> a base run it was compared with."""
    return dict(store.query("SELECT quant_run_id, any_value(base_run_id) FROM pairs GROUP BY 1"))
