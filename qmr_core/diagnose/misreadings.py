"""What a step says the problem states, checked against the problem's own words, and a product over several
things that the step then states as the amount of one.

- ``week``: a week taken as fewer than 7 days ("a standard workweek of 5 days", "he works 5 days a
  week") where the problem states no such count and names no working, school or business days, no
  weekday and no weekend: the problem's week has 7 days. A count the trace derived ("40 / 8 = 5, so
  he works 5 days a week") is not read.
- ``price``: a price the problem gives for several items ("$20.25 on 3 tickets", "4 apples cost
  $5.20") stated as the price of one ("each ticket costs $20.25"), the amount not followed by an
  operator ("each apple costs $5.20/4" divides it).
- ``percent``: the problem's "30% of the watermelons were ready" restated as "20% of the 120
  watermelons are ready": the same noun and the same first word after the verb, no negation, and a
  percent that the problem never states, that is not its complement and that no ``=`` of the trace
  derived. A sentence with an ``=`` before it or a word for another part ("remaining", "total") is not read.
- ``percent base``: the problem's "20% of the original price" restated as "20% of the new price" (or the
  reverse: "of the current value" read as "of the initial value"): the same percent and noun, the base
  the problem names swapped for the other one.
- ``discount``: a price the problem gives as "at 75% of its original price" called a 75% discount, or the
  problem's one discount "80% off" called a 20% discount (its complement), in a sentence without "not"
  or "if"; 50% reads the same both ways and is not judged.
- ``one of many``: ``8 portions × 2 kg/portion = 16 kg, so one portion has 16 kg``: the product of N >= 2
  of a thing stated, later in the same step, as the amount of one of that same thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import islice

from qmr_core.diagnose.rates import _singular, plain
from qmr_core.grading.exact_numbers import decimal_value

MAX_TEXT = 20_000  # per step and problem
MAX_STEPS = 200
MAX_MENTIONS = 200  # matches read per text
_NUM = r"(\d+(?:\.\d+)?)"
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_RESULT = re.compile(r"=\s*\$?\s*(\d+(?:\.\d+)?)")

Finding = tuple[int, str, str, Fraction | None, Fraction | None]  # step, rule, quoted text, expected, stated


def _numbers(text: str) -> set[Fraction]:
    return {decimal_value(m.group(0))[0] for m in islice(_NUMBER.finditer(text), 10 * MAX_MENTIONS)}


def _results(text: str) -> set[Fraction]:
    return {decimal_value(m.group(1))[0] for m in islice(_RESULT.finditer(text), MAX_MENTIONS)}


def _scan(steps: Sequence[str], pattern: re.Pattern[str],
          judge: Callable[[int, re.Match[str]], Finding | None]) -> list[Finding]:
    """What `judge` finds at each match of `pattern` in each step."""
    out: list[Finding] = []
    for idx, step in enumerate(steps):
        for m in islice(pattern.finditer(step), MAX_MENTIONS):
            if (finding := judge(idx, m)) is not None:
                out.append(finding)
    return out


def _sentences(text: str) -> list[str]:
    """The plain text's sentences; "Mr." and the like do not end one."""
    return re.split(r"(?<=[.;!?])\s+|\n", re.sub(r"\b(Mr|Mrs|Ms|Dr|St)\.", r"\1", text))


# -- a week of fewer than 7 days -----------------------------------------------------------------

_SHORT_WEEK = re.compile(
    r"(?i)\b(?:(?:work|working|business|school)\s*-?\s*week\s+(?:of|has|is)\s+([1-6])\s+days"
    r"|([1-6])[- ]day\s+(?:work|working|business|school)?\s*-?\s*week"
    r"|(?:works?|worked|working|goes|went|attends?)\s+([1-6])\s+days\s+(?:a|per|each|every|in\s+a)\s+week)\b"
)
_WEEK_WORDS = re.compile(
    r"(?i)\b(?:week\s*days?|weekends?|monday|tuesday|wednesday|thursday|friday|saturday|sunday|work\s*-?\s*weeks?"
    r"|(?:working|business|school|work)\s+(?:days?|weeks?)|days?\s+(?:a|per|each|every)\s+week|times\s+a\s+week)\b"
)


def _week_flags(problem: str, steps: Sequence[str]) -> list[Finding]:
    if not re.search(r"(?i)\bweek", problem) or _WEEK_WORDS.search(problem):
        return []
    given = _numbers(problem)
    derived: set[Fraction] = set()
    out: list[Finding] = []
    for idx, step in enumerate(steps):
        text = step
        results = [(r.start(), decimal_value(r.group(1))[0]) for r in islice(_RESULT.finditer(text), MAX_MENTIONS)]
        for m in islice(_SHORT_WEEK.finditer(text), MAX_MENTIONS):
            days = Fraction(next(g for g in m.groups() if g))
            if days not in given | derived and all(v != days for at, v in results if at < m.start()):
                out.append((idx, "week", m.group(0), Fraction(7), days))
        derived |= {v for _at, v in results}
    return out


