"""The store's read models and records: what the stages write and read, as frozen dataclasses.

One `RunSummary` is the run as every reader sees it (`qmr runs`, the browser, the report); one
`ModelRecord` is a `models` row, whoever writes it (evaluation, quantization, imports). The rest are
the rows of one problem that the trace view and `qmr show` read. The records of the later stages live in
records_*.py by stage and are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

from qmr_core.store.labels import quant_label, short_quant_label
# The later stages' records, by stage, re-exported (`X as X`: PEP 484's explicit re-export).
from qmr_core.store.records_compare import (
    DivergenceByOutcome as DivergenceByOutcome, PairedScore as PairedScore, RunIdentity as RunIdentity,
    SampleWithSpans as SampleWithSpans, VerdictAgreement as VerdictAgreement,
    VerdictDisagreement as VerdictDisagreement,
)
from qmr_core.store.records_grades import (
    CombinedEvidence as CombinedEvidence, DiagnosedFailure as DiagnosedFailure, ErrorCount as ErrorCount,
    ErrorTypeCount as ErrorTypeCount, FlipStats as FlipStats, FormatStats as FormatStats,
    GradedSample as GradedSample, JudgeAgreement as JudgeAgreement, PairOutcomeCount as PairOutcomeCount,
    ProblemScore as ProblemScore, RunWithBaseModel as RunWithBaseModel, SampleIndexAccuracy as SampleIndexAccuracy,
)
from qmr_core.store.records_restore import (
    CorrectTrace as CorrectTrace, Recovery as Recovery, RecoveryExample as RecoveryExample,
    RecoverySet as RecoverySet, SensitivityCell as SensitivityCell, SensitivityRun as SensitivityRun,
    SensitivitySummary as SensitivitySummary,
)


@dataclass(frozen=True)
class RunSummary:
    """A run with its model and its samples' counts; `status` is `interrupted` for a `running` run whose
    process is gone (store.runs.run_summaries)."""

    run_id: str
    model_id: str
    model: str  # the model's name (its id when the store has no models row)
    base_model_id: str | None  # the full-precision model a quantized one derives from
    family_name: str  # the base model's name, else the model's
    method: str
    bits: int | None
    group_size: int | None
    act_bits: int | None
    source_precision: str | None  # of the weights as loaded (Q4_1 GGUF, bf16 checkpoint, ...)
    run_dtype: str | None
    benchmark: str
    prompt_template: str
    prompt_text: str
    decoding_json: str
    engine: str
    status: str
    created_at: dt.datetime | None
    finished_at: dt.datetime | None
    parent_run_id: str | None
    n: int  # samples
    accuracy: float | None
    format_rate: float | None
    truncation_rate: float | None
    tokens: int | None

    @property
    def full_precision(self) -> bool:
        return self.method == "none"

    @property
    def family(self) -> str:
        """The full-precision model id this model derives from (itself when it names none)."""
        return self.base_model_id or self.model_id

    @property
    def quant(self) -> str:
        """'full precision', 'rtn w4 g64', ...: for wide tables."""
        return quant_label(self.__dict__)

    @property
    def short_quant(self) -> str:
        """'fp32 (dequantized Q4_1)', 'rtn w4g64', ...: fits a narrow column."""
        return short_quant_label(self.method, self.bits, self.group_size, self.act_bits, self.source_precision,
                                 self.run_dtype)

    @property
    def greedy(self) -> bool:
        try:
            return float(json.loads(self.decoding_json).get("temperature") or 0) == 0
        except (ValueError, AttributeError):
            return True

    def comparable(self, other: RunSummary) -> bool:
        """Same benchmark, prompt and decoding: a per-problem comparison means something."""
        return (self.benchmark, self.prompt_template, self.decoding_json) == (
            other.benchmark, other.prompt_template, other.decoding_json,
        )


@dataclass(frozen=True)
class ModelRecord:
    """One `models` row. Unset fields are NULL in the store (`created_at` is the store's)."""

    model_id: str
    name: str
    source: str
    method: str
    base_model_id: str | None = None
    bits: int | None = None
    group_size: int | None = None
    act_bits: int | None = None
    is_symmetric: bool | None = None
    backend: str | None = None
    backend_version: str | None = None
    spec_json: str | None = None
    calib_json: str | None = None
    config_json: str | None = None
    n_params: int | None = None
    size_bytes: int | None = None
    quant_seconds: float | None = None
    peak_rss_bytes: int | None = None
    layer_errors_json: str | None = None
    source_precision: str | None = None

    def row(self) -> dict[str, Any]:
        """The set columns only: an upsert over an existing row leaves what this record does not know
        (e.g. the source precision, which a quantizer's record lacks) as it was."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class RunRow:
    """A whole `runs` row (migration 001)."""

    run_id: str
    model_id: str
    benchmark: str
    prompt_template: str
    prompt_text: str
    decoding_json: str
    engine: str
    engine_json: str | None
    parent_run_id: str | None
    status: str
    qmr_version: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class ProblemRow:
    """A `problems` row without its content hash: what a later stage re-runs a run's problems from."""

    problem_id: str
    benchmark: str
    unique_id: str
    problem: str
    answer: str
    solution: str | None
    subject: str | None
    level: int | None
    kind: str

    def row(self) -> dict[str, Any]:
        """The columns by name (benchmarks' Problem.from_row reads them)."""
        return asdict(self)


@dataclass(frozen=True)
class ProblemText:
    problem_id: str
    subject: str | None
    level: int | None
    problem: str
    answer: str


@dataclass(frozen=True)
class SampleVerdict:
    """What the trace view shows of one sample next to its steps."""

    extracted_answer: str | None
    correct: bool
    finish_reason: str | None
    n_tokens: int | None


@dataclass(frozen=True)
class Diagnosis:
    judge: str
    first_error_step: int | None
    error_type: str | None
    capability: str | None
    rationale: str | None

    @property
    def tag(self) -> str:
        return f"[E:{self.error_type or '?'}]"


@dataclass(frozen=True)
class FailingSample:
    """A wrong sample of a run with its problem and its steps, as `qmr diagnose` reads it."""

    run_id: str
    problem_id: str
    sample_idx: int
    problem: str
    answer: str
    solution: str | None
    output: str
    prompt: str | None
    extracted_answer: str | None
    extract_method: str | None
    finish_reason: str | None
    steps: list[str]
    spans: list[tuple[int, int]]  # each step's (start, end) in `output`

    @property
    def gold(self) -> str:
        return self.answer


@dataclass(frozen=True)
class BaseSample:
    """The base run's sample that a diagnosis compares a quantized one with."""

    problem_id: str
    sample_idx: int
    prompt: str | None
    output: str
    correct: bool
    finish_reason: str | None
    extracted_answer: str | None


@dataclass(frozen=True)
class JudgeVote:
    """A `judge_votes` row (migrations 003, 008): one vote of one LLM judge on one sample."""

    run_id: str
    problem_id: str
    sample_idx: int
    judge: str
    vote_idx: int
    base_run_id: str | None
    prompt_version: str
    protocol_json: str | None
    raw_output: str | None
    parsed: bool
    parse_error: str | None
    first_error_step: int | None
    error_type: str | None
    rationale: str | None
    verdict_form: str | None
    latency_ms: float | None
    created_at: dt.datetime | None = None  # set by the store on insert

    def row(self) -> dict[str, Any]:
        """The row to store: a vote written again keeps its creation time; a new one gets the store's."""
        row = asdict(self)
        if row["created_at"] is None:
            del row["created_at"]
        return row


@dataclass(frozen=True)
class StoredVerdict:
    """One `diagnoses` row's verdict: which judge located which step, and the type it gave."""

    run_id: str
    problem_id: str
    sample_idx: int
    judge: str
    first_error_step: int | None
    error_type: str | None


@dataclass(frozen=True)
class ReportDiagnosis(StoredVerdict):
    """A `diagnoses` row as the report counts it: a stored verdict with the error type's capability."""

    capability: str | None


@dataclass(frozen=True)
class SymbolicFlag:
    """A `symbolic_flags` row: a claim of a step that exact arithmetic finds false."""

    step_idx: int
    claim: str
    true_value: str


@dataclass(frozen=True)
class Flip:
    """Teacher-forced divergence (`flips`, migration 003): where the quantized argmax first departs."""

    step_idx: int | None  # 0-based step of the base trace; None = agrees on every token
    base_token: str | None
    quant_token: str | None
    margin: float | None
    n_flips: int
    n_tokens: int

    def describe(self) -> str:
        if self.step_idx is None:
            return f"[FLIP] none: the quantized model agrees on all {self.n_tokens} base tokens"
        tokens = f" {self.base_token!r}→{self.quant_token!r}" if self.base_token is not None else ""
        margin = f" margin {self.margin:.2f}" if self.margin is not None else ""
        return f"[FLIP] base step {self.step_idx + 1}{tokens}{margin} ({self.n_flips}/{self.n_tokens} tokens differ)"


@dataclass(frozen=True)
class PairMarker:
    """What `qmr compare` stored for one problem of a pair (`pairs`)."""

    first_divergent_step: int | None
    similarity: float | None


@dataclass(frozen=True)
class DivergenceRow:
    """One `divergence` row (migration 010): per-token KL and fp surprisal of a quantized sample."""

    base_sample_idx: int
    kl_tokens: list[float] | None
    fp_offsets: list[int] | None
    surprisal_tokens: list[float] | None
    q_offsets: list[int] | None
    kl_mean: float | None
    surprisal_mean: float | None
    first_unlikely_step: int | None
    first_unlikely_text: str | None
    unlikely_nats: float | None


@dataclass(frozen=True)
class SampleDetail:
    """One sample with its problem, as `qmr show` prints it."""

    problem_id: str
    steps: tuple[tuple[int, str], ...]  # (step index, text)
    problem: str
    answer: str
    subject: str | None
    level: int | None
    extracted_answer: str | None
    extract_method: str | None
    correct: bool
    grade_rule: str | None
    grader_version: str | None
    n_steps: int | None
    step_format: str | None
    n_tokens: int | None
    finish_reason: str | None
    latency_ms: float | None
