"""Units in arithmetic claims: plain-text unit words, and exact conversions between known units.

GSM8K-style steps write units as words: ``33 classes * 15 students/class = 495 students``,
``$194/meter × 490 meters = $94,860``, ``42 bales x 75 pounds per bale = 3150 pounds``. Those words
are read as unit labels (UNIT tokens), so the numbers are judged; a word run is a unit only when it
follows a number and an operator, ``=`` or the end of the expression follows it.

A claim that mixes two units of one dimension (``3 hours = 120 minutes``, ``90 minutes × 40 mph``)
may hide a conversion. It is called false only when no conversion factor between the units it
names explains the difference, so ``3 hours = 180 minutes`` holds and ``3 hours = 120 minutes``
is flagged. Months (28 to 31 days) and ounces (mass or volume) have no exact factor: claims that
mix them with other units of their dimension are not judged.
"""

from __future__ import annotations

import re
from fractions import Fraction
from itertools import combinations

from qmr_core.diagnose.arith import Tok
from qmr_core.grading.exact_numbers import decimal_value, percent

MAX_UNIT_WORDS = 3

# Words that never start or continue a unit: function words, operators, quantifiers.
_STOP = frozenset(
    """a an the and or but nor if so as at by in on to of for from into onto with without than then
    that this these those it its is are was were be been being has have had do does did will would
    can could should may might must shall not no yes each every per all any some more less fewer
    most least many much few times plus minus over under divided multiplied equals equal total sum
    difference product quotient half twice double triple thrice quarter quarters third thirds fourth
    fifth dozen dozens hundred hundreds thousand thousands million millions billion billions trillion
    percent percentage remainder rem mod modulo approximately approx about roughly nearly rounded
    round left remaining which who what when where there here we he she they you i me him her them
    his their our your my after before later earlier ago now also only just still again already
    squared cubed root th st nd rd x y z n k m b altogether together""".split()
)
_END_KINDS = {"OP", "EQ", "RP", "LABEL", "REL"}
_END_PUNCT = {".", ",", ";", ":", "?", "!", "\u2016", "\u27ea", "\u27eb"}


def _unit_word(t: Tok) -> bool:
    w = t.text
    return t.kind == "WORD" and len(w) >= 2 and w.isalpha() and w.islower() and w not in _STOP


def _run_end(toks: list[Tok], j: int) -> bool:
    """May a unit run end before toks[j]?"""
    if j >= len(toks):
        return True
    t = toks[j]
    if t.kind == "WORD" and t.text in ("x", "X") and j + 1 < len(toks) and toks[j + 1].kind == "NUM":
        return True  # "42 bales x 75 pounds"
    if t.kind in _END_KINDS:
        return not (t.kind == "OP" and t.text == "%")
    return t.kind == "PUNCT" and t.text in _END_PUNCT


def _collect(toks: list[Tok], k: int) -> int:
    """End index of the longest unit run starting at toks[k] that may end there (k: none)."""
    j, words, best = k, 0, k
    while j < len(toks) and words < MAX_UNIT_WORDS:
        t = toks[j]
        nxt = toks[j + 1] if j + 1 < len(toks) else None
        if t.kind == "OP" and t.text == "/" and nxt is not None and not nxt.space_before and _unit_word(nxt) \
                and (j > k or not t.space_before):
            j += 2  # "students/class", "$15/student"
        elif t.kind == "WORD" and t.text == "per" and j > k and nxt is not None and _unit_word(nxt):
            j += 2  # "pounds per bale"
        elif _unit_word(t) and t.space_before and (j == k or toks[j - 1].kind == "WORD"):
            j += 1
        else:
            break
        words += 1
        if _run_end(toks, j):
            best = j
    return best


def mark_plain_units(toks: list[Tok]) -> list[Tok]:
    """Merge the unit words after numbers into UNIT tokens; 'x' between a unit and a number is '×'."""
    out: list[Tok] = []
    k = 0
    while k < len(toks):
        t = toks[k]
        out.append(t)
        k += 1
        if t.kind != "NUM" or k >= len(toks):
            continue
        end = _collect(toks, k)
        if end > k:
            first, last = toks[k], toks[end - 1]
            text = " ".join(x.text for x in toks[k:end]).replace(" / ", "/")
            out.append(Tok("UNIT", text, first.start, last.end, first.space_before))
            k = end
    for i in range(1, len(out) - 1):
        x = out[i]
        if x.kind == "WORD" and x.text in ("x", "X") and out[i - 1].kind == "UNIT" and out[i + 1].kind == "NUM":
            x.kind, x.text = "OP", "*"
    return out


# -- conversions -----------------------------------------------------------------------------

