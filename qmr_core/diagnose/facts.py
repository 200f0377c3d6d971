"""Fixed facts a step may state wrongly: unit sizes ("60 minutes in an hour"), days in a named
month ("30 days in March"), coin values ("a nickel is worth $0.10") and what a frequency word means
("quarterly, which means three times a year").

Only exact, unambiguous facts are judged: a week has 7 days (5 or 6 in a school or work week), but a month has no fixed number of
days or weeks, so "4 weeks in a month" is not judged; a year has 365 or 366 days and 52.14 weeks
(52 accepted).
"""

from __future__ import annotations

import re
from fractions import Fraction

from qmr_core.diagnose.units import KNOWN

MAX_TEXT = 20_000

_SPECIAL = {  # (small unit, big unit) -> the admissible counts
    ("month", "year"): {Fraction(12)}, ("day", "year"): {Fraction(365), Fraction(366)},
    ("ounce", "pound"): {Fraction(16)}, ("day", "week"): {Fraction(5), Fraction(6), Fraction(7)},  # school, work weeks
    ("year", "decade"): {Fraction(10)}, ("year", "century"): {Fraction(100)},
}
_MONTH_DAYS = {
    "january": {31}, "february": {28, 29}, "march": {31}, "april": {30}, "may": {31}, "june": {30}, "july": {31},
    "august": {31}, "september": {30}, "october": {31}, "november": {30}, "december": {31},
}
_COIN_CENTS = {"penny": 1, "pennie": 1, "nickel": 5, "dime": 10, "quarter": 25}
_UNIT = r"([a-z]+)"
_THERE = r"(?:there\s+are|there're|there\s+is)\s+"
# "there are 60 minutes in an hour": a fact; "she works 8 hours in a day" is a rate and is not read
_COUNT_IN = re.compile(r"(?i)\b" + _THERE + r"(\d+(?:\.\d+)?)\s+" + _UNIT + r"\s+(?:in|per)\s+(?:a|an|one|each|every|1)\s+" + _UNIT + r"\b")
_MONTH = re.compile(r"(?i)\b" + _THERE + r"(\d+)\s+days\s+in\s+(" + "|".join(_MONTH_DAYS) + r")\b|\b("
                    + "|".join(_MONTH_DAYS) + r")\s+has\s+(\d+)\s+days")
_COIN = re.compile(r"(?i)\b(a|an|one|each|two|three|four|five|\d+)\s+(penn(?:y|ies)|nickels?|dimes?|quarters?)\s+"
                   r"(?:is|are)\s+worth\s+\$?(\d*\.?\d+)\s*(cents?)?(?:\s*\([^()]{0,20}\))?(\s+each)?")
