"""What rounding, if any, a problem asks for ("to the nearest tenth", "as a decimal", ...).

The grader accepts a rounded decimal for an exact gold only where the problem asks for one
(see the policy in ``equivalence``).  ``rounding_request`` reads that request from the problem
text: a named precision ("nearest hundredth" -> 2 places, "nearest ten" -> -1, "two decimal
places" -> 2) or an unnamed one ("as a decimal", "rounded", "approximately" -> ``places=None``).
Pure string work with linear-time patterns; problem texts are capped at ``MAX_PROBLEM_CHARS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .exact_numbers import Num, is_terminating

MAX_PROBLEM_CHARS = 20_000


@dataclass(frozen=True)
class Rounding:
    """A problem's request for a rounded answer; ``places`` None: no precision named."""

    places: int | None = None

    def describe(self) -> str:
        if self.places is None:
            return "a decimal (precision not named)"
        if self.places >= 0:
            return f"{self.places} decimal place{'s' if self.places != 1 else ''}"
        return f"a multiple of {10 ** -self.places}"


# The word(s) after "nearest": the more specific spellings come first in the alternation.
_MAGNITUDES: dict[str, int] = {
    "millionth": 6, "hundred thousandth": 5, "ten thousandth": 4, "thousandth": 3,
    "hundredth": 2, "100th": 2, "cent": 2, "penny": 2, "tenth": 1, "10th": 1,
    "million": -6, "hundred thousand": -5, "ten thousand": -4, "thousand": -3, "hundred": -2, "ten": -1,
}
_NEAREST = re.compile(
    r"\bnearest[ \t]+("
    + "|".join(sorted((k.replace(" ", r"[ \t-]+") + "s?" for k in _MAGNITUDES), key=len, reverse=True))
    + r"|whole[ \t]+number|integer|[a-z]+)\b",
    re.IGNORECASE,
)
# "to the nearest foot / dollar / whole number": a named unit means whole units.
_TO_THE_NEAREST = re.compile(r"\b(?:to|round(?:ed|ing)?)[ \t]+(?:the[ \t]+)?nearest\b", re.IGNORECASE)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_DECIMAL_PLACES = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|\d)[ \t]+decimal[ \t]+places?\b", re.IGNORECASE
)
_UNNAMED = re.compile(
    r"\bas[ \t]+a[ \t]+decimal\b|\bin[ \t]+decimal[ \t]+form\b|\bdecimal[ \t]+(?:approximation|answer)\b"
    r"|\brounded\b|\bround(?:ing)?[ \t]+(?:off|your|the[ \t]+answer|it)\b|\bapproximat(?:e|ely|ion)\b"
    r"|\bsignificant[ \t]+(?:figures|digits)\b",
    re.IGNORECASE,
)


def _nearest_places(text: str) -> int | None:
    found: int | None = None
    for m in _NEAREST.finditer(text):
        word = re.sub(r"[ \t-]+", " ", m.group(1).lower())
        base = word[:-1] if word.endswith("s") and word[:-1] in _MAGNITUDES else word
        if base in _MAGNITUDES:
            found = _MAGNITUDES[base]
        elif base in ("whole number", "integer"):
            found = 0
        elif _TO_THE_NEAREST.search(text, max(0, m.start() - 20), m.start() + 7):
            found = 0  # "to the nearest dollar / foot / percent": whole units
    return found


@lru_cache(maxsize=4096)
def rounding_request(problem: str | None) -> Rounding | None:
    """The rounding a problem asks for, or None when it asks for none (exact answers only)."""
    if not isinstance(problem, str) or not problem:
        return None
    text = problem[:MAX_PROBLEM_CHARS]
    places = _nearest_places(text)
    if places is not None:
        return Rounding(places)
    m = None
    for m in _DECIMAL_PLACES.finditer(text):
        pass
    if m is not None:
        word = m.group(1).lower()
        return Rounding(int(word) if word.isdigit() else _NUMBER_WORDS[word])
    if _UNNAMED.search(text):
        return Rounding(None)
    return None


# -- is a number such a rounding? -----------------------------------------------------------------

MIN_SIG_FOR_ROUNDING = 3


def decimal_matches(exact: Fraction, dec: Num) -> bool:
    """Unnamed precision ("as a decimal"): dec (k places) stands for exact iff exact is not itself a
    terminating decimal, dec has >= 3 significant digits, and |exact - dec| <= 0.5 * 10^-k."""
    if dec.decimals is None or dec.sig < MIN_SIG_FOR_ROUNDING or is_terminating(exact):
        return False
    return abs(exact - dec.value) <= Fraction(1, 2 * 10**dec.decimals)


def at_places(dec: Num, places: int) -> bool:
    """Is dec written as a plain number (decimal or integer) on the grid of ``places`` places?"""
    if dec.decimals is None and dec.value.denominator != 1:
        return False  # a fraction is not a rounding
    return (dec.value * Fraction(10) ** places).denominator == 1


def can_round(pred: Num, rounding: Rounding) -> bool:
    """Could pred be a rounded answer of the kind the problem asks for?"""
    if rounding.places is None:
        return pred.decimals is not None and pred.sig >= MIN_SIG_FOR_ROUNDING
    return at_places(pred, rounding.places)


def rounds_to(exact: Fraction, pred: Num, rounding: Rounding) -> bool:
    """Is pred the requested rounding of exact (ties either way)?"""
    if rounding.places is None:
        return decimal_matches(exact, pred)
    if not at_places(pred, rounding.places):
        return False
    return abs(exact - pred.value) * 2 <= Fraction(10) ** -rounding.places


def numbers_equal(gold: Num, pred: Num, rounding: Rounding | None = None) -> bool:
    """Equal values; or, only where the problem asks for rounding, pred is gold rounded as asked."""
    if gold.value == pred.value:
        return True
    return rounding is not None and rounds_to(gold.value, pred, rounding)
