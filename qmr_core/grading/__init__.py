"""qmr's answer grader: extraction (``extract``) kept apart from verification (``equivalence``).

``grade`` is safe from any thread: symbolic checks run in killable worker processes
with a per-check deadline (``bounded``), never with ``signal.alarm``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .bounded import pool as _pool
from .equivalence import cache_info, check, clear_cache, configure, is_equivalent
from .extract import EXPLICIT_METHODS, Extraction, extract, extract_answer, gold_answer
from .rounding import Rounding, rounding_request

# 1.1: step labels are not answers; a truncated output without a stated answer has none;
# decimals equal exact golds only where the problem asks for rounding; \boxed{5!} is 120.
# 1.2: a run of boxes joined by commas/"and" is one list answer; "AB = 4", "|AB| = 1", "A:B = 1" give
# their value as "x = 3" does; "7:32"/"12:00" are ratios (ordered parts, never a division); "a or b"
# and "a and b" lists without a backslash; "7 = 11a+c" is an equation, not 11a+c; "x < 1" == "-x > -1";
# "0 < f(x) < 1" is an interval; a prose "Final Answer: The volume is 120." answers 120.
# (review, same version) "\boxed{3} or \boxed{4}" is "3 or 4" (a hedge: equal to one gold only if every
# alternative is), not its last box; a GSM8K run of boxes stays a list (not its first number); a
# prose sentence drops its reason ("2 since ... is 6" -> 2) and a conditional/hedged/two-statement
# one ("5 if x is 3", "more than 5", "x is 9 and y = 5") gives no value; "f(2) = 5" and
# "\text{Area} = 12" are named values; "4:30 a.m." != "4:30 p.m."; a ratio of any length is no
# division; "-e > -1" is no half-line; "2 \cdot 3 = 6\pi" is 6\pi again (1.2 had made it an equation);
# "x = 5 = 6" (two different exact numbers) states no value; "7 -- the total is 6" / "7 (the total is 6)" answer 7.
# "3 or 4" is a set of alternatives, never the ordered pair (3, 4); "\approx 0.33" and a prose "approximately
# 0.33" are 0.33 (exact golds still need the problem to ask for rounding).
GRADER_VERSION = "qmr-grader/1.2"
TRUNCATED = "truncated"  # extract_method of a truncated output that states no answer

__all__ = [
    "GRADER_VERSION",
    "TRUNCATED",
    "Extraction",
    "Rounding",
    "Verdict",
    "cache_info",
    "clear_cache",
    "configure",
    "extract",
    "extract_answer",
    "gold_answer",
    "grade",
    "is_equivalent",
    "rounding_request",
    "warm_up",
]


@dataclass(frozen=True)
class Verdict:
    extracted: str | None
    correct: bool
    rule: str
    extract_method: str


def grade(
    gold: str, output: str, benchmark: str = "math", *, problem: str | None = None, finish_reason: str | None = None
) -> Verdict:
    """Extract the final answer from ``output`` and check it against ``gold``; never raises.

    ``problem`` is the problem text: a rounded decimal is accepted only where it asks for one
    (``rounding_request``).  ``finish_reason`` "length" (cut by the token limit): an answer the
    output does not state (a guessed last number) is no answer, recorded as ``truncated``.
    """
    try:
        ex = extract(output, benchmark)
    except Exception:
        return Verdict(None, False, "parse-error", "none")
    if finish_reason == "length" and ex.method not in EXPLICIT_METHODS:
        return Verdict(None, False, "no-answer", TRUNCATED)
    if ex.answer is None:
        return Verdict(None, False, "no-answer", ex.method)
    try:
        ok, rule = check(gold, ex.answer, benchmark, rounding_request(problem))
    except Exception:
        ok, rule = False, "parse-error"
    return Verdict(ex.answer, ok, rule, ex.method)


def warm_up(wait: bool = True) -> None:
    """Start the symbolic worker processes now instead of on the first symbolic check (whose
    deadline would count their start-up); ``wait`` False: start them in the background."""
    _pool().warm(wait)
