"""Re-grade stored samples with the current grader and report what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from qmr_core.grading import GRADER_VERSION, grade, warm_up
from qmr_core.store import Store
from qmr_core.store.grades import graded_samples, update_grades


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
    rows = graded_samples(store, run_id)
    report = RegradeReport(run_id, n=len(rows))
    if rows:
        warm_up()  # the deadline counts a worker's start-up: start them before grading
    updates = []
    for r in rows:
        verdict = grade(r.answer, r.output, r.kind, problem=r.problem, finish_reason=r.finish_reason)
        report.old_versions.add(r.grader_version or "unknown")
        if verdict.correct != r.correct:
            report.flips.append(Flip(r.problem_id, r.sample_idx, bool(r.correct), verdict.correct,
                                     r.extracted_answer, verdict.extracted, r.grade_rule, verdict.rule,
                                     verdict.extract_method))
        if verdict.extracted != r.extracted_answer:
            report.extraction_changed += 1
        updates.append(
            {
                "run_id": r.run_id,
                "problem_id": r.problem_id,
                "sample_idx": r.sample_idx,
                "extracted_answer": verdict.extracted,
                "extract_method": verdict.extract_method,
                "correct": bool(verdict.correct),
                "grade_rule": verdict.rule,
                "grader_version": GRADER_VERSION,
            }
        )
    if write and updates:
        update_grades(store, updates)
    return report
