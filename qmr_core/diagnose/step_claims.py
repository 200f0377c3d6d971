"""Symbolic step checker: find the arithmetic claims a step states and flag the false ones.

A claim is an equality whose sides are both fully numeric: ``12 \\times 7 = 84``, chains
``a = b = c``, ``194 = 11 \\times 17 + 9``, ``\\frac{3}{4} = 0.75``, ``2^{10} = 1024``,
GSM8K's ``<<48/2=24>>``, plain-text ``3 x 4 = 12``, ``12 ÷ 4 = 3``, ``40% × 25 = 10``.
Both sides are evaluated exactly (``fractions.Fraction``) by the tokenizer and recursive-descent
parser of arith.py; model text is never passed to eval or sympy, and every cost there is bounded.

Precision matters more than recall: a flag must be a real error. A side is judged only when
the text around it cannot change its meaning, so the checker skips (never flags):
- sides next to a variable, function name, unknown LaTeX command or operator word
  (``2x + 3 = 7``, ``f(3) = 9``, ``half of 10 = 5``, ``3 times 4 = 12``, ``17 \\bmod 5 = 2``);
- numbers glued to ``:`` (times 3:45, ratios 2:1), ordinals and units written against the number;
- step and list numbers ("Step 2:", "1."), which punctuation separates from the claim;
- approximate relations (``≈``, ``\\approx``), rounding to the precision the result is written
  with (``22/7 = 3.14``), rounding of a non-integer result to a nearby integer (``100/30 = 3``),
  running totals written as chains (``20 + 5 = 25 + 10 = 35``), ``a / b × c`` read as
  ``a / (b c)``, percent read either as a unit or as /100;
- claims whose sides carry different units (``1 \\text{ hour} = 60 \\text{ minutes}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from qmr_core.diagnose.arith import (
    eq_segments,
    split_at_eq,
    Refused,
    Tok,
    normalize,
    tokenize,
)
from qmr_core.diagnose.facts import fact_claims
from qmr_core.diagnose.sides import (  # noqa: F401  (re-exported for trace_rules and tools)
    Side,
    _fmt,
    _holds,
    _remainder,
    _running_total,
    _unit_factors,
    evaluate_side,
    strip_units,
)
from qmr_core.diagnose.units import explained, mark_plain_units, share_claims

CHECKER_VERSION = "qmr-symbolic/4"
# rules whose finding is a misread problem or quantity (rates.py, misreadings.py, wording.py)
MISREAD_RULES = frozenset({"rate", "disputes problem", "week", "price", "percent", "percent base", "discount",
                           "one of many"})
WORDING = {"self-correction": "says it is wrong", "disputes problem": "says the problem statement is wrong",
           "percent base": "takes the problem's percent of another base than the problem names"}

MAX_CLAIMS = 200  # per step

# Words that, right before a claim's left side, make it part of a longer expression.
OPERATOR_WORDS = frozenset(
    ["of", "times", "by", "plus", "minus", "and", "mod", "modulo", "over", "into", "per", "than", "less", "more", "half", "twice", "double", "triple", "thrice", "quarter", "quarters", "third", "thirds", "fourth", "fourths", "fifth", "fifths", "product", "sum", "difference", "quotient", "multiply", "multiplied", "multiplying", "divide", "divided", "dividing", "add", "added", "adding", "subtract", "subtracted", "subtracting", "from", "x", "y", "z", "n", "squared", "cubed", "root", "percent", "percentage", "with", "without", "between", "each", "every", "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions"]
)
# Words after which a bare number can open a claim ("so 20 = 4 × 5").
LEAD_OK_WORDS = frozenset(
    ["is", "are", "was", "were", "be", "been", "so", "thus", "then", "hence", "therefore", "get", "gets", "got", "gives", "give", "giving", "yields", "yield", "compute", "computing", "calculate", "calculating", "calculation", "have", "has", "had", "we", "that", "which", "answer", "result", "total", "also", "now", "check", "verify", "verifying", "confirm", "indeed", "since", "because"]
)
# Words that, right after a claim's right side, change its value or make it inexact.
FOLLOW_BAD_WORDS = frozenset(
    ["times", "plus", "minus", "divided", "multiplied", "over", "squared", "cubed", "percent", "percentage", "of", "x", "y", "z", "n", "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions", "trillion", "half", "quarter", "quarters", "thirds", "remainder", "r", "rem", "with", "approximately", "approx", "about", "roughly", "nearly", "rounded", "round", "cent", "cents", "mod", "modulo"]
)
APPROX_CONTEXT = re.compile(r"(?i)\b(approx\w*|roughly|rounded|rounding|round|nearly|estimat\w*|about)\b")
# A step that says an equation is false (proof by contradiction, checking a candidate) or works
# in another base may state false equalities on purpose: its claims are not flagged.
NOT_ASSERTED = re.compile(
    r"(?i)(contradiction|\bnot true\b|\bfalse\b|impossible|extraneous|absurd|\bincorrect|\bwrong\b|mistake"
    r"|\bnot equal|\bisn't\b|\bis not\b|\bdoes not equal|\bdoesn't equal|\\neq|\bin base\b|\bbase[- ]?\d"
    r"|\bno solutions?\b|\bnever\b|\bcannot\b|\bcan't\b)"
)
# "a * b = 2a + 3b", "P \ast Q means ...": '*' may be an operator the problem defines.
CUSTOM_STAR = re.compile(r"(?<![A-Za-z])[A-Za-z]\s*(?:\*|\\ast)\s*[A-Za-z](?![A-Za-z])")


# -- claims ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    text: str  # "lhs = rhs" as written (after notation normalization)
    lhs: str
    rhs: str
    lhs_value: Fraction
    rhs_value: Fraction
    holds: bool
    computed: str  # the exact value of the computed side
    stated: str  # the value the step states for it
    rule: str = "arithmetic"  # or algebra | equation | named | final answer (trace_rules.py) | rate | wording.py's

    @property
    def error_type(self) -> str:
        """The taxonomy type of the error the claim shows: a misquoted problem is misread, the rest are slips."""
        return "Conceptual" if self.rule in MISREAD_RULES else "Execution"

    def describe(self) -> str:
        if not self.computed:
            return f"{self.text!r}: the step {WORDING[self.rule]}"
        if self.rule in ("arithmetic", "share", "fact"):
            return f"{self.text} is false: the left side is {_fmt(self.lhs_value)}, the right side {_fmt(self.rhs_value)}"
        return f"{self.text} is false ({self.rule}): {self.computed} expected, {self.stated} stated"


@dataclass
class StepCheck:
    claims: list[Claim] = field(default_factory=list)

    @property
    def false_claims(self) -> list[Claim]:
        return [c for c in self.claims if not c.holds]


_MATH_KINDS = {"NUM", "OP", "LP", "RP", "EQ", "FRAC", "SQRT", "UNIT", "BIG", "BOX", "LABEL"}
_CLEAN_ADJACENT = {"\u27ea", "\u27eb", "\u2016"}
_PLAIN_PUNCT = {".", ",", ";", ":", "?", "!"} | _CLEAN_ADJACENT  # other symbols (– & | ~) may be operators
_END_PUNCT = {".", ",", ";", "?"}


def _trim_outer_parens(side: list[Tok], leading: bool) -> list[Tok]:
    """'(3 + 4 = 7)': the segment's first side keeps an unmatched '(' and its last side a ')'."""
    def balance(ts: list[Tok]) -> int:
        return sum(1 if t.kind == "LP" else -1 if t.kind == "RP" else 0 for t in ts)

    side = list(side)
    if leading:
        while side:
            if side[0].kind == "LP" and balance(side) > 0:
                side = side[1:]
            elif side[0].kind == "BOX" and len(side) > 1 and side[1].kind == "LP" and balance(side) > 0:
                side = side[2:]  # "\boxed{150 \div 3 = 50}": the box holds the whole claim
            else:
                break
    else:
        while side and side[-1].kind == "RP" and balance(side) < 0:
            side = side[:-1]
    return side


