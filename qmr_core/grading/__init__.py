"""qmr's answer grader: extraction (``extract``) kept apart from verification (``equivalence``).

``grade`` is safe from any thread: symbolic checks run in killable worker processes
with a per-check deadline (``bounded``), never with ``signal.alarm``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .bounded import pool as _pool
from .equivalence import cache_info, check, clear_cache, configure, is_equivalent
from .extract import Extraction, extract, extract_answer, gold_answer

GRADER_VERSION = "qmr-grader/1.0"

__all__ = [
    "GRADER_VERSION",
    "Extraction",
    "Verdict",
    "cache_info",
    "clear_cache",
    "configure",
    "extract",
    "extract_answer",
    "gold_answer",
    "grade",
    "is_equivalent",
    "warm_up",
]


@dataclass(frozen=True)
class Verdict:
    extracted: str | None
    correct: bool
    rule: str
    extract_method: str


def grade(gold: str, output: str, benchmark: str = "math") -> Verdict:
    """Extract the final answer from ``output`` and check it against ``gold``; never raises."""
    try:
        ex = extract(output, benchmark)
    except Exception:
        return Verdict(None, False, "parse-error", "none")
    if ex.answer is None:
        return Verdict(None, False, "no-answer", ex.method)
    try:
        ok, rule = check(gold, ex.answer, benchmark)
    except Exception:
        ok, rule = False, "parse-error"
    return Verdict(ex.answer, ok, rule, ex.method)


def warm_up() -> None:
    """Start the symbolic worker processes now instead of on the first symbolic check."""
    _pool().warm()
