"""Reads of the eval store for blind review (`qmr review`, `qmr judge-accuracy`).

The review sets and labels themselves live in the annotations side file (qmr_core/review/store.py);
these are the rows of the eval store a review draws from.
"""

from __future__ import annotations

from collections.abc import Sequence
from qmr_core.store.records_grades import DiagnosedFailure, RunWithBaseModel
from qmr_core.store.store import Store


def runs_with_base_model(store: Store) -> list[RunWithBaseModel]:
    """Every run with its model's base model, in run-id order."""
    return [RunWithBaseModel(*r) for r in store.query(
        "SELECT r.run_id, m.base_model_id FROM runs r LEFT JOIN models m USING (model_id) ORDER BY r.run_id")]


def diagnosed_failures(store: Store, judge: str, run_ids: Sequence[str]) -> list[DiagnosedFailure]:
    """Wrong greedy samples (sample 0) of these runs that ``judge`` diagnosed: subject, level, error type."""
    return [DiagnosedFailure(**r) for r in store.query_dicts(
        """SELECT s.run_id, s.problem_id, s.sample_idx, p.subject, p.level, d.error_type
           FROM samples s JOIN problems p USING (problem_id)
           JOIN diagnoses d ON d.run_id = s.run_id AND d.problem_id = s.problem_id AND d.sample_idx = s.sample_idx AND d.judge = ?
           WHERE NOT s.correct AND s.sample_idx = 0 AND s.run_id IN (SELECT unnest(?))
           ORDER BY s.run_id, s.problem_id""",
        [judge, list(run_ids)],
    )]
