"""LLM judge: locate the first wrong step of a failing trace and name its error type.

A judge is named by a spec ``ENGINE:MODEL`` (``hf:smollm2-135m``, ``hf:Qwen/Qwen2.5-7B-Instruct``);
the engine comes from qmr's engine registry, so an OpenAI-compatible engine added there becomes a
judge with no change here. The prompt shows the problem, the gold answer, the reference solution,
the base model's trace when there is one, the numbered steps of the trace under review, and the
written definitions of the error types (taxonomy.py). It asks for one JSON object.

Parsing is strict and never raises: the reply, stripped of surrounding whitespace, must be one
JSON object, optionally wrapped in a single ```json code fence (a fence is unambiguous and strong
judges add one often; ``fenced`` records it). Anything else — no JSON, invalid JSON, text before
or after the object, an unclosed fence, a missing field, a step out of range, an unknown error
type — is stored as unparsed with the reason, and the raw output is kept either way.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from qmr_core.diagnose.taxonomy import ERROR_TYPES, definitions_text, normalize_type
from qmr_core.errors import QmrError

PROMPT_VERSION = "judge-v1"
MAX_FIELD_CHARS = 3000  # problem, reference solution and base trace are cut to this
MAX_STEP_CHARS = 600
MAX_STEPS_SHOWN = 60
MAX_RATIONALE = 2000
SYMBOLIC = "symbolic"


@dataclass(frozen=True)
class JudgeSpec:
    spec: str  # as given: "symbolic" or "ENGINE:MODEL"
    engine: str | None
    model: str | None

    @property
    def is_symbolic(self) -> bool:
        return self.engine is None


def parse_judge_spec(spec: str) -> JudgeSpec:
    from qmr_core.engines import ENGINES

    spec = spec.strip()
    if spec == SYMBOLIC:
        return JudgeSpec(spec, None, None)
    engine, sep, model = spec.partition(":")
    if not sep or not model.strip():
        raise QmrError(f"judge '{spec}' is not 'symbolic' or ENGINE:MODEL (e.g. hf:smollm2-135m)")
    if engine not in ENGINES:
        raise QmrError(f"judge '{spec}': unknown engine '{engine}' (available: {', '.join(ENGINES)})")
    return JudgeSpec(spec, engine, model.strip())


# -- prompt -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeCase:
    problem: str
    steps: Sequence[str]
    gold: str | None = None
    reference: str | None = None
    base_trace: str | None = None
    base_correct: bool | None = None
    known_wrong: bool = True  # the final answer is known to be wrong (diagnose); False for ProcessBench


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " [...]"


def build_prompt(case: JudgeCase) -> str:
    parts = [
        "You are checking a step-by-step solution to a math problem.",
        "The solution's final answer is wrong. Find the FIRST step that contains an error."
        if case.known_wrong
        else "The solution may be correct or may contain errors. Find the FIRST step that contains an error, if any.",
        "",
        "Problem:",
        _cut(case.problem, MAX_FIELD_CHARS),
    ]
    if case.gold:
        parts += ["", f"Correct final answer: {case.gold.strip()}"]
    if case.reference:
        parts += ["", "Reference solution:", _cut(case.reference, MAX_FIELD_CHARS)]
    if case.base_trace:
        verdict = {True: "its final answer is correct", False: "its final answer is also wrong", None: ""}[case.base_correct]
        parts += ["", f"Solution by the full-precision model ({verdict}), for comparison:".replace(" ()", ""),
                  _cut(case.base_trace, MAX_FIELD_CHARS)]
    shown = list(case.steps)[:MAX_STEPS_SHOWN]
    parts += ["", "Solution to check, one numbered step per line:"]
    parts += [f"[{i + 1}] {_cut(s, MAX_STEP_CHARS).replace(chr(10), ' ')}" for i, s in enumerate(shown)]
    if len(case.steps) > len(shown):
        parts.append(f"[...] ({len(case.steps) - len(shown)} more steps not shown)")
    parts += [
        "",
        "Error types:",
        definitions_text(),
        "",
        "Reply with one JSON object and nothing else, no code fence:",
        '{"first_error_step": <number in brackets of the first wrong step>, '
        f'"error_type": "<one of {", ".join(ERROR_TYPES)}>", "rationale": "<one sentence>"}}',
    ]
    if not case.known_wrong:
        parts.append('If every step is correct, reply {"first_error_step": -1, "error_type": null, "rationale": "..."}.')
    return "\n".join(parts)


# -- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeVerdict:
    parsed: bool
    error: str | None  # why it is unparsed
    first_error_step: int | None  # 0-based; None = the judge found no error (or unparsed)
    error_type: str | None
    rationale: str | None
    fenced: bool = False


def _unparsed(reason: str) -> JudgeVerdict:
    return JudgeVerdict(False, reason, None, None, None)


_FENCE = re.compile(r"^```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)\n?[ \t]*```(.*)$", re.DOTALL)


def parse_verdict(raw: str | None, n_steps: int) -> JudgeVerdict:
    """Read a judge reply; every malformed form becomes an unparsed verdict with a reason."""
    if raw is None or not raw.strip():
        return _unparsed("empty")
    text = raw.strip()
    fenced = False
    if text.startswith("```"):
        m = _FENCE.match(text)
        if not m:
            return _unparsed("unclosed-fence")
        if m.group(2).strip():
            return _unparsed("trailing-text")
        text, fenced = m.group(1).strip(), True
    if text[0] in '["':  # JSON, but not an object
        try:
            json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return _unparsed("bad-json")
        return _unparsed("not-an-object")
    if not text.startswith("{"):
        return _unparsed("text-before-json" if "{" in text else "no-json")
    try:
        obj, end = json.JSONDecoder().raw_decode(text)
    except (json.JSONDecodeError, RecursionError):
        return _unparsed("bad-json")
    if text[end:].strip():
        return _unparsed("trailing-text")
    if not isinstance(obj, dict):
        return _unparsed("not-an-object")
    if "first_error_step" not in obj:
        return _unparsed("missing-field")
    step = obj["first_error_step"]
    if step is None or (isinstance(step, int) and not isinstance(step, bool) and step == -1):
        step0 = None
    elif isinstance(step, int) and not isinstance(step, bool):
        if not 1 <= step <= n_steps:
            return _unparsed("step-out-of-range")
        step0 = step - 1
    else:
        return _unparsed("bad-step")
    raw_type = obj.get("error_type")
    if step0 is None:
        error_type = None if raw_type in (None, "", "None", "none", "null") else normalize_type(str(raw_type))
        if raw_type not in (None, "", "None", "none", "null") and error_type is None:
            return _unparsed("unknown-type")
    else:
        if raw_type is None:
            return _unparsed("missing-field")
        if not isinstance(raw_type, str):
            return _unparsed("unknown-type")
        error_type = normalize_type(raw_type)
        if error_type is None:
            return _unparsed("unknown-type")
    rationale = obj.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        return _unparsed("bad-rationale")
    return JudgeVerdict(True, None, step0, error_type, (rationale or "")[:MAX_RATIONALE], fenced)


# -- voting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Majority:
    first_error_step: int | None
    error_type: str | None
    n_votes: int  # parsed votes
    agreement: float  # share of parsed votes that chose the winning step


def majority_vote(verdicts: Sequence[JudgeVerdict]) -> Majority | None:
    """The most voted step (ties: the earliest) and, among the votes for it, the most voted type.

    Only parsed votes count; "no error" (-1) is a vote too. None when no vote parsed.
    """
    votes = [v for v in verdicts if v.parsed]
    if not votes:
        return None
    steps = Counter(v.first_error_step for v in votes)
    best = max(steps.values())
    tied = [s for s, c in steps.items() if c == best]
    step = min(tied, key=lambda s: (s is None, s if s is not None else 0))
    types = Counter(v.error_type for v in votes if v.first_error_step == step)
    order = list(ERROR_TYPES) + [None]
    top = max(types.values())
    error_type = min((t for t, c in types.items() if c == top), key=lambda t: order.index(t) if t in order else len(order))
    return Majority(step, error_type, len(votes), best / len(votes))


# -- running ------------------------------------------------------------------------------------


class LLMJudge:
    """A judge backed by any qmr engine; greedy decoding, so a vote is reproducible."""

    def __init__(self, spec: JudgeSpec, device: str = "auto", max_new_tokens: int = 256, engine=None):
        if spec.is_symbolic:
            raise QmrError("the symbolic checker is not an LLM judge")
        self.spec = spec
        self.max_new_tokens = max_new_tokens
        if engine is None:
            from qmr_core.engines import build_engine, model_ref_for

            assert spec.engine is not None and spec.model is not None  # an LLM judge is ENGINE:MODEL
            ref = model_ref_for(spec.engine, spec.model)
            engine = build_engine(spec.engine, ref, device=device)
        self.engine = engine

    @property
    def name(self) -> str:
        return self.spec.spec

    def judge(self, cases: Sequence[JudgeCase], batch_size: int = 4, on_batch=None) -> list[tuple[str, JudgeVerdict, float]]:
        """(raw output, verdict, latency ms) per case, in order."""
        from qmr_core.engines.base import Decoding

        decoding = Decoding(max_new_tokens=self.max_new_tokens)
        out: list[tuple[str, JudgeVerdict, float]] = []
        for start in range(0, len(cases), batch_size):
            chunk = cases[start : start + batch_size]
            messages = [[{"role": "user", "content": build_prompt(c)}] for c in chunk]
            generations = self.engine.generate(messages, decoding)
            for case, gen in zip(chunk, generations, strict=True):
                out.append((gen.text, parse_verdict(gen.text, len(case.steps)), gen.latency_ms))
            if on_batch:
                on_batch(len(chunk))
        return out
