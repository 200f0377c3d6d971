"""What `qmr errors` reads: one judge's diagnoses counted per run, error type, capability and subtype,
and the judge-free findings kept in the combined verdicts' evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qmr_core.store.store import Store


def diagnosed_run_ids(store: Store, judge: str) -> list[str]:
    return [r[0] for r in store.query("SELECT DISTINCT run_id FROM diagnoses WHERE judge = ? ORDER BY 1", [judge])]


def count_diagnoses(store: Store, judge: str, run_ids: Sequence[str]) -> int:
    return store.query("SELECT count(*) FROM diagnoses WHERE judge = ? AND run_id IN (SELECT unnest(?))",
                       [judge, list(run_ids)])[0][0]


def error_type_counts(store: Store, run_ids: Sequence[str], judge: str) -> list[dict[str, Any]]:
    """Rows of (run_id, model, error_type, capability, subtype, located, n) for one judge, by run."""
    return store.query_dicts(
        """SELECT d.run_id, coalesce(m.name, r.model_id) AS model, d.error_type, d.capability, d.subtype,
                  d.first_error_step IS NOT NULL AS located, count(*) AS n
           FROM diagnoses d JOIN runs r USING (run_id) LEFT JOIN models m USING (model_id)
           WHERE d.judge = ? AND d.run_id IN (SELECT unnest(?))
           GROUP BY ALL ORDER BY d.run_id""",
        [judge, list(run_ids)],
    )


def combined_evidence(store: Store, run_ids: Sequence[str]) -> list[tuple[str, str | None]]:
    """(run_id, evidence_json) of every combined verdict of the runs."""
    return store.query(
        "SELECT run_id, evidence_json FROM diagnoses WHERE judge = 'combined' AND run_id IN (SELECT unnest(?))",
        [list(run_ids)],
    )
