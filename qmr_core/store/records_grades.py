"""Records that `qmr regrade`, the report, `qmr errors` and blind review read: samples with their grade,
per-problem scores and counts, diagnoses as the report counts them. Fields are named as the columns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GradedSample:
    """A sample with its stored grade and what grading it again needs (its problem's gold answer, kind, text)."""

    run_id: str
    problem_id: str
    sample_idx: int
    output: str
    extracted_answer: str | None
    correct: bool
    grade_rule: str | None
    grader_version: str | None
    finish_reason: str | None
    answer: str
    kind: str
    problem: str
