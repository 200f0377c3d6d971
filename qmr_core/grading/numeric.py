"""Exact in-process parsing of simple numbers (the fast path; never touches sympy).

Accepted forms (after ``normalize.canonical``): integers (``1,000`` thousands groups too),
decimals, ``a/b``, ``\\frac{a}{b}``, mixed numbers ``2\\frac{1}{2}``, and scientific
notation ``1.5\\cdot10^{-3}`` / ``1.5e-3``.  Values are ``fractions.Fraction``: no float
ever decides a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .rounding import Rounding

MAX_DIGITS = 400
MAX_EXPONENT = 400

_INT = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_DEC = rf"(?:{_INT}(?:\.\d*)?|\.\d+)"
_RE_DEC = re.compile(rf"^([-+]?)({_DEC})$")
_RE_SLASH = re.compile(rf"^([-+]?)({_INT})/({_INT})$")
_RE_FRAC = re.compile(rf"^([-+]?)(\d+)?\\frac\{{([-+]?)({_INT})\}}\{{([-+]?)({_INT})\}}$")
_RE_SCI = re.compile(rf"^([-+]?)({_DEC})(?:\\cdot10\^\{{?([-+]?\d+)\}}?|[eE]([-+]?\d+))$")
_RE_POW10 = re.compile(r"^([-+]?)10\^\{?([-+]?\d+)\}?$")


@dataclass(frozen=True)
class Num:
    value: Fraction
    decimals: int | None = None  # digits after the point when written as a decimal
    sig: int = 0  # significant digits as written (decimals only)


def _sign(s: str) -> int:
    return -1 if s == "-" else 1


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _decimal(text: str) -> tuple[Fraction, int | None, int]:
    text = text.replace(",", "")
    if "." not in text:
        return Fraction(int(text)), None, 0
    whole, frac = text.split(".", 1)
    if not frac:
        return Fraction(int(whole or "0")), None, 0
    value = Fraction(int((whole or "0") + frac), 10 ** len(frac))
    digits = (whole + frac).lstrip("0")
    return value, len(frac), len(digits)


def parse_number(s: str) -> Num | None:
    """Exact value of a simple number written in canonical form, else None."""
    if not s or len(s) > MAX_DIGITS + 40:
        return None
    if sum(c.isdigit() for c in s) > MAX_DIGITS:
        return None
    m = _RE_DEC.match(s)
    if m:
        value, decimals, sig = _decimal(m.group(2))
        return Num(_sign(m.group(1)) * value, decimals, sig)
    m = _RE_SLASH.match(s)
    if m:
        den = _int(m.group(3))
        if den == 0:
            return None
        return Num(_sign(m.group(1)) * Fraction(_int(m.group(2)), den))
    m = _RE_FRAC.match(s)
    if m:
        den = _int(m.group(6))
        if den == 0:
            return None
        frac = Fraction(_int(m.group(4)), den) * _sign(m.group(3)) * _sign(m.group(5))
        if m.group(2) is not None:  # mixed number: 2\frac{1}{2} == 5/2
            if frac < 0:
                return None
            frac = int(m.group(2)) + frac
        return Num(_sign(m.group(1)) * frac)
    m = _RE_SCI.match(s)
    if m:
        exp = int(m.group(3) or m.group(4))
        if abs(exp) > MAX_EXPONENT:
            return None
        value, decimals, sig = _decimal(m.group(2))
        value *= Fraction(10) ** exp
        if decimals is not None:
            decimals = max(decimals - exp, 0)
        return Num(_sign(m.group(1)) * value, decimals, sig)
    m = _RE_POW10.match(s)
    if m:
        exp = int(m.group(2))
        if abs(exp) > MAX_EXPONENT:
            return None
        return Num(_sign(m.group(1)) * Fraction(10) ** exp)
    return None


def is_terminating(value: Fraction) -> bool:
    """True if value has a finite decimal expansion (denominator 2^a 5^b)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


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


def format_fraction(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
