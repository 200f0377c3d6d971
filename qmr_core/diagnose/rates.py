"""Rates quoted from the problem and used in a step's arithmetic: ``$6.00 per skirt`` in the problem,
``1 skirt x $8.00/skirt`` in a step.

A rate is a number with an optional currency or noun, then ``per``, ``/`` or (for time units) ``a``,
``an``, ``each``, ``every``, then a unit word: ``$35/hour``, ``4 cookies a week``, ``12 pounds of
ore per day``. A step is flagged when it uses a rate as an operand (next to ``×``, ``÷``, ``*``)
and that rate contradicts what was stated before, in one of two exact ways:

- ``misquoted``: the problem gives one value for this rate (same currency or noun, same unit) and
  the step uses another value that the trace never derived;
- ``per-unit``: the value and noun were stated per one time unit (``4 cookies a week``) and the
  step uses them per another (``4 cookies/day``), which the problem never states.

A value that the trace derived (the result of an ``=``, or written after "is", "so") may be a new
rate legitimately (a raise, an overtime rate), so it is never called a misquote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from qmr_core.grading.exact_numbers import decimal_value

MAX_TEXT = 20_000
MAX_MENTIONS = 200  # per text

TIME_UNITS = frozenset("second minute hour day week month year".split())
_CURRENCY_NOUNS = {"dollar": Fraction(1), "buck": Fraction(1), "cent": Fraction(1, 100)}
_NOT_NOUNS = frozenset(
    """a an the and or of in on at to for from by with is are was were be it its this that these those
    per each every more less than times x plus minus total which who his her their our your my so""".split()
)
_NUM = r"(\d+(?:\.\d+)?)"
_WORD = r"[A-Za-z]+"
_RATE = re.compile(
    r"(?<![\w.])(\$)?" + _NUM + r"(?:\s+(" + _WORD + r"(?:\s+of\s+" + _WORD + r")?))?"
    r"(?:\s*/\s*|\s+(per|an?|each|every)\s+)(" + _WORD + r")\b"
)
_OPERATOR_AFTER = re.compile(r"\s*(?:×|÷|\*|x\s*\$?\d)")
_OPERATOR_BEFORE = re.compile(r"(?:×|÷|\*|\bx)\s*$")
_DERIVED = re.compile(r"(?:=|\bis\b|\bare\b|\bso\b|\bthen\b|\bearns?\b|\bmakes?\b)\s*\$?\s*$")


@dataclass(frozen=True)
class Rate:
    value: Fraction
    noun: str  # "" for money
    per: str
    start: int
    end: int
    operand: bool
    derived: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.noun, self.per


def _singular(word: str) -> str:
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("ches") or w.endswith("shes") or w.endswith("sses") or w.endswith("xes"):
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


_NUMBER_WORDS = {w: k for k, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60}
_WORD_NUMBER = re.compile(r"(?i)\b(?:" + "|".join(_NUMBER_WORDS) + r")\b(?!-)")


@lru_cache(maxsize=256)  # rates.py and misreadings.py read the same steps
def plain(text: str) -> str:
    """LaTeX and markup reduced to the words and numbers a reader sees."""
    s = text[:MAX_TEXT]
    s = re.sub(r"\\(?:text|mathrm|textbf|mbox|textit|operatorname)\s*\{([^{}]*)\}", r" \1 ", s)
    s = s.replace("\\$", "$").replace("\\%", "%").replace("**", "")
    s = re.sub(r"\\[()\[\]]", " ", s)
    s = re.sub(r"\$(?!\s*\d)", " ", s)  # math delimiters; a '$' before a number is currency
    s = re.sub(r"\\times|\\cdot|\u00d7|\u00b7", " × ", s)
    s = re.sub(r"\\div|\u00f7", " ÷ ", s)
    s = re.sub(r"(\d),(?=\d{3}(?!\d))", r"\1", s)
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r" (\1)/(\2) ", s)
    s = _WORD_NUMBER.sub(lambda m: str(_NUMBER_WORDS[m.group(0).lower()]), s)
    return re.sub(r"[ \t]+", " ", s)


def rates(text: str) -> list[Rate]:
    """Every rate written in the text (already plain), in order."""
    out: list[Rate] = []
    for m in _RATE.finditer(text):
        currency, num, noun, sep, per = m.groups()
        per_word = _singular(per)
        if sep is not None and sep.lower() != "per" and per_word not in TIME_UNITS:
            continue  # "a" and "each" make a rate only with a time unit ("4 cookies a week")
        if per_word in _NOT_NOUNS or len(per_word) < 3:
            continue
        value = decimal_value(num)[0]
        noun_key = ""
        if noun is not None:
            first = _singular(noun.split()[0])
            if first in _NOT_NOUNS:
                continue
            if first in _CURRENCY_NOUNS:
                value *= _CURRENCY_NOUNS[first]
            else:
                noun_key = first
        if currency is not None and noun_key:
            continue  # "$5 tickets per person": the noun names the priced thing, not a unit
        before, after = text[max(0, m.start() - 12) : m.start()], text[m.end() : m.end() + 12]
        operand = bool(_OPERATOR_AFTER.match(after) or _OPERATOR_BEFORE.search(before))
        derived = bool(_DERIVED.search(text[max(0, m.start() - 20) : m.start()]))
        out.append(Rate(value, noun_key, per_word, m.start(), m.end(), operand, derived))
        if len(out) >= MAX_MENTIONS:
            break
    return out


_RESULT = re.compile(r"=\s*\$?\s*(\d+(?:\.\d+)?)")


def _results(text: str) -> set[Fraction]:
    return {decimal_value(x)[0] for x in _RESULT.findall(text)}


def rate_flags(problem: str, steps: Sequence[str]) -> list[tuple[int, str, Fraction, Fraction]]:
    """(step, text, value stated before, value used) for each rate a step's arithmetic misquotes."""
    given: dict[tuple[str, str], set[Fraction]] = {}
    by_value: dict[tuple[Fraction, str], set[str]] = {}  # (value, noun) -> time units it was stated per
    problem_plain = plain(problem)
    for r in rates(problem_plain):
        given.setdefault(r.key, set()).add(r.value)
        by_value.setdefault((r.value, r.noun), set()).add(r.per)
    mentioned = {r.start for r in rates(problem_plain)}
    loose = {decimal_value(m.group(0))[0] for m in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?", problem_plain)
             if not any(s <= m.start() < s + 12 for s in mentioned)}  # numbers the problem states, not as rates
    derived: set[Fraction] = set()
    out: list[tuple[int, str, Fraction, Fraction]] = []
    for idx, step in enumerate(steps):
        text = plain(step)
        for r in rates(text):
            seen = by_value.setdefault((r.value, r.noun), set())
            known = derived | _results(text[: r.start])
            if r.operand and not r.derived and r.value not in known:
                quoted = given.get(r.key)
                if quoted and len(quoted) == 1 and r.value not in quoted and r.value not in loose:
                    out.append((idx, text[r.start : r.end].strip(), next(iter(quoted)), r.value))
                    continue
                other = {p for p in seen if p != r.per and p in TIME_UNITS}
                if r.per in TIME_UNITS and other and r.per not in seen:
                    out.append((idx, text[r.start : r.end].strip(), r.value, r.value))
                    continue
            if r.derived:
                derived.add(r.value)
            seen.add(r.per)
        derived |= _results(text)
    return out