def _meaningful(toks: list[Tok], k: int, step: int) -> Tok | None:
    """The nearest token from k on (direction step) that is not a math delimiter."""
    while 0 <= k < len(toks) and toks[k].text == "\u2016":
        k += step
    return toks[k] if 0 <= k < len(toks) else None


def _continues(toks: list[Tok], k: int, step: int) -> bool:
    """Does the expression go on past math delimiters ('20 \\(\\times\\) 2 = 40')?"""
    while 0 <= k < len(toks) and toks[k].text == "\u2016":
        k += step
    return 0 <= k < len(toks) and toks[k].kind in _MATH_KINDS and toks[k].kind != "EQ"


def _first_side_ok(toks: list[Tok], seg_start: int, side: list[Tok]) -> bool:
    if not side:
        return False
    if seg_start > 0 and toks[seg_start - 1].text == "\u2016" and _continues(toks, seg_start - 1, -1):
        return False
    prev = toks[seg_start - 1] if seg_start > 0 else None
    core = [t for t in side if t.kind != "UNIT"]
    if not core:
        return False
    if core[0].kind == "BOX":
        return False  # "\boxed{11} = 2": boxed used as an operator
    if prev is not None:
        if not toks[seg_start].space_before and prev.text not in _CLEAN_ADJACENT:
            return False  # glued to a word, a colon, a subscript...
        if prev.kind in ("CMD", "REL") or (prev.kind == "PUNCT" and prev.text not in _PLAIN_PUNCT):
            return False
        if prev.kind == "WORD" and core[0].kind == "LP":
            return False  # "f \left( 3 \right) = 9": function application
        word_tok = _meaningful(toks, seg_start - 1, -1)
        if word_tok is not None and word_tok.kind in ("CMD", "REL"):
            return False
        if word_tok is not None and word_tok.kind == "WORD":
            word = word_tok.text.lower()
            if word in OPERATOR_WORDS:
                return False
            bare = sum(1 for t in core if t.kind == "NUM") == 1 and not any(
                t.kind in ("OP", "FRAC", "SQRT") and t.text != "%" for t in core
            )
            if bare and word not in LEAD_OK_WORDS:
                return False
    head = core[0]
    if head.kind == "OP":
        if head.text != "-":
            return False
        nxt = core[1] if len(core) > 1 else None
        if nxt is None or nxt.space_before or nxt.kind not in ("NUM", "LP", "FRAC", "SQRT"):
            return False  # "x - 3 = 5": the minus is binary
        word_tok = _meaningful(toks, seg_start - 1, -1)
        if word_tok is not None and word_tok.kind == "WORD" and word_tok.text.lower() not in LEAD_OK_WORDS:
            return False
    return True


