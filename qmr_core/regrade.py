"""Re-grade stored samples with the current grader and report what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from qmr_core.grading import GRADER_VERSION, grade
from qmr_core.store import Store


@dataclass
class RegradeReport:
    run_id: str
    n: int = 0
    now_correct: list[str] = field(default_factory=list)  # problem ids that flipped wrong -> right
    now_wrong: list[str] = field(default_factory=list)
    extraction_changed: int = 0
    old_versions: set[str] = field(default_factory=set)

    @property
    def changed(self) -> int:
        return len(self.now_correct) + len(self.now_wrong)


def regrade_run(store: Store, run_id: str, write: bool = True) -> RegradeReport:
    rows = store.query_dicts(
        """SELECT s.run_id, s.problem_id, s.sample_idx, s.output, s.extracted_answer, s.correct, s.grader_version,
                  p.answer, p.kind
           FROM samples s JOIN problems p USING (problem_id) WHERE s.run_id = ? ORDER BY s.problem_id, s.sample_idx""",
        [run_id],
    )
    report = RegradeReport(run_id, n=len(rows))
    updates = []
    for r in rows:
        verdict = grade(r["answer"], r["output"], r["kind"])
        report.old_versions.add(r["grader_version"] or "unknown")
        if verdict.correct != r["correct"]:
            (report.now_correct if verdict.correct else report.now_wrong).append(r["problem_id"])
        if verdict.extracted != r["extracted_answer"]:
            report.extraction_changed += 1
        updates.append(
            {
                "run_id": r["run_id"],
                "problem_id": r["problem_id"],
                "sample_idx": r["sample_idx"],
                "extracted_answer": verdict.extracted,
                "extract_method": verdict.extract_method,
                "correct": bool(verdict.correct),
                "grade_rule": verdict.rule,
                "grader_version": GRADER_VERSION,
            }
        )
    if write and updates:
        with store.transaction() as con:
            con.register("_regrade", pa.Table.from_pylist(updates))
            con.execute(
                """UPDATE samples SET extracted_answer = u.extracted_answer, extract_method = u.extract_method,
                          correct = u.correct, grade_rule = u.grade_rule, grader_version = u.grader_version
                   FROM _regrade u
                   WHERE samples.run_id = u.run_id AND samples.problem_id = u.problem_id
                     AND samples.sample_idx = u.sample_idx"""
            )
            con.unregister("_regrade")
    return report
