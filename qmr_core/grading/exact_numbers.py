"""Exact numbers in text, shared by the grader and the symbolic step checker (``qmr_core.diagnose``).

- literals: integers (``1,000`` thousands groups too), decimals, ``a/b``, ``\\frac{a}{b}``, mixed
  numbers ``2\\frac{1}{2}``, scientific notation ``1.5\\cdot10^{-3}`` / ``1.5e-3`` (``parse_number``,
  for a whole answer in canonical form), and number tokens inside running text (``NUMBER_IN_TEXT``
  with ``decimal_value``);
- percent as a value (``percent``);
- LaTeX braces: one matcher (``brace_pairs``) and the group after a command (``brace_group``).

Values are ``fractions.Fraction``: no float ever decides a verdict. Every cost is bounded by the
digit and exponent limits below; nothing here calls eval or sympy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_DIGITS = 400
MAX_EXPONENT = 400

INT = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_DEC = rf"(?:{INT}(?:\.\d*)?|\.\d+)"
# a number inside text: "1,234.5", "12", ".5" (a point must be followed by digits)
NUMBER_IN_TEXT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?|\.\d+")
FRAC_COMMANDS = frozenset({"frac", "dfrac", "tfrac", "cfrac"})

_RE_DEC = re.compile(rf"^([-+]?)({_DEC})$")
_RE_SLASH = re.compile(rf"^([-+]?)({INT})/({INT})$")
_RE_FRAC = re.compile(rf"^([-+]?)(\d+)?\\frac\{{([-+]?)({INT})\}}\{{([-+]?)({INT})\}}$")
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


def decimal_value(text: str) -> tuple[Fraction, int | None, int]:
    """(exact value, digits after the point or None when there are none, significant digits) of
    ``1,234``, ``12.50``, ``.5`` or ``12.``."""
    text = text.replace(",", "")
    if "." not in text:
        return Fraction(int(text)), None, 0
    whole, frac = text.split(".", 1)
    if not frac:
        return Fraction(int(whole or "0")), None, 0
    value = Fraction(int((whole or "0") + frac), 10 ** len(frac))
    digits = (whole + frac).lstrip("0")
    return value, len(frac), len(digits)


def percent(value: Fraction) -> Fraction:
    """``value%`` as a number."""
    return value / 100


def _parse_fraction(m: re.Match[str]) -> Num | None:
    den = _int(m.group(6))
    if den == 0:
        return None
    frac = Fraction(_int(m.group(4)), den) * _sign(m.group(3)) * _sign(m.group(5))
    if m.group(2) is not None:  # mixed number: 2\frac{1}{2} == 5/2
        if frac < 0:
            return None
        frac = int(m.group(2)) + frac
    return Num(_sign(m.group(1)) * frac)


def _parse_scientific(s: str) -> Num | None:
    m = _RE_SCI.match(s)
    if m:
        exp = int(m.group(3) or m.group(4))
        if abs(exp) > MAX_EXPONENT:
            return None
        value, decimals, sig = decimal_value(m.group(2))
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


def parse_number(s: str) -> Num | None:
    """Exact value of a simple number written in canonical form, else None."""
    if not s or len(s) > MAX_DIGITS + 40:
        return None
    if sum(c.isdigit() for c in s) > MAX_DIGITS:
        return None
    m = _RE_DEC.match(s)
    if m:
        value, decimals, sig = decimal_value(m.group(2))
        return Num(_sign(m.group(1)) * value, decimals, sig)
    m = _RE_SLASH.match(s)
    if m:
        den = _int(m.group(3))
        if den == 0:
            return None
        return Num(_sign(m.group(1)) * Fraction(_int(m.group(2)), den))
    m = _RE_FRAC.match(s)
    if m:
        return _parse_fraction(m)
    return _parse_scientific(s)


def is_terminating(value: Fraction) -> bool:
    """True if value has a finite decimal expansion (denominator 2^a 5^b)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def format_fraction(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


# -- braces --------------------------------------------------------------------------------------


def brace_pairs(text: str) -> dict[int, int]:
    """Map each ``{`` to its matching ``}`` in one pass (escaped braces ``\\{`` ``\\}`` skipped)."""
    stack: list[int] = []
    match: dict[int, int] = {}
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            match[stack.pop()] = i
        i += 1
    return match


def brace_group(s: str, i: int, limit: int = 400) -> tuple[str, int] | None:
    """Content of the ``{...}`` group starting at s[i] (after spaces) and the index after it, when
    it closes within ``limit`` characters."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s) or s[i] != "{":
        return None
    close = brace_pairs(s[i : i + limit]).get(0)
    if close is None:
        return None
    return s[i + 1 : i + close], i + close + 1