_WORD_COUNT = {"a": 1, "an": 1, "one": 1, "each": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def _singular(w: str) -> str:
    w = w.lower()
    special = {"feet": "foot", "inches": "inch", "pennies": "penny", "centuries": "century"}
    if w in special:
        return special[w]
    for cut in ("", "s", "es"):
        stem = w[: len(w) - len(cut)] if cut else w
        if (not cut or w.endswith(cut)) and (stem in KNOWN or stem in _COIN_CENTS or any(stem in pair for pair in _SPECIAL)):
            return stem
    return w


def _count_facts(text: str) -> list[tuple[str, Fraction, Fraction]]:
    out = []
    for m in _COUNT_IN.finditer(text):
        small, big = _singular(m.group(2)), _singular(m.group(3))
        stated = Fraction(m.group(1))
        if (small, big) in _SPECIAL:
            allowed = _SPECIAL[(small, big)]
        elif small in KNOWN and big in KNOWN and KNOWN[small][0] == KNOWN[big][0] and small != big:
            exact = KNOWN[big][1] / KNOWN[small][1]
            allowed = {exact} if exact.denominator == 1 else {Fraction(int(exact)), Fraction(int(exact) + 1)}
        else:
            continue
        if stated not in allowed:
            out.append((m.group(0), min(allowed), stated))
    return out


def _month_facts(text: str) -> list[tuple[str, Fraction, Fraction]]:
    out = []
    for m in _MONTH.finditer(text):
        days, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if month.lower() == "may" and not month[0].isupper():
            continue  # the verb
        allowed = _MONTH_DAYS[month.lower()]
        if int(days) not in allowed:
            out.append((m.group(0), Fraction(min(allowed)), Fraction(int(days))))
    return out


def _coin_facts(text: str) -> list[tuple[str, Fraction, Fraction]]:
    out = []
    for m in _COIN.finditer(text):
        count_word, coin, amount, cents, each = m.groups()
        n = _WORD_COUNT.get(count_word.lower()) or (int(count_word) if count_word.isdigit() else None)
        if n is None:
            continue
        stated = Fraction(amount) if cents else Fraction(amount) * 100  # in cents
        per = _COIN_CENTS[_singular(coin)]
        exact = Fraction(per) if (each or n == 1) else Fraction(per * n)
        if stated != exact:
            out.append((m.group(0).strip(), exact, stated))
    return out


def fact_claims(text: str) -> list[tuple[str, Fraction, Fraction]]:
    """(text, true value, stated value) of each false fixed fact the text states."""
    text = text[:MAX_TEXT]
    return (_count_facts(text) + _month_facts(text) + _coin_facts(text) + _frequency_facts(text)
            + _interval_facts(text) + _dozen_facts(text) + _year_facts(text))


# -- "half a dozen plates means 6/2 = 3 plates" ---------------------------------------------------

_DOZENS = {"half a": Fraction(1, 2), "a half": Fraction(1, 2), "a": Fraction(1), "one": Fraction(1),
           "two": Fraction(2), "three": Fraction(3), "four": Fraction(4), "five": Fraction(5), "six": Fraction(6)}
_DOZEN = re.compile(
    r"(?i)(?<![\w.])(" + "|".join(sorted(_DOZENS, key=len, reverse=True)) + r"|\d+(?:\.\d+)?)\s+dozens?"
    r"(?:\s+[a-z]+){0,2}?\s+(?:is|are|means|equals|makes|=)\s+((?:\d+(?:\.\d+)?\s*(?:[-+*/\u00d7x=]\s*)?)+)"
    r"(?=\s*(?:[a-z]|[.,;:)]|$))"
)


def _dozen_facts(text: str) -> list[tuple[str, Fraction, Fraction]]:
    """A count of dozens restated as a number: the number written last is the one stated."""
    out = []
    plain = re.sub(r"\\[()\[\]]|\$(?!\s*\d)", " ", text)
    for m in _DOZEN.finditer(plain):
        count = m.group(1).lower()
        exact = 12 * (_DOZENS[count] if count in _DOZENS else Fraction(count))
        numbers = re.findall(r"\d+(?:\.\d+)?", m.group(2))
        stated = Fraction(numbers[-1])
        if stated != exact:
            out.append((m.group(0).strip(), exact, stated))
    return out


# -- durations between two clock times or two dates --------------------------------------------

_CLOCK = r"(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\.?"
_MONTHS = list(_MONTH_DAYS)
_DATE = r"(" + "|".join(_MONTHS) + r")\s+(\d{1,2})(?:st|nd|rd|th)?"
_LINK = r"[\s,]*(?:which|that|this)?\s*(?:is|are|was|were|gives|makes|equals|totals?|=|:|there\s+are)\s+"
_CLOCK_SPAN = re.compile(r"(?i)\bfrom\s+" + _CLOCK + r"\s+(?:to|until|till)\s+" + _CLOCK + _LINK
                         + r"([^.;]{0,40}?)(\d+(?:\.\d+)?)\s*hours?(?:\s+and\s+(\d+)\s*minutes?)?")
_DATE_SPAN = re.compile(r"(?i)\bfrom\s+" + _DATE + r"\s+(?:to|until|till|through)\s+" + _DATE + _LINK
                        + r"([^.;]{0,20}?)(\d+)\s*days")
_CUM_DAYS = [0]
for _m in _MONTHS:
    _CUM_DAYS.append(_CUM_DAYS[-1] + max(_MONTH_DAYS[_m]) - (1 if _m == "february" else 0))


def _minutes(h: str, m: str | None, ap: str) -> int:
    hour = int(h) % 12 + (12 if ap.lower() == "p" else 0)
    return hour * 60 + int(m or 0)


def _interval_facts(text: str) -> list[tuple[str, Fraction, Fraction]]:
    """'from 8:00 AM until 11:00 PM is 11 + 8 = 19 hours': the span is 15 hours."""
    out = []
    text = re.sub(r"\\[()\[\]]|\$", " ", text)
    for m in _CLOCK_SPAN.finditer(text):
        h1, m1, ap1, h2, m2, ap2, between, hours, minutes = m.groups()
        if int(h1) > 12 or int(h2) > 12 or re.search(r"(?i)\b(break|rest|lunch|except|minus|without)\b", between):
            continue
        span = (_minutes(h2, m2, ap2) - _minutes(h1, m1, ap1)) % (24 * 60) or 24 * 60
        stated = Fraction(hours) * 60 + int(minutes or 0)
        if stated != span:
            out.append((m.group(0), Fraction(span, 60), stated / 60))
    for m in _DATE_SPAN.finditer(text):
        mon1, d1, mon2, d2, _between, days = m.groups()
        start = _CUM_DAYS[_MONTHS.index(mon1.lower())] + int(d1)
        end = _CUM_DAYS[_MONTHS.index(mon2.lower())] + int(d2)
        if end <= start:
            continue
        span = end - start
        allowed = {span, span + 1}  # inclusive or not
        if mon1.lower() in ("january", "february") and _MONTHS.index(mon2.lower()) >= 2:
            allowed |= {span + 1, span + 2}  # a leap year
        if int(days) not in allowed:
            out.append((m.group(0), Fraction(span), Fraction(int(days))))
    return out


# -- "the first 180 days and the remaining 85 days of the year" -----------------------------------

_IN_YEAR = {"day": {365, 366}, "week": {52}, "month": {12}}
_YEAR_PART = re.compile(
    r"(?i)\bfirst\s+(\d+)\s+(days|weeks|months)\b([^.;]{0,120}?)\b(?:remaining|rest of the|other|last)\s+(\d+)\s+"
    r"(days|weeks|months)\s+(?:of|in)\s+(?:the|a)\s+year\b"
)


def _year_facts(text: str) -> list[tuple[str, Fraction, Fraction]]:
    """The first part of a year and the rest of it must add up to the whole year."""
    out = []
    for m in _YEAR_PART.finditer(re.sub(r"\\[()\[\]]|\$", " ", text)):
        first, unit, _between, rest, unit2 = m.groups()
        unit = unit.lower().rstrip("s")
        if unit != unit2.lower().rstrip("s") or re.search(r"\d", _between):
            continue
        allowed = _IN_YEAR[unit]
        if int(first) + int(rest) not in allowed:
            out.append((m.group(0), Fraction(min(allowed) - int(first)), Fraction(int(rest))))
    return out


# -- "quarterly, which means three times in a year" ------------------------------------------------

_FREQUENCY = {  # word -> {period: admissible counts per period}
    "hourly": {"day": {24}}, "daily": {"week": {7}, "year": {365, 366}}, "weekly": {"year": {52}},
    "monthly": {"year": {12}}, "quarterly": {"year": {4}}, "semiannually": {"year": {2}},
    "semi-annually": {"year": {2}}, "annually": {"year": {1}}, "yearly": {"year": {1}},
}
_TIMES = {"once": 1, "twice": 2, "thrice": 3, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_FREQ = re.compile(
    r"(?i)\b(" + "|".join(_FREQUENCY) + r")\b[\s,(:]*(?:which\s+(?:means|is)|meaning|means|i\.e\.,?|that\s+is,?|or|=)?"
    r"\s*(once|twice|thrice|(?:\d+|" + "|".join(list(_TIMES)[3:]) + r")\s+times)\s+(?:a|an|per|in\s+a|each|every)\s+"
    r"(hour|day|week|month|year)\b"
)


def _frequency_facts(text: str) -> list[tuple[str, Fraction, Fraction]]:
    """A frequency word restated as a count per period: "quarterly" is 4 times a year."""
    out = []
    for m in _FREQ.finditer(text):
        word, count, period = m.group(1).lower(), m.group(2).lower().split()[0], m.group(3).lower()
        allowed = _FREQUENCY[word].get(period)
        if allowed is None:
            continue  # "weekly, about 4 times a month": no fixed count
        stated = int(count) if count.isdigit() else _TIMES[count]
        if stated not in allowed:
            out.append((m.group(0), Fraction(min(allowed)), Fraction(stated)))
    return out
