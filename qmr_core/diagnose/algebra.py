"""Exact algebra on sides with variables, by evaluation at fixed rational points.

No sympy and no parsing of raw text: a side's tokens are parsed by arith.Parser with the variables
bound to exact ``Fraction`` values. Two sides that differ at any point where both are defined are
different functions (a proof, not a heuristic); an equation in one variable whose difference is
linear at five points and vanishes at its root has that unique solution, checked by substitution.
Every evaluation is bounded by the parser's limits (tokens, depth, bit length), so this is as cheap
and as safe as the arithmetic checker and needs no worker process.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from qmr_core.diagnose.arith import MAX_SIDE_TOKENS, Parser, Refused, Tok

MAX_VARIABLES = 3
POINTS = (Fraction(2, 7), Fraction(13, 5), Fraction(-11, 3), Fraction(17, 4), Fraction(-5, 9))


def _core(side: Sequence[Tok]) -> list[Tok]:
    from qmr_core.diagnose.step_claims import (
        strip_units,  # step_claims imports this module's users
    )

    core, _units = strip_units(list(side))
    if not core or len(core) > MAX_SIDE_TOKENS or any(t.kind == "BIG" for t in core):
        raise Refused("empty or too long")
    if any(t.kind == "OP" and t.text == "%" for t in core) or any(t.kind == "SQRT" for t in core):
        raise Refused("percent or a root with variables")  # sqrt((a-c)^2) = |a - c|
    for k, t in enumerate(core):
        if t.kind == "VAR" and k + 1 < len(core) and core[k + 1].kind == "OP" and core[k + 1].text == "^":
            depth, j = 0, k + 2
            while j < len(core):
                depth += 1 if core[j].kind == "LP" else -1 if core[j].kind == "RP" else 0
                j += 1
                if depth <= 0:
                    break
            if j < len(core) and core[j].kind == "LP" and not core[j].space_before:
                raise Refused("f^{-1}(6): a function")
    return core


def value(side: Sequence[Tok], env: dict[str, Fraction]) -> Fraction:
    """The side's value at env; Refused when its readings ('/' grouping) disagree there."""
    core = _core(side)
    values = {Parser(core, True, slash, env).parse() for slash in (False, True)}
    if len(values) != 1:
        raise Refused("ambiguous reading")
    return values.pop()


def _envs(names: Sequence[str]) -> list[dict[str, Fraction]]:
    """Points for several variables: shifted copies of POINTS, so no two variables share a value."""
    return [{v: p + k * Fraction(3, 11) * (j + 1) for j, v in enumerate(names)} for k, p in enumerate(POINTS)]


def differ(a: Sequence[Tok], b: Sequence[Tok], names: Sequence[str]) -> tuple[dict[str, Fraction], Fraction, Fraction] | None:
    """A point where the two sides are defined and differ (proof they are different), else None."""
    if not names or len(names) > MAX_VARIABLES:
        return None
    found = None
    for env in _envs(sorted(names)):
        try:
            va, vb = value(a, env), value(b, env)
        except (Refused, ZeroDivisionError, OverflowError, ValueError):
            return None  # undefined somewhere or unreadable: no verdict
        if va != vb and found is None:
            found = (env, va, vb)
    return found


def affine(side: Sequence[Tok], names: Sequence[str]) -> bool:
    """Linear in each variable (no x^2, no 10/x): a simplification with no hidden constraint."""
    base = _envs(sorted(names))[0]
    try:
        for v in names:
            ys = []
            for step in (0, 1, 2):
                env = dict(base)
                env[v] = base[v] + step
                ys.append(value(side, env))
            if ys[2] - ys[1] != ys[1] - ys[0]:
                return False
        if len(names) > 1:  # no cross terms: f(x+1, y+1) - f(x, y) is the sum of the single steps
            shifted = {v: base[v] + 1 for v in names}
            f0 = value(side, base)
            singles = sum(value(side, {**base, v: base[v] + 1}) - f0 for v in names)
            return value(side, shifted) - f0 == singles
        return True
    except (Refused, ZeroDivisionError, OverflowError, ValueError):
        return False


def constant_gap(a: Sequence[Tok], b: Sequence[Tok], name: str) -> Fraction | None:
    """a - b when it is the same nonzero constant at every point (the variable cancels), else None."""
    gaps = set()
    for env in _envs([name]):
        try:
            gaps.add(value(a, env) - value(b, env))
        except (Refused, ZeroDivisionError, OverflowError, ValueError):
            return None
    if len(gaps) == 1 and (g := gaps.pop()) != 0:
        return g
    return None


def _bind(env: dict[str, Fraction], derived: dict[str, Sequence[Tok]] | None) -> dict[str, Fraction]:
    """env plus the variables defined in terms of it ('S = 2B' gives S from B)."""
    if not derived:
        return env
    full = dict(env)
    for name, side in derived.items():
        full[name] = value(side, env)
    return full


def solve_linear(a: Sequence[Tok], b: Sequence[Tok], name: str,
                 derived: dict[str, Sequence[Tok]] | None = None) -> Fraction | None:
    """The unique solution of a = b in one variable when a - b is linear in it, checked by substitution.
    ``derived`` binds other variables to expressions in that one ('S = 2B')."""
    f: list[tuple[Fraction, Fraction]] = []
    try:
        for env in _envs([name]):
            full = _bind(env, derived)
            f.append((env[name], value(a, full) - value(b, full)))
        (x0, y0), rest = f[0], f[1:]
        slopes = {(y - y0) / (x - x0) for x, y in rest}
        if len(slopes) != 1:
            return None  # not linear
        m = slopes.pop()
        if m == 0:
            return None
        root = x0 - y0 / m
        full = _bind({name: root}, derived)
        if value(a, full) != value(b, full):
            return None
        return root
    except (Refused, ZeroDivisionError, OverflowError, ValueError):
        return None