# -- a price for several items stated as the price of one -----------------------------------------

_NOT_AFTER = r"(?!\s*(?:each|apiece|a\s+piece|per|a\b|an\b|/|÷|×|\*|\+|-|divided|times|x\s*\d))"
_TOTAL_FIRST = re.compile(r"(?i)\$" + _NUM + r"\s+(?:on|for)\s+(\d+)\s+([a-z]+)" + _NOT_AFTER)
_COUNT_FIRST = re.compile(
    r"(?i)(?<![\w.$])(\d+)\s+([a-z]+)\s+(?:for|cost|costs|at)\s+(?:a\s+total\s+of\s+)?\$" + _NUM + r"\b(?!\.\d)" + _NOT_AFTER
)
_EACH_COSTS = re.compile(
    r"(?i)(?:\beach|\bone|(?<![\w.$])1|\ba\s+single|\bevery)\s+([a-z]+)\s+(?:costs?|is|was|sells\s+for)\s+\$" + _NUM + r"\b(?!\.\d)" + _NOT_AFTER
)


def _group_prices(problem: str) -> dict[str, dict[Fraction, int]]:
    """noun -> {amount: count} for the amounts the problem gives for two or more of them together."""
    out: dict[str, dict[Fraction, int]] = {}
    text = problem
    for m in _TOTAL_FIRST.finditer(text):
        amount, count, noun = m.groups()
        if int(count) >= 2:
            out.setdefault(_singular(noun), {})[decimal_value(amount)[0]] = int(count)
    for m in _COUNT_FIRST.finditer(text):
        count, noun, amount = m.groups()
        if int(count) >= 2:
            out.setdefault(_singular(noun), {})[decimal_value(amount)[0]] = int(count)
    return out


def _price_flags(problem: str, steps: Sequence[str]) -> list[Finding]:
    groups = _group_prices(problem)

    def judge(idx: int, m: re.Match[str]) -> Finding | None:
        noun, amount = _singular(m.group(1)), decimal_value(m.group(2))[0]
        count = groups.get(noun, {}).get(amount)
        return None if count is None else (idx, "price", m.group(0), amount / count, amount)

    return _scan(steps, _EACH_COSTS, judge) if groups else []


# -- a percent of the same things restated with another value ------------------------------------

_PERCENT_OF = re.compile(
    r"(?i)(?<![\d.])(\d+(?:\.\d+)?)\s*%\s+of\s+(?:the|his|her|their|its|all(?:\s+the)?)?\s*(?:\d+(?:\.\d+)?\s+)?"
    r"([a-z]+)\s+(?:is|are|was|were|will\s+be)\s+(not\s+)?([a-z]+)"
)
_OTHER_PART = re.compile(
    r"(?i)\b(remaining|rest|other|another|additional|more|total|overall|combined|altogether|in\s+all|new|now|then)\b"
)


def _percent_flags(problem: str, steps: Sequence[str]) -> list[Finding]:
    text = problem
    stated: dict[tuple[str, str], set[Fraction]] = {}
    for m in _PERCENT_OF.finditer(text):
        if not m.group(3):
            stated.setdefault((_singular(m.group(2)), m.group(4).lower()), set()).add(Fraction(m.group(1)))
    if not stated:
        return []
    given = _numbers(text)
    derived: set[Fraction] = set()
    out: list[Finding] = []
    for idx, step in enumerate(steps):
        for sentence in _sentences(step):
            for m in _PERCENT_OF.finditer(sentence):
                value, quoted = Fraction(m.group(1)), stated.get((_singular(m.group(2)), m.group(4).lower()))
                if (not quoted or len(quoted) != 1 or m.group(3) or "=" in sentence[: m.start()] or _OTHER_PART.search(sentence)
                        or value in given | derived or any(value == 100 - q for q in quoted)):
                    continue
                out.append((idx, "percent", m.group(0), next(iter(quoted)), value))
        results = _results(step)
        derived |= results | {100 * r for r in results}  # "0.3 + 0.15 = 0.45", then "45% of ..."
    return out


# -- a percent of the original amount read as a percent of the new one -----------------------------

_BASES = {"original": "original", "initial": "original", "starting": "original", "new": "new", "current": "new",
          "updated": "new", "latest": "new", "increased": "new", "reduced": "new", "discounted": "new"}
_PERCENT_OF_BASE = re.compile(
    r"(?i)(?<![\d.])(\d+(?:\.\d+)?)\s*%\s+of\s+(?:the|its|his|her|their)\s+(" + "|".join(_BASES) + r")\s+([a-z]+)"
)


