"""LLM judge: locate the first wrong step of a failing trace and name its error type.

A judge is named by a spec ``ENGINE:MODEL`` (``hf:smollm2-135m``, ``openai:Qwen/QwQ-32B``); the
engine comes from qmr's engine registry. The prompt and the reading of a reply are protocol v2
(judge_protocol.py). Each judge votes ``samples`` times (self-consistency: greedy for one vote,
sampled at ``temperature`` for several); every vote is stored with the protocol that produced it.

Constrained output: when the engine can enforce a JSON schema (``supports_json_schema``), the
verdict's schema is sent with every prompt, so even a small model returns a well-formed verdict.
A server that refuses ``response_format`` (HTTP 400/422) is asked again without it, and the judge
stays unconstrained from then on (``constrained`` turns False, and the votes record it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from qmr_core.diagnose.judge_protocol import (  # noqa: F401  (re-exported: the judge's public face)
    PROMPT_VERSION, JudgeCase, JudgeVerdict, build_prompt, n_shown, parse_verdict, verdict_schema,
)
from qmr_core.engines.registry import ENGINES
from qmr_core.errors import QmrError
from qmr_core.registry import Registry

SYMBOLIC = "symbolic"
SAMPLED_TEMPERATURE = 0.7  # --judge-samples K > 1 without --judge-temperature


@dataclass(frozen=True)
class JudgeSpec:
    spec: str  # as given: "symbolic" or "ENGINE:MODEL"
    engine: str | None
    model: str | None

    @property
    def is_symbolic(self) -> bool:
        return self.engine is None


def parse_judge_spec(spec: str) -> JudgeSpec:
    spec = spec.strip()
    if spec == SYMBOLIC:
        return JudgeSpec(spec, None, None)
    engine, sep, model = spec.partition(":")
    if not sep or not model.strip():
        raise QmrError(f"judge '{spec}' is not 'symbolic' or ENGINE:MODEL (e.g. hf:smollm2-135m)")
    if engine not in judge_prefixes():
        raise QmrError(f"judge '{spec}': unknown engine '{engine}' (available: {', '.join(judge_prefixes())})")
    return JudgeSpec(spec, engine, model.strip())


def parse_judge_specs(specs: Sequence[str]) -> list[JudgeSpec]:
    """Every spec parsed; a judge named twice is an error, not a silent second vote or a dropped one."""
    out: list[JudgeSpec] = []
    for s in specs:
        spec = parse_judge_spec(s)
        if spec.spec in {o.spec for o in out}:
            raise QmrError(f"judge '{spec.spec}' is listed twice; for several votes of one judge use --judge-samples K")
        out.append(spec)
    return out


@dataclass(frozen=True)
class JudgeSettings:
    """How a judge decodes: part of every stored vote's protocol."""

    max_new_tokens: int | None = None  # None: DEFAULT_MAX_TOKENS of the engine
    temperature: float | None = None  # None: 0 for one sample, SAMPLED_TEMPERATURE for several
    samples: int = 1
    constrained: bool = True

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise QmrError("--judge-samples must be >= 1")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise QmrError("--judge-max-tokens must be >= 1")
        if self.temperature is not None and self.temperature < 0:
            raise QmrError("--judge-temperature must be >= 0")
        if self.samples > 1 and self.temperature == 0:
            raise QmrError("--judge-samples > 1 needs --judge-temperature > 0 (greedy samples are identical)")

    def resolved_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else SAMPLED_TEMPERATURE


# -- voting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Majority:
    first_error_step: int | None  # None: no vote located a step
    error_type: str | None
    n_votes: int  # parsed votes
    n_located: int  # parsed votes that located a step
    n_agree: int  # located votes at the chosen step
    type_tied: bool = False

    @property
    def agreement(self) -> float | None:
        """Share of the votes that located a step which chose this one; None when none located."""
        return self.n_agree / self.n_located if self.n_located else None

    def describe(self) -> str:
        if not self.n_located:
            return f"none of {self.n_votes} parsed judge vote(s) located a step"
        return (f"{self.n_agree} of the {self.n_located} judge vote(s) that located a step chose it "
                f"({self.n_votes} parsed)")


