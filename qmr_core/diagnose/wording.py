"""What a step says about itself or about the problem, read from fixed phrases only.

- ``self-correction``: the step says that it itself is wrong, in the forms that can only refer to
  the step's own text: a parenthetical "(This is incorrect ...)" or "(Note: this step should
  actually be ...)". A reflection such as "wait, that was wrong" may refer to an earlier step, so
  it is not read.
- ``disputes problem``: the step says the problem statement has a mistake, typo, inconsistency or
  discrepancy, or that a given value is "not N as stated". Benchmark problems are checked; a
  solution that overrides the problem has misread it.
- ``restated``: a value restated in brackets with the same unit and another value:
  ``0.0056 kb/s (or 5.6 kb/s)``; ``2 hours (or 120 minutes)`` and ``0.2 (which is 20%)`` change the
  unit, and ``n = 4 (or 5)`` without a unit may list alternatives, so they are not read.
"""

from __future__ import annotations

import re
from fractions import Fraction

from qmr_core.grading.exact_numbers import decimal_value

MAX_TEXT = 20_000

SELF_CORRECTION = re.compile(
    r"(?i)\(\s*(?:note:\s*)?this (?:step |calculation |result |equation )?(?:is|was) (?:incorrect|wrong|not correct)\b"
    r"|\bthis (?:step|calculation) should actually (?:be|read)\b"
)
DISPUTES_PROBLEM = re.compile(
    r"(?i)\b(?:mistake|error|typo|inconsistenc\w*|discrepanc\w*|contradiction|confusion)\s+in\s+the\s+"
    r"(?:problem|question)\b"
    r"|\b(?:problem|question)(?:\s+statement)?\s+(?:is|was|seems|seems to be|might be|may be|must be)\s+"
    r"(?:incorrect|wrong|flawed|inconsistent)\b"
    r"|\bnot\s+\$?\d[\d.,]*\s*[A-Za-z]*\s+as\s+(?:initially\s+|originally\s+)?(?:stated|given)\b"
)
_NUM = r"(-?\d+(?:,\d{3})*(?:\.\d+)?)"
_UNIT = r"((?:[A-Za-z]+(?:/[A-Za-z]+)?)|%)?"
RESTATED = re.compile(
    r"(?<![\w.])\$?" + _NUM + r"\s*" + _UNIT + r"\s*\(\s*(?:or|i\.e\.,?|that is,?)\s+\$?" + _NUM + r"\s*" + _UNIT
    + r"\s*\)"
)


def _value(text: str) -> Fraction:
    sign = -1 if text.startswith("-") else 1
    return sign * decimal_value(text.lstrip("-"))[0]


def _restated(text: str) -> list[tuple[str, Fraction, Fraction]]:
    out = []
    for m in RESTATED.finditer(text):
        first, unit1, second, unit2 = m.groups()
        if not unit1 or unit1 != unit2 or unit1 == "%":
            continue  # a conversion, a percent read two ways, or "n = 4 (or 5)": alternatives
        a, b = _value(first), _value(second)
        decimals = min(len(first.partition(".")[2]), len(second.partition(".")[2]))  # the coarser one may be rounded
        if abs(a - b) > Fraction(1, 10**decimals):
            out.append((m.group(0), a, b))
    return out


def wording_flags(text: str) -> list[tuple[str, str, Fraction | None, Fraction | None]]:
    """(rule, quoted text, first value, restated value) for each finding in one step."""
    text = text[:MAX_TEXT]
    plain = re.sub(r"\\\(|\\\)|\\\[|\\\]|\\text\{([^{}]*)\}", lambda m: m.group(1) or " ", text)
    out: list[tuple[str, str, Fraction | None, Fraction | None]] = []
    if m := SELF_CORRECTION.search(plain):
        out.append(("self-correction", m.group(0), None, None))
    if m := DISPUTES_PROBLEM.search(plain):
        out.append(("disputes problem", m.group(0), None, None))
    out += [("restated", quote, a, b) for quote, a, b in _restated(plain)]
    return out
