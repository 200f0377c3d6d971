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