def majority_vote(verdicts: Sequence[JudgeVerdict]) -> Majority | None:
    """The most voted step among the votes that locate one (ties: the earliest step); at that step
    the most voted type (ties: the type of the first such vote in the order given, i.e. judge order,
    flagged ``type_tied``). None when no vote parsed. The answer under review is known to be wrong,
    so a "no error" vote locates nothing and is counted in ``n_votes`` only."""
    votes = [v for v in verdicts if v.parsed]
    if not votes:
        return None
    located = [v for v in votes if v.first_error_step is not None]
    if not located:
        return Majority(None, None, len(votes), 0, 0)
    steps = Counter(v.first_error_step for v in located)
    best = max(steps.values())
    step = min(s for s, c in steps.items() if c == best and s is not None)
    at = [v for v in located if v.first_error_step == step]
    types = Counter(v.error_type for v in at if v.error_type is not None)
    error_type, tied = None, False
    if types:
        top = max(types.values())
        tops = [t for t, c in types.items() if c == top]
        tied = len(tops) > 1
        error_type = next(v.error_type for v in at if v.error_type in tops)
    return Majority(step, error_type, len(votes), len(located), best, tied)


# -- running ------------------------------------------------------------------------------------

Vote = tuple[str, JudgeVerdict, float]  # raw output, verdict, latency ms


class LLMJudge:
    """A judge backed by any qmr engine."""

    def __init__(self, spec: JudgeSpec, device: str = "auto", max_new_tokens: int | None = None, engine=None,
                 settings: JudgeSettings | None = None):
        if spec.is_symbolic:
            raise QmrError("the symbolic checker is not an LLM judge")
        self.spec = spec
        settings = settings or JudgeSettings(max_new_tokens=max_new_tokens)
        self.settings = settings
        self.max_new_tokens = settings.max_new_tokens or judge_kind(spec.engine or "").max_new_tokens
        self.temperature = settings.resolved_temperature()
        self.device = device
        self._engine = engine
        self.constrained = settings.constrained and self._can_constrain()
        self.notes: list[str] = []

    def _can_constrain(self) -> bool:
        if self._engine is not None:
            return bool(getattr(self._engine, "supports_json_schema", False))
        return judge_kind(self.spec.engine or "").can_constrain()

    @property
    def engine(self):
        """Built on first use: stored votes under the same protocol need no model."""
        if self._engine is None:
            from qmr_core.engines import build_engine, model_ref_for

            engine, model = self.spec.engine, self.spec.model
            assert engine is not None and model is not None  # an LLM judge is ENGINE:MODEL
            self._engine = build_engine(engine, model_ref_for(engine, model), device=self.device)
        return self._engine

    @property
    def name(self) -> str:
        return self.spec.spec

    def protocol(self) -> dict:
        """What produced a vote, stored with it; stored votes are reused only under the same protocol."""
        return {"version": PROMPT_VERSION, "constrained": self.constrained, "temperature": self.temperature,
                "max_tokens": self.max_new_tokens}

    def _generate(self, cases: Sequence[JudgeCase], k: int):
        from qmr_core.engines.base import Decoding
        from qmr_core.engines.openai_http import RequestRefused

        decoding = Decoding(max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=0)
        messages = [[{"role": "user", "content": build_prompt(c, self.constrained)}] for c in cases]
        if not self.constrained:
            return self.engine.generate(messages, decoding, k)
        schemas = [verdict_schema(n_shown(c)) for c in cases]
        try:
            return self.engine.generate(messages, decoding, k, json_schemas=schemas)
        except RequestRefused as exc:
            if exc.status not in (400, 422):
                raise
            self.constrained = False
            self.notes.append(f"{self.name}: the server refused a JSON schema ({exc}); votes are unconstrained")
            return self._generate(cases, k)

    def judge_samples(self, cases: Sequence[JudgeCase], batch_size: int = 4,
                      on_batch: Callable[[int], None] | None = None) -> list[list[Vote]]:
        """``samples`` votes per case, in order: out[case][k]."""
        out: list[list[Vote]] = []
        for start in range(0, len(cases), batch_size):
            chunk = cases[start : start + batch_size]
            per_case: list[list[Vote]] = [[] for _ in chunk]
            for k in range(self.settings.samples):
                for i, (case, gen) in enumerate(zip(chunk, self._generate(chunk, k), strict=True)):
                    per_case[i].append((gen.text, parse_verdict(gen.text, n_shown(case)), gen.latency_ms))
            out += per_case
            if on_batch:
                on_batch(len(chunk))
        return out

    def judge(self, cases: Sequence[JudgeCase], batch_size: int = 4, on_batch=None) -> list[Vote]:
        """The first vote per case (for callers that take one vote per judge)."""
        return [votes[0] for votes in self.judge_samples(cases, batch_size, on_batch)]


