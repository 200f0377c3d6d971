"""Error taxonomy: the types a diagnosis assigns, their definitions, and the capability roll-up.

The definitions below are shipped verbatim in the LLM judge's prompt and in the docs, so a label
means the same thing to the judge, to the reader of a table and to this code.

Capability roll-up (what a type says the model lost):
- Execution -> numerical computation
- Method, Reasoning -> reasoning planning
- Conceptual -> problem understanding
- Degenerate -> degenerate output (its own bucket: the model stopped producing a solution at all,
  which says nothing about which of the three capabilities failed)
"""

from __future__ import annotations

from dataclasses import dataclass

from qmr_core.errors import QmrError


@dataclass(frozen=True)
class ErrorType:
    name: str
    capability: str
    definition: str


ERROR_TYPES: dict[str, ErrorType] = {
    t.name: t
    for t in (
        ErrorType(
            "Conceptual",
            "problem understanding",
            "misreads the problem or uses a wrong definition, fact or theorem "
            "(e.g. treats 'three fewer' as 'three times', uses the area formula for a perimeter).",
        ),
        ErrorType(
            "Method",
            "reasoning planning",
            "understands the problem but chooses a wrong strategy or formula for it "
            "(e.g. adds rates that must be combined harmonically, counts with order when order does not matter).",
        ),
        ErrorType(
            "Execution",
            "numerical computation",
            "the plan is right but a calculation, algebraic manipulation or copied value is wrong "
            "(e.g. 12 x 7 = 86, drops a sign, copies 45 as 54).",
        ),
        ErrorType(
            "Reasoning",
            "reasoning planning",
            "a logical gap: an unjustified step, a conclusion that does not follow, "
            "or a contradiction with an earlier step.",
        ),
        ErrorType(
            "Degenerate",
            "degenerate output",
            "the output stops being a solution: a repetition loop, truncation at the token limit, "
            "no final answer, or a correct answer reached and then abandoned.",
        ),
    )
}

CAPABILITIES = ("numerical computation", "reasoning planning", "problem understanding", "degenerate output")

# Sub-kinds of Degenerate, decided by rules (qmr_core.diagnose.rules), not by a judge.
DEGENERATE_KINDS = ("repetition", "truncation", "no-answer", "abandoned")


def normalize_type(name: str) -> str | None:
    """'execution', ' EXECUTION ', 'Execution error' -> 'Execution'; unknown -> None."""
    key = name.strip().lower().removesuffix(" error").removesuffix("error").strip()
    for t in ERROR_TYPES:
        if t.lower() == key:
            return t
    return None


def capability_of(error_type: str | None) -> str | None:
    if error_type is None:
        return None
    try:
        return ERROR_TYPES[error_type].capability
    except KeyError:
        raise QmrError(f"unknown error type '{error_type}' (known: {', '.join(ERROR_TYPES)})") from None


def definitions_text() -> str:
    """The definitions as the judge prompt and `qmr errors --help` show them."""
    return "\n".join(f"- {t.name}: {t.definition}" for t in ERROR_TYPES.values())
