"""Reads and writes of the grading columns of `samples` (`qmr regrade`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from qmr_core.store.records_grades import GradedSample
from qmr_core.store.store import Store


def graded_samples(store: Store, run_id: str) -> list[GradedSample]:
    """Every sample of a run with its stored grade and what grading needs (gold answer, kind, problem text)."""
    return [GradedSample(**r) for r in store.query_dicts(
        """SELECT s.run_id, s.problem_id, s.sample_idx, s.output, s.extracted_answer, s.correct, s.grade_rule,
                  s.grader_version, s.finish_reason, p.answer, p.kind, p.problem
           FROM samples s JOIN problems p USING (problem_id) WHERE s.run_id = ? ORDER BY s.problem_id, s.sample_idx""",
        [run_id],
    )]


def update_grades(store: Store, updates: Sequence[dict[str, Any]]) -> None:
    """Set extracted answer, extract method, verdict, rule and grader version of the given samples, in one
    transaction (each update names run_id, problem_id and sample_idx)."""
    with store.transaction() as con:
        con.register("_regrade", pa.Table.from_pylist(list(updates)))
        con.execute(
            """UPDATE samples SET extracted_answer = u.extracted_answer, extract_method = u.extract_method,
                      correct = u.correct, grade_rule = u.grade_rule, grader_version = u.grader_version
               FROM _regrade u
               WHERE samples.run_id = u.run_id AND samples.problem_id = u.problem_id
                 AND samples.sample_idx = u.sample_idx"""
        )
        con.unregister("_regrade")
