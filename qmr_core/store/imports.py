"""Reads and writes of the importers (`qmr import`): the imported run's row, the tool's own verdicts
(`external_verdicts`) and how they agree with qmr's regrade, and the rendered-prompt check that tells
whether two runs (an imported and a native one) saw the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qmr_core.store.records_compare import VerdictAgreement, VerdictDisagreement
from qmr_core.store.store import Store, upsert_rows


def write_imported_run(store: Store, row: dict[str, Any]) -> None:
    """A new run row, finished now; an imported run seen before keeps its row, with the new engine details."""
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [row["run_id"]]).fetchone():
            con.execute("UPDATE runs SET engine_json = ?, status = 'done', finished_at = current_timestamp WHERE run_id = ?",
                        [row["engine_json"], row["run_id"]])
        else:
            upsert_rows(con, "runs", [row])
            con.execute("UPDATE runs SET finished_at = current_timestamp WHERE run_id = ?", [row["run_id"]])


def write_external_verdicts(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        store.upsert("external_verdicts", rows)


def verdict_agreement(store: Store, run_ids: Sequence[str] | None = None) -> list[VerdictAgreement]:
    """Per (run, source, metric): samples, tool right, qmr right, disagreeing; all runs for None."""
    return [VerdictAgreement(*r) for r in store.query(
        """SELECT e.run_id, e.source, e.metric, count(*), count(*) FILTER (WHERE e.correct),
                  count(*) FILTER (WHERE s.correct), count(*) FILTER (WHERE e.correct <> s.correct)
           FROM external_verdicts e JOIN samples s USING (run_id, problem_id, sample_idx)
           WHERE e.correct IS NOT NULL AND (? OR e.run_id IN (SELECT unnest(?)))
           GROUP BY ALL ORDER BY ALL""",
        [run_ids is None, list(run_ids or [])],
    )]


def verdict_disagreements(store: Store, run_id: str, metric: str | None = None) -> list[VerdictDisagreement]:
    """The run's samples the tool judged otherwise than qmr (under `metric` only, when given)."""
    return [VerdictDisagreement(**r) for r in store.query_dicts(
        """SELECT e.problem_id, e.sample_idx, e.source, e.metric, e.correct AS tool_correct, e.extracted AS tool_answer,
                  s.correct AS qmr_correct, s.extracted_answer AS qmr_answer, s.grade_rule
           FROM external_verdicts e JOIN samples s USING (run_id, problem_id, sample_idx)
           WHERE e.run_id = ? AND e.correct IS NOT NULL AND e.correct <> s.correct AND (? IS NULL OR e.metric = ?)
           ORDER BY e.problem_id, e.sample_idx, e.metric""",
        [run_id, metric, metric],
    )]


def paired_prompt_counts(store: Store, base_run_id: str, quant_run_id: str, problem_ids: Sequence[str]) -> tuple[int, int]:
    """(problems both runs stored a prompt for, of those with different prompts), on sample 0 of each."""
    rows = store.query(
        """SELECT count(*) FILTER (WHERE b.prompt IS NOT NULL AND q.prompt IS NOT NULL),
                  count(*) FILTER (WHERE b.prompt IS NOT NULL AND q.prompt IS NOT NULL AND b.prompt <> q.prompt)
           FROM samples b JOIN samples q USING (problem_id, sample_idx)
           WHERE b.run_id = ? AND q.run_id = ? AND b.sample_idx = 0 AND b.problem_id IN (SELECT unnest(?))""",
        [base_run_id, quant_run_id, list(problem_ids)],
    )
    known, differ = rows[0] if rows else (0, 0)
    return int(known), int(differ)