_F = Fraction
# word (singular, as _unit_key writes it) -> (dimension, size in the dimension's base unit)
KNOWN: dict[str, tuple[str, Fraction]] = {
    "second": ("time", _F(1)), "sec": ("time", _F(1)), "minute": ("time", _F(60)), "min": ("time", _F(60)),
    "hour": ("time", _F(3600)), "hr": ("time", _F(3600)), "day": ("time", _F(86400)),
    "hrs": ("time", _F(3600)), "week": ("time", _F(604800)), "year": ("time", _F(31536000)),
    "inch": ("length", _F(1)), "inche": ("length", _F(1)), "foot": ("length", _F(12)), "feet": ("length", _F(12)),
    "ft": ("length", _F(12)), "yard": ("length", _F(36)), "mile": ("length", _F(63360)),
    "mm": ("metric length", _F(1)), "millimeter": ("metric length", _F(1)), "cm": ("metric length", _F(10)),
    "centimeter": ("metric length", _F(10)), "meter": ("metric length", _F(1000)),
    "km": ("metric length", _F(1000000)), "kilometer": ("metric length", _F(1000000)),
    "gram": ("metric mass", _F(1)), "kg": ("metric mass", _F(1000)), "kilogram": ("metric mass", _F(1000)),
    "pound": ("mass", _F(16)), "lb": ("mass", _F(16)), "lbs": ("mass", _F(16)), "ton": ("mass", _F(32000)),
    "cup": ("volume", _F(1)), "pint": ("volume", _F(2)), "quart": ("volume", _F(4)), "gallon": ("volume", _F(16)),
    "ml": ("metric volume", _F(1)), "milliliter": ("metric volume", _F(1)), "liter": ("metric volume", _F(1000)),
    "cent": ("money", _F(1)), "dollar": ("money", _F(100)),
}
# No exact factor: a claim mixing them with their dimension's other units is not judged.
AMBIGUOUS = {"month": "time", "ounce": "mass", "oz": "mass", "decade": "time", "century": "time"}


def unit_words(units: frozenset[str]) -> set[str]:
    return {w for u in units for w in u.replace("^", " ").split() if w != "per"}


def conversion_factors(lhs_units: frozenset[str], rhs_units: frozenset[str]) -> list[Fraction] | None:
    """The factors a mixed-unit claim may hide ([] when it mixes no two units of one dimension),
    or None when it mixes units without an exact factor (months and days)."""
    words = unit_words(lhs_units) | unit_words(rhs_units)
    by_dim: dict[str, set[Fraction]] = {}
    for w in words:
        if w in KNOWN:
            dim, size = KNOWN[w]
            by_dim.setdefault(dim, set()).add(size)
    for w in words:
        if w in AMBIGUOUS and by_dim.get(AMBIGUOUS[w]):
            return None
    factors: set[Fraction] = set()
    for sizes in by_dim.values():
        for a, b in combinations(sorted(sizes), 2):
            factors |= {a / b, b / a}
    if len(factors) > 12:
        return None  # too many units at once: anything could be explained
    return sorted(factors)


def explained(factors: list[Fraction]) -> set[Fraction]:
    """The scalings a conversion may apply: one factor or the product of two."""
    return set(factors) | {a * b for a in factors for b in factors}


# -- "20% of 50 = 10", "one third of 18 = 6" ---------------------------------------------------

_NUMBER = r"\$?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_SHARE_WORDS = {
    "half": Fraction(1, 2), "one half": Fraction(1, 2), "a half": Fraction(1, 2), "a third": Fraction(1, 3),
    "one third": Fraction(1, 3), "two thirds": Fraction(2, 3), "a quarter": Fraction(1, 4),
    "one quarter": Fraction(1, 4), "one fourth": Fraction(1, 4), "three quarters": Fraction(3, 4),
    "three fourths": Fraction(3, 4), "a fifth": Fraction(1, 5), "one fifth": Fraction(1, 5),
}
SHARE_OF = re.compile(
    r"(?i)(?<![\w.,/])(?:(?P<pct>\d+(?:\.\d+)?)\s*%|(?P<num>\d+)\s*/\s*(?P<den>\d+)|(?P<word>"
    + "|".join(w.replace(" ", "[- ]") for w in sorted(_SHARE_WORDS, key=len, reverse=True))
    + r"))\s+of\s+(?:the\s+|a\s+total\s+of\s+)?" + _NUMBER
    + r"(?:\s+[a-z]+){0,2}\s*(?:=|\bis\b|\bequals\b)\s*" + _NUMBER
    + r"(?![\d,]*\.?\d)(?!\s*(?:[-+*/×x÷^%(]|\\times|\\cdot|\\div|\\frac|[a-z]+\s*[-+*/×÷])"
    r"|\s+(?:more|less|fewer|greater|smaller|larger|times|percent|dozen|hundred|thousand|million|billion)\b)"
)


def share_claims(source: str) -> list[tuple[str, Fraction, Fraction, int]]:
    """(text, exact value, stated value, stated decimals) of each 'share of a number' claim."""
    out = []
    for m in SHARE_OF.finditer(source[:MAX_SHARE_TEXT]):
        if m.group("pct"):
            share = percent(decimal_value(m.group("pct"))[0])
        elif m.group("num"):
            if int(m.group("den")) == 0:
                continue
            share = Fraction(int(m.group("num")), int(m.group("den")))
        else:
            share = _SHARE_WORDS[re.sub(r"[- ]+", " ", m.group("word").lower())]
        base = decimal_value(m.group(5))[0]
        stated, decimals, _sig = decimal_value(m.group(6))
        out.append((m.group(0).strip(), share * base, stated, decimals or 0))
    return out


MAX_SHARE_TEXT = 20_000
