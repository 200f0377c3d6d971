"""Names of quantities on the left of an answer's ``=``, ratios written with ``:`` and clock times.

``AB = 4``, ``|AB| = 1``, ``\\angle ABC = 30``, ``V_1 : V_2 = 11 : 21`` and ``\\frac{NO}{BO} = ...``
state the value of a named quantity, as ``x = 3`` does: the value is the answer.  A name is a
single letter (optionally subscripted or primed), a run of capital letters (a segment, angle or
polygon), ``|name|``, ``\\angle``/``\\overline``/``m\\angle`` of one, or a ratio of two names
(``A:B``, ``A/B``, ``\\frac{A}{B}``).  Sums, products of lower-case letters (``xy``) and
anything with a number outside a subscript are not names, so ``x + y = 10`` stays an equation.
All patterns are linear-time (no nested unbounded repeats).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .exact_numbers import parse_number
from .normalize import canonical

_SUB = r"(?:_\{[0-9A-Za-z ]{1,12}\}|_[0-9A-Za-z])?'*"
_ATOM = r"(?:[A-Za-z]|[A-Z]{2,6}|\\(?:alpha|beta|gamma|theta|phi|lambda|mu|omega|rho|sigma|tau|psi))" + _SUB
# A function at a number ("f(2)", "g^{-1}(\\frac{1}{2})"; not x/y/z: "x(2)" may be a product) or a
# \\text{} word ("\\text{Area}").
_ARG = r"-?(?:\d{1,12}(?:\.\d{1,12})?|\\d?frac\s*\{\d{1,12}\}\s*\{\d{1,12}\})"
_AT = rf"[a-wA-Z](?:\^\{{-1\}})?\(\s*{_ARG}\s*\)|\\text\s*\{{\s*[A-Za-z][a-z]{{1,19}}\s*\}}"
_DECORATED = rf"(?:(?:m\s*)?(?:\\angle\s*|\\triangle\s*)?{_ATOM}|\\overline\s*\{{\s*{_ATOM}\s*\}}|{_AT})"
_ONE = rf"(?:\|\s*{_DECORATED}\s*\||{_DECORATED})"
_NAME = re.compile(rf"{_ONE}(?:\s*[:/]\s*{_ONE})?|\\frac\s*\{{\s*{_ONE}\s*\}}\s*\{{\s*{_ONE}\s*\}}")
_LOWER_RUN = re.compile(r"^[a-z]{2,}")


def is_name(s: str) -> bool:
    """True if ``s`` names a quantity (see the module docstring); bounded input length."""
    s = s.strip()
    if not s or len(s) > 60 or _LOWER_RUN.match(s):
        return False
    return _NAME.fullmatch(s) is not None


def ratio_parts(s: str, split: Callable[[str, str, bool], list[str]]) -> list[str] | None:
    """``7:32`` / ``12:00`` / ``a : b : c`` at the top level -> its parts; None if not a ratio.

    ``split`` is the bracket-aware splitter of ``structure`` (``split_top``)."""
    if ":" not in s or "\\colon" in s:
        return None
    parts = split(s, ":", False)
    if len(parts) < 2 or not all(parts):  # any length: "1:1:...:1" is never 1/1/.../1
        return None
    return parts


_CLOCK = re.compile(  # "4:30 p.m.", "\\text{4:30 PM}", "4:30 \\text{ pm}"
    r"(?:\\text\{\s*)?(\d{1,2})\s*:\s*(\d{2})\s*(?:\\text\{\s*|\\[ ,;]\s*|~)?([AaPp])\.?\s*[Mm]\.?\s*\}?\s*\}?"
)


def clock_key(s: str) -> str | None:
    """A time with a.m./p.m. in any spelling -> "430pm"; None for anything else (a.m./p.m. is no unit)."""
    m = _CLOCK.fullmatch(s)
    return None if m is None else f"{int(m.group(1))}{m.group(2)}{m.group(3).lower()}m"


def contradictory(pieces: list[str]) -> bool:
    """An "=" chain with two different exact numbers ("x = 5 = 6", "6 = 5") states no value; a decimal may
    be a rounding ("\\frac{1}{3} = 0.33" is read as 0.33)."""
    exact = (parse_number(canonical(p)) for p in pieces)
    return len({n.value for n in exact if n is not None and n.decimals is None}) > 1