def _bases(text: str) -> dict[tuple[Fraction, str], set[str]]:
    out: dict[tuple[Fraction, str], set[str]] = {}
    for m in _PERCENT_OF_BASE.finditer(text):
        out.setdefault((Fraction(m.group(1)), _singular(m.group(3))), set()).add(_BASES[m.group(2).lower()])
    return out


def _percent_base_flags(problem: str, steps: Sequence[str]) -> list[Finding]:
    stated = _bases(problem)

    def judge(idx: int, m: re.Match[str]) -> Finding | None:
        bases = stated.get((Fraction(m.group(1)), _singular(m.group(3))))
        if bases and _BASES[m.group(2).lower()] not in bases:
            return idx, "percent base", m.group(0), None, None  # the base, not the value, differs
        return None

    return _scan(steps, _PERCENT_OF_BASE, judge) if stated else []


# -- the share paid read as the discount, or the discount read as the share paid -------------------

_PCT = r"(\d+(?:\.\d+)?)\s*%"
_OFF = re.compile(r"(?i)" + _PCT + r"\s+(?:off|discount)\b|\bdiscount\b(?!\s*(?:price|cost|value|total|amount))[^.%\d=]{0,30}?(?:\bof|\bis|\bwas|\bby|:)\s+" + _PCT)
_PAID_SHARE = re.compile(
    r"(?i)\b(?:at|for|pays?|paid|sells?\s+(?:it\s+)?(?:at|for))\s+" + _PCT + r"\s+of\s+(?:the|its|his|her|their)?\s*"
    r"(?:original|regular|full|list|normal|usual|initial)?\s*(?:price|cost|value)\b"
)
_NOT_PLAIN = re.compile(r"(?i)\b(?:not|if|suppose|assume|assuming)\b")


def _percents(pattern: re.Pattern[str], text: str) -> set[Fraction]:
    return {Fraction(next(g for g in m.groups() if g)) for m in pattern.finditer(text)}


def _discount_flags(problem: str, steps: Sequence[str]) -> list[Finding]:
    text = " ".join(_sentences(problem))
    off, paid = _percents(_OFF, text), _percents(_PAID_SHARE, text)
    if not off and not paid:
        return []
    out: list[Finding] = []
    for idx, step in enumerate(steps):
        for sentence in _sentences(step):
            if _NOT_PLAIN.search(sentence):
                continue
            for m in _OFF.finditer(sentence):
                called = Fraction(next(g for g in m.groups() if g))
                if called == 50 or called in off:
                    continue
                if called in paid or (len(off) == 1 and called == 100 - min(off) and called not in paid):
                    out.append((idx, "discount", m.group(0), 100 - called, called))
    return out


# -- a product over several things stated as the amount of one ------------------------------------

_ONE_HAS = re.compile(
    r"(?i)\b(?:1|a\s+single)\s+([a-z]+)\s+(?:has|is|weighs|costs|contains|holds|takes|needs|makes|equals|=)\s+\$?"
    + _NUM + r"(?![\d.]*\s*(?:/|÷|×|\*|\+|-))"
)
_MAY_NAME_ONE = re.compile(r"(?i)\b(?:1|a\s+single)\s+[a-z]")
_PRODUCT = re.compile(r"(?i)(?<![\w.])(\d+)\s+([a-z]+)\s*(?:×|\*|x(?=\s*\$?\d))[^=]{0,60}=\s*\$?" + _NUM)


def _one_of_many_flags(steps: Sequence[str]) -> list[Finding]:
    out: list[Finding] = []
    for idx, step in enumerate(steps):
        if not _MAY_NAME_ONE.search(step):
            continue
        text = step
        products = [(int(m.group(1)), _singular(m.group(2)), decimal_value(m.group(3))[0], m.end())
                    for m in islice(_PRODUCT.finditer(text), MAX_MENTIONS)]
        for m in islice(_ONE_HAS.finditer(text), MAX_MENTIONS):
            noun, value = _singular(m.group(1)), decimal_value(m.group(2))[0]
            for count, noun_, result, end in products:
                if count >= 2 and noun_ == noun and result == value and end <= m.start():
                    out.append((idx, "one of many", m.group(0), value / count, value))
                    break
    return out


def misreading_flags(problem: str, steps: Sequence[str]) -> list[Finding]:
    """(step, rule, quoted text, the problem's value, the step's value) for each misread statement."""
    steps = [plain(step[:MAX_TEXT]) for step in steps[:MAX_STEPS]]  # every rule reads the plain text
    found = _one_of_many_flags(steps)
    if not problem:
        return found
    problem = plain(problem[:MAX_TEXT])
    return (found + _week_flags(problem, steps) + _price_flags(problem, steps) + _percent_flags(problem, steps)
            + _percent_base_flags(problem, steps) + _discount_flags(problem, steps))
