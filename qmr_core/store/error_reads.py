"""What `qmr errors` reads: one judge's diagnoses counted per run, error type, capability and subtype,
and the judge-free findings kept in the combined verdicts' evidence."""

from __future__ import annotations

from collections.abc import Sequence
from qmr_core.store.records import CombinedEvidence, ErrorTypeCount
from qmr_core.store.store import Store


def diagnosed_run_ids(store: Store, judge: str) -> list[str]:
    return [r[0] for r in store.query("SELECT DISTINCT run_id FROM diagnoses WHERE judge = ? ORDER BY 1", [judge])]


def count_diagnoses(store: Store, judge: str, run_ids: Sequence[str]) -> int:
    return store.query("SELECT count(*) FROM diagnoses WHERE judge = ? AND run_id IN (SELECT unnest(?))",
                       [judge, list(run_ids)])[0][0]


def error_type_counts(store: Store, run_ids: Sequence[str], judge: str) -> list[ErrorTypeCount]:
    """One judge's diagnoses counted per run, error type, capability, subtype and located, by run."""
    return [ErrorTypeCount(**r) for r in store.query_dicts(
        """SELECT d.run_id, coalesce(m.name, r.model_id) AS model, d.error_type, d.capability, d.subtype,
                  d.first_error_step IS NOT NULL AS located, count(*) AS n
           FROM diagnoses d JOIN runs r USING (run_id) LEFT JOIN models m USING (model_id)
           WHERE d.judge = ? AND d.run_id IN (SELECT unnest(?))
           GROUP BY ALL ORDER BY d.run_id""",
        [judge, list(run_ids)],
    )]


def combined_evidence(store: Store, run_ids: Sequence[str]) -> list[CombinedEvidence]:
    """The evidence of every combined verdict of the runs."""
    return [CombinedEvidence(*r) for r in store.query(
        "SELECT run_id, evidence_json FROM diagnoses WHERE judge = 'combined' AND run_id IN (SELECT unnest(?))",
        [list(run_ids)],
    )]
