"""Records that `qmr regrade`, the report, `qmr errors` and blind review read: samples with their grade,
per-problem scores and counts, diagnoses as the report counts them. Fields are named as the columns."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any


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


@dataclass(frozen=True)
class RunWithBaseModel:
    """A run and its model's base model (None for a full-precision model or one the store has no row of)."""

    run_id: str
    base_model_id: str | None


@dataclass(frozen=True)
class DiagnosedFailure:
    """A wrong greedy sample that one judge diagnosed: what a blind review set is stratified by."""

    run_id: str
    problem_id: str
    sample_idx: int
    subject: str | None
    level: int | None
    error_type: str | None


@dataclass(frozen=True)
class ProblemScore:
    """One problem of a run: the share of its samples right, how many, and its subject ('-' when none) and level."""

    run_id: str
    problem_id: str
    score: float
    n_samples: int
    subject: str
    level: int | None


@dataclass(frozen=True)
class SampleIndexAccuracy:
    """A run's accuracy over its problems at one sample index (one seed of a sampled run)."""

    run_id: str
    sample_idx: int
    accuracy: float  # share of the run's problems right at this index


@dataclass(frozen=True)
class PairOutcomeCount:
    """How many problems of a compared pair of runs had one outcome (`pairs`)."""

    base_run_id: str
    quant_run_id: str
    outcome: str
    n: int



@dataclass(frozen=True)
class ErrorTypeCount:
    """One judge's diagnoses of a run with one error type, capability, subtype and located-or-not, counted."""

    run_id: str
    model: str  # the model's name (its id when the store has no models row)
    error_type: str | None
    capability: str | None
    subtype: str | None
    located: bool  # the diagnosis names a first faulty step
    n: int


@dataclass(frozen=True)
class CombinedEvidence:
    """The evidence behind one combined verdict (`diagnoses.evidence_json` of judge 'combined')."""

    run_id: str
    evidence_json: str | None  # the locators' findings, as JSON


@dataclass(frozen=True)
class ErrorCount:
    """One judge's diagnoses of a run's greedy samples with one error type and capability ('(none)' when unset)."""

    error_type: str
    capability: str
    n: int  # diagnosed samples


@dataclass(frozen=True)
class JudgeAgreement:
    """How often a judge's diagnosis matches the researcher's verdict on the annotated samples."""

    judge: str
    n: int  # annotated samples the judge diagnosed
    step_ok: int
    type_ok: int
    both_ok: int

    def share(self, k: int) -> float:
        return k / self.n if self.n else 0.0

    @property
    def step_accuracy(self) -> float:
        """Share of the annotated samples where the judge's first wrong step is the researcher's."""
        return self.share(self.step_ok)

    @property
    def type_accuracy(self) -> float:
        """Share of the annotated samples where the judge's error type is the researcher's."""
        return self.share(self.type_ok)


@dataclass(frozen=True)
class FormatStats:
    """A run's output format over its samples (the report's format table)."""

    run_id: str
    n_samples: int
    tagged_rate: float | None  # share with 'Step k:' tagged steps
    no_answer_rate: float | None
    truncation_rate: float | None  # among samples whose finish reason is known
    mean_tokens: float | None
    mean_steps: float | None

    def cells(self) -> list[Any]:
        """The numbers in column order, without the run id."""
        return list(astuple(self))[1:]


@dataclass(frozen=True)
class FlipStats:
    """A quantized run's teacher-forced flips (`flips`) summed up over its traces."""

    quant_run_id: str
    n_traces: int
    diverge_rate: float | None  # share of traces where the quantized argmax departs somewhere
    mean_flip_position: float | None  # (first flip step + 1) / steps of the base trace
    mean_logprob: float | None

    def cells(self) -> list[Any]:
        """The numbers in column order, without the run id."""
        return list(astuple(self))[1:]
