"""Re-grade stored samples with the current grader and report what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from qmr_core.grading import GRADER_VERSION, grade, warm_up
from qmr_core.store import Store


@dataclass(frozen=True)
class Flip:
    """One verdict the current grader changes: before -> after, and the rules that decided each."""

    problem_id: str
    sample_idx: int
    was_correct: bool
    now_correct: bool
    old_answer: str | None
    new_answer: str | None
    old_rule: str | None
    new_rule: str
    new_method: str

    def describe(self) -> str:
        arrow = "wrong -> right" if self.now_correct else "right -> wrong"
        sample = f"#{self.sample_idx}" if self.sample_idx else ""
        rule = self.new_rule if self.new_method != "truncated" else "no-answer (truncated)"
        return (f"{self.problem_id}{sample}: {arrow}  answer {self.old_answer!r} -> {self.new_answer!r}  "
                f"rule {self.old_rule or '-'} -> {rule}")


@dataclass
class RegradeReport:
    run_id: str
    n: int = 0
    flips: list[Flip] = field(default_factory=list)
    extraction_changed: int = 0
    old_versions: set[str] = field(default_factory=set)

    @property
    def now_correct(self) -> list[str]:
        """Problem ids that flipped wrong -> right."""
        return [f.problem_id for f in self.flips if f.now_correct]

    @property
    def now_wrong(self) -> list[str]:
        return [f.problem_id for f in self.flips if not f.now_correct]

    @property
    def changed(self) -> int:
        return len(self.flips)


def regrade_run(store: Store, run_id: str, write: bool = True) -> RegradeReport:
    rows = store.query_dicts(
        """SELECT s.run_id, s.problem_id, s.sample_idx, s.output, s.extracted_answer, s.correct, s.grade_rule,
                  s.grader_version, s.finish_reason, p.answer, p.kind, p.problem
           FROM samples s JOIN problems p USING (problem_id) WHERE s.run_id = ? ORDER BY s.problem_id, s.sample_idx""",
        [run_id],
    )
    report = RegradeReport(run_id, n=len(rows))
    if rows:
        warm_up()  # the deadline counts a worker's start-up: start them before grading
    updates = []
    for r in rows:
        verdict = grade(r["answer"], r["output"], r["kind"], problem=r["problem"], finish_reason=r["finish_reason"])
        report.old_versions.add(r["grader_version"] or "unknown")
        if verdict.correct != r["correct"]:
            report.flips.append(Flip(r["problem_id"], r["sample_idx"], bool(r["correct"]), verdict.correct,
                                     r["extracted_answer"], verdict.extracted, r["grade_rule"], verdict.rule,
                                     verdict.extract_method))
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