# -- the judge registry -------------------------------------------------------------------------


class Judge(Protocol):
    """What diagnose and judge-bench call on a judge (LLMJudge is the built-in one)."""

    settings: JudgeSettings
    notes: list[str]
    constrained: bool

    @property
    def name(self) -> str: ...

    def protocol(self) -> dict: ...

    def judge_samples(self, cases: Sequence[JudgeCase], batch_size: int = 4,
                      on_batch: Callable[[int], None] | None = None) -> list[list[Vote]]: ...

    def judge(self, cases: Sequence[JudgeCase], batch_size: int = 4, on_batch=None) -> list[Vote]: ...


JudgeFactory = Callable[[JudgeSpec, str, JudgeSettings], Judge]  # (spec, device, settings)


def _unconstrained() -> bool:
    return False


def _hf_can_constrain() -> bool:
    from qmr_core.engines.constrained import available

    return available()


@dataclass(frozen=True)
class JudgeKind:
    """The judges named PREFIX:MODEL: how one is built, and its defaults."""

    build: JudgeFactory
    max_new_tokens: int = 1024  # when --judge-max-tokens is not given
    can_constrain: Callable[[], bool] = _unconstrained  # output can follow a JSON schema (known before building)


def _llm_judge(spec: JudgeSpec, device: str, settings: JudgeSettings) -> Judge:
    return LLMJudge(spec, device=device, settings=settings)


# Every engine of the engine registry judges as ENGINE:MODEL with the defaults; an entry here overrides
# them or adds a judge that is not an engine. A local judge is constrained; a served one may reason at length.
JUDGES: Registry[JudgeKind] = Registry("judge")
JUDGES.register("hf", JudgeKind(_llm_judge, 1024, _hf_can_constrain))
JUDGES.register("openai", JudgeKind(_llm_judge, 4096, lambda: True))


def register_judge(prefix: str, kind: JudgeKind) -> None:
    JUDGES.register(prefix, kind)


def judge_prefixes() -> list[str]:
    return list(dict.fromkeys([*ENGINES, *JUDGES.names]))


def judge_kind(prefix: str) -> JudgeKind:
    if prefix in JUDGES:
        return JUDGES.get(prefix)
    if prefix in judge_prefixes():
        return JudgeKind(_llm_judge)
    raise QmrError(f"unknown judge '{prefix}' (available: {SYMBOLIC}, {', '.join(p + ':MODEL' for p in judge_prefixes())})")


def build_judge(spec: JudgeSpec, device: str = "auto", settings: JudgeSettings | None = None) -> Judge:
    """The judge a parsed ``PREFIX:MODEL`` spec names (the symbolic checker runs inside diagnose, not as a Judge)."""
    if spec.is_symbolic:
        raise QmrError("the symbolic checker is not an LLM judge")
    return judge_kind(spec.engine or "").build(spec, device, settings or JudgeSettings())