def _last_side_ok(toks: list[Tok], seg_end: int, side: list[Tok]) -> bool:
    if not any(t.kind != "UNIT" for t in side):
        return False
    nxt = toks[seg_end] if seg_end < len(toks) else None
    if nxt is None:
        return True
    if nxt.text == "\u2016" and _continues(toks, seg_end, 1):
        return False
    after = toks[seg_end + 1] if seg_end + 1 < len(toks) else None
    if not nxt.space_before:
        if nxt.text in _CLEAN_ADJACENT:
            return True
        if nxt.kind == "PUNCT" and nxt.text in _END_PUNCT:  # sentence end, not "2.\overline{5}"
            return after is None or after.space_before or after.text in _CLEAN_ADJACENT
        if nxt.kind == "REL":
            return True
        return False  # "4:00", "12th", "3x", "8!"
    if nxt.kind == "CMD" or (nxt.kind == "PUNCT" and nxt.text not in _PLAIN_PUNCT):
        return False  # "= 3 \pi", "= 56 – 3"
    word_tok = _meaningful(toks, seg_end, 1)
    if word_tok is not None and word_tok.kind == "WORD" and word_tok.text.lower() in FOLLOW_BAD_WORDS:
        return False
    if word_tok is not None and word_tok.kind == "CMD":
        return False
    return True


