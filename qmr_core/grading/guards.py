"""Cheap up-front refusal of LaTeX whose evaluation can explode (power towers, huge factorials or
exponents, deep nesting, many integrals).  Every pattern is linear-time."""

from __future__ import annotations

import re

_enabled = True


def set_enabled(on: bool) -> None:
    """Tests switch the guards off to exercise the worker deadline itself."""
    global _enabled
    _enabled = on


_TOWER = re.compile(r"\^\s*\{[^{}]*\^")
# Linear: a digit run is tried from its first digit only; no two unbounded repeats meet.
_BIG_FACT = re.compile(r"(?<!\d)\d{5,}[\s)]*!|![\s]*!")
_BIG_EXP = re.compile(r"\^[\s{(]*-?\d{5,}")
_HEAVY_CMD = re.compile(r"\\(?:int|sum|prod|lim|iint|oint|underbrace|overbrace)(?![a-zA-Z])")
MAX_DEPTH = 40


def _depth(s: str) -> int:
    depth = best = 0
    for c in s:
        if c in "{([":
            depth += 1
            best = max(best, depth)
        elif c in "})]":
            depth -= 1
    return best


def too_deep(s: str) -> bool:
    if not _enabled or s.count("{") + s.count("(") + s.count("[") <= MAX_DEPTH:  # fast path: cannot be deeper
        return False
    return _depth(s) > MAX_DEPTH


def hazardous(s: str) -> bool:
    """Cheap test for inputs whose evaluation can explode (power towers, huge factorials)."""
    if not _enabled:
        return False
    return bool(
        _depth(s) > MAX_DEPTH or _TOWER.search(s) or _BIG_FACT.search(s) or _BIG_EXP.search(s)
        or len(_HEAVY_CMD.findall(s)) > 3
    )
