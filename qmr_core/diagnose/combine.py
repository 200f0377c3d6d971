"""The combined verdict: the earliest step any locator puts forward, typed by the source that located it.

Locators, each judge-free or checked except the LLM majority:

- ``symbolic``: the first false arithmetic claim (type Execution);
- ``llm``: the majority of the LLM votes that located a step (its type: the majority type there);
- ``degenerate:<subtype>``: repetition, truncation, no-answer, abandoned, each at the step where it
  begins (type Degenerate);
- ``divergence`` (hook): the first step the full-precision model would not have written, when a
  caller passes it; it locates but names no type.

Rule:
1. The first faulty step is the earliest step any locator puts forward.
2. Its type comes from the source that located it. When the LLM majority located the same step
   and named a type, the LLM's type is used; otherwise, among the sources at that step, the first
   in the order symbolic, degenerate subtypes (in the order above), divergence.
3. Every locator that put forward another step, another type at the same step, and every LLM
   vote that disagrees with the verdict, is recorded as a disagreement.
4. ``agreement`` counts only LLM votes that located a step. When no locator located a step the
   verdict says so and has no step; a Degenerate finding without a step (an empty output) still
   gives the type.
"""

from __future__ import annotations

from typing import Any

from collections.abc import Sequence
from dataclasses import dataclass, field

from qmr_core.diagnose.judge import JudgeVerdict, Majority

LLM = "llm"
SYMBOLIC = "symbolic"
DIVERGENCE = "divergence"
_ORDER = (LLM, SYMBOLIC, "degenerate:repetition", "degenerate:abandoned", "degenerate:truncation",
          "degenerate:no-answer", DIVERGENCE)


@dataclass(frozen=True)
class Locator:
    source: str
    step: int | None
    error_type: str | None
    detail: str
    subtype: str | None = None


@dataclass
class Combined:
    step: int | None
    error_type: str | None
    subtype: str | None
    located_by: str | None
    rationale: str
    disagreements: list[dict] = field(default_factory=list)
    n_located_votes: int = 0
    n_agreeing_votes: int = 0


def _rank(source: str) -> int:
    return _ORDER.index(source) if source in _ORDER else len(_ORDER)


def llm_locator(majority: Majority | None) -> Locator | None:
    if majority is None or majority.first_error_step is None:
        return None
    return Locator(LLM, majority.first_error_step, majority.error_type, majority.describe())


def _pick(at: list[Locator]) -> Locator:
    llm = next((l for l in at if l.source == LLM), None)
    if llm is not None and llm.error_type is not None:
        return llm
    typed = sorted((l for l in at if l.error_type is not None), key=lambda l: _rank(l.source))
    return typed[0] if typed else sorted(at, key=lambda l: _rank(l.source))[0]


def _vote_disagreements(votes: Sequence[tuple[str, JudgeVerdict]], step: int | None, etype: str | None) -> list[dict]:
    out: list[dict[str, Any]] = []
    for judge, v in votes:
        if not v.parsed:
            continue
        if v.first_error_step is None:
            out.append({"source": judge, "step": None, "type": None, "what": "vote: no error"})
        elif v.first_error_step != step:
            out.append({"source": judge, "step": v.first_error_step, "type": v.error_type, "what": "vote: another step"})
        elif v.error_type is not None and etype is not None and v.error_type != etype:
            out.append({"source": judge, "step": v.first_error_step, "type": v.error_type, "what": "vote: another type"})
    return out


def combine(locators: Sequence[Locator | None], votes: Sequence[tuple[str, JudgeVerdict]] = ()) -> Combined:
    """The combined verdict from every locator (None entries are skipped) and the LLM votes."""
    present = [l for l in locators if l is not None]
    located = [l for l in present if l.step is not None]
    n_located = sum(1 for _j, v in votes if v.located)
    if not located:
        typed = sorted((l for l in present if l.error_type is not None), key=lambda l: _rank(l.source))
        what = "no locator located the error"
        if n_located == 0 and votes:
            what += f" (none of {sum(v.parsed for _j, v in votes)} parsed judge votes located a step)"
        if typed:  # e.g. an empty output: Degenerate, but no step to point at
            t = typed[0]
            return Combined(None, t.error_type, t.subtype, t.source, f"{what}; {t.source}: {t.detail}",
                            _vote_disagreements(votes, None, t.error_type), n_located, 0)
        return Combined(None, None, None, None, what, _vote_disagreements(votes, None, None), n_located, 0)
    step = min(l.step for l in located if l.step is not None)
    at = [l for l in located if l.step == step]
    chosen = _pick(at)
    disagreements = [
        {"source": l.source, "step": l.step, "type": l.error_type, "what": "locator: another step"}
        for l in located if l.step != step
    ] + [
        {"source": l.source, "step": l.step, "type": l.error_type, "what": "locator: another type"}
        for l in at if l is not chosen and l.error_type is not None and l.error_type != chosen.error_type
    ] + _vote_disagreements(votes, step, chosen.error_type)
    n_agree = sum(1 for _j, v in votes if v.located and v.first_error_step == step)
    others = sorted({l.source for l in at} - {chosen.source}, key=_rank)
    why = f"step {step + 1} located by {chosen.source}" + (f" (also {', '.join(others)})" if others else "")
    why += f": {chosen.detail}"
    if votes:
        why += (f"; {n_agree} of {n_located} judge vote(s) that located a step agree" if n_located
                else "; no judge vote located a step")
    return Combined(step, chosen.error_type, chosen.subtype, chosen.source, why, disagreements, n_located, n_agree)