def _word_claims(source: str, text: str, approx_context: bool, asserted: bool) -> list[Claim]:
    """Claims written in words: shares ('20% of 50 = 10') and fixed facts ('30 days in March')."""
    out: list[Claim] = []
    for text_, exact, stated, decimals in share_claims(source):
        diff = abs(exact - stated)
        holds = diff == 0 or approx_context or (decimals > 0 and (exact * 10**decimals).denominator != 1
                                                and diff <= Fraction(1, 10**decimals)) or (
            decimals == 0 and exact.denominator != 1 and diff < 1)
        if holds or asserted:
            out.append(Claim(text_, text_, _fmt(stated), exact, stated, holds, _fmt(exact), _fmt(stated), "share"))
    if asserted:
        for text_, exact, stated in fact_claims(text):
            out.append(Claim(text_, text_, _fmt(stated), exact, stated, False, _fmt(exact), _fmt(stated), "fact"))
    return out


def _read_sides(toks: list[Tok], seg_start: int, seg_end: int, source: str) -> list[Side | None]:
    """The segment's sides, each evaluated, or None where the text around it may change its meaning."""
    raw_sides = split_at_eq(toks[seg_start:seg_end])
    last = len(raw_sides) - 1
    sides: list[Side | None] = []
    for k, raw in enumerate(raw_sides):
        side = raw
        if k == 0:
            side = _trim_outer_parens(side, leading=True)
            if not _first_side_ok(toks, seg_start, side):
                sides.append(None)
                continue
        if k == last:
            while side and side[-1].kind == "LP":
                side = side[:-1]  # "= 14.99 (round to two decimals)": a remark opens
            side = _trim_outer_parens(side, leading=False)
            if not _last_side_ok(toks, seg_end, side):
                sides.append(None)
                continue
        try:
            sides.append(evaluate_side(side, source) if side else None)
        except (Refused, ZeroDivisionError, OverflowError, ValueError):
            sides.append(None)
    return sides


def find_claims(text: str, context: str = "") -> StepCheck:
    """Every fully numeric equality the step states, judged exactly.

    ``context`` is the problem text (and other steps): it tells whether '*' is a custom operator.
    """
    source = normalize(text)
    custom_star = bool(CUSTOM_STAR.search(context) or CUSTOM_STAR.search(text))
    toks = mark_plain_units(tokenize(source, custom_star))
    approx_context = bool(APPROX_CONTEXT.search(source))
    asserted = not NOT_ASSERTED.search(text)
    check = StepCheck()
    for seg_start, seg_end in eq_segments(toks, _MATH_KINDS):
        sides = _read_sides(toks, seg_start, seg_end, source)
        for k in range(len(sides) - 1):
            lhs, rhs = sides[k], sides[k + 1]
            if lhs is None or rhs is None:
                continue
            holds = _holds(lhs, rhs, approx_context)
            if not holds:
                factors = _unit_factors(lhs, rhs)
                if factors is None:
                    continue  # possibly a unit conversion: not judged
                holds = any(_holds(lhs, rhs, approx_context, f) for f in explained(factors))
            if not holds and (_running_total(lhs, rhs) or _remainder(lhs, rhs) or _remainder(rhs, lhs) or not asserted):
                continue
            stated, computed = (rhs, lhs) if rhs.literal is not None or lhs.literal is None else (lhs, rhs)
            check.claims.append(
                Claim(
                    text=f"{lhs.text} = {rhs.text}",
                    lhs=lhs.text,
                    rhs=rhs.text,
                    lhs_value=lhs.value,
                    rhs_value=rhs.value,
                    holds=holds,
                    computed=_fmt(computed.value),
                    stated=_fmt(stated.value),
                )
            )
            if len(check.claims) >= MAX_CLAIMS:
                return check
    check.claims += _word_claims(source, text, approx_context, asserted)
    return check


# -- traces ----------------------------------------------------------------------------------


def exact_value(expression: str) -> Fraction:
    """Evaluate one numeric expression exactly (for tests and tools); raises Refused."""
    source = normalize(expression)
    toks = tokenize(source)
    if any(t.kind not in _MATH_KINDS or t.kind == "EQ" for t in toks):
        raise Refused("not a numeric expression")
    return evaluate_side(toks, source).value


__all__ = ["CHECKER_VERSION", "Claim", "Refused", "StepCheck", "exact_value", "find_claims"]
