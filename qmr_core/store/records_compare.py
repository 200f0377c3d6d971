"""Records of pairing runs: what `qmr compare` reads of two runs, and what the importers' verdicts and the
divergence scorer read back. Fields are named as the columns (or the query's aliases)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunIdentity:
    """What pairing needs of a run: its model (by name, with its base model), benchmark, prompt, decoding, engine."""

    run_id: str
    model_id: str
    model: str  # the model's name (its id when the store has no models row)
    base_model_id: str | None
    benchmark: str
    prompt_text: str
    decoding_json: str
    engine: str


@dataclass(frozen=True)
class PairedScore:
    """One problem of either run of a pair: each run's share of samples right and sample count (None where
    that run lacks the problem), with the problem's subject and level."""

    problem_id: str
    base_score: float | None
    quant_score: float | None
    base_n: int | None
    quant_n: int | None
    subject: str | None
    level: int | None


@dataclass(frozen=True)
class VerdictAgreement:
    """Per (run, tool metric): samples with a right/wrong verdict from both the tool and qmr, and how they agree."""

    run_id: str
    source: str
    metric: str
    n: int
    tool_right: int
    qmr_right: int
    disagree: int


@dataclass(frozen=True)
class VerdictDisagreement:
    """A sample the tool (`external_verdicts`) judged otherwise than qmr's grade (`samples`)."""

    problem_id: str
    sample_idx: int
    source: str
    metric: str
    tool_correct: bool
    tool_answer: str | None
    qmr_correct: bool
    qmr_answer: str | None
    grade_rule: str | None


@dataclass(frozen=True)
class SampleWithSpans:
    """A sample as teacher forcing feeds it: what the model saw, what it wrote, how it stopped, and each step's
    character span in the output, in order."""

    problem_id: str
    sample_idx: int
    prompt: str | None
    output: str
    finish_reason: str | None
    spans: list[tuple[int, int]]


@dataclass(frozen=True)
class DivergenceByOutcome:
    """One scored lost or both-right problem of a run pair: its divergence averaged over its samples."""

    base_run_id: str
    quant_run_id: str
    outcome: str
    kl_mean: float | None
    kl_max: float | None
    surprisal_mean: float | None
