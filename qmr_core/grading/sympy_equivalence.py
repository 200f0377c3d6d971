"""Symbolic checks; imported only inside the bounded worker process.

LaTeX stack (pinned): math-verify's parser ``latex2sympy2_extended`` on
``antlr4-python3-runtime==4.13.2`` (``math-verify[antlr4_13_2]``).  Only LaTeX goes
through it; model text is never passed to ``eval``/``sympify``/``parse_expr``.
Decimals are rewritten to exact fractions before parsing, so no float tolerance
enters a symbolic verdict.  math-verify's ``parse``/``verify`` are not called: their
timeout is ``signal.alarm`` (main thread only; disabled by ``parsing_timeout=None`` /
``timeout_seconds=None``) and their comparison carries the tolerances this grader avoids.
The process running this module is the time bound (see ``bounded``).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.math_normalization import NormalizationConfig
from math_verify.grader import should_treat_as_complex

_NORM = NormalizationConfig(
    basic_latex=True, units=False, malformed_operators=True, nits=False, boxed="none", equations=False
)
_DECIMAL = re.compile(r"(?<![\d.])(\d*)\.(\d+)(?![\d.])")
_PREC = 60
_REL_EPS = sympy.Rational(1, 10**45)


def _exact_decimals(latex: str) -> str:
    def repl(m: re.Match[str]) -> str:
        whole, frac = m.group(1) or "0", m.group(2)
        return "(\\frac{%d}{%d})" % (int(whole + frac), 10 ** len(frac))

    return _DECIMAL.sub(repl, latex)


@lru_cache(maxsize=4096)
def to_sympy(latex: str) -> Any:
    """Parse one LaTeX expression (cached: golds recur across many predictions)."""
    latex = _exact_decimals(latex)
    expr = latex2sympy(
        latex, is_real=not should_treat_as_complex(latex), convert_degrees=False, normalization_config=_NORM
    )
    if isinstance(expr, sympy.Basic):
        try:
            expr = expr.doit()
        except Exception:
            pass
    return expr


_PROBES = (sympy.Rational(7, 11), sympy.Rational(13, 17), sympy.Rational(29, 13))


def _clearly_nonzero(d: Any, scale: Any) -> bool:
    """A cheap numeric refutation: d evaluates far from 0 (at fixed positive probe points).

    Only ever rejects: an identically-zero d evaluates to 0 everywhere it is defined.
    """
    syms = sorted(d.free_symbols, key=str)
    points = [dict(zip(syms, _PROBES[i:] + _PROBES[:i])) for i in range(len(_PROBES))] if syms else [{}]
    for point in points:
        try:
            v = sympy.N(d.subs(point) if point else d, 30)
        except Exception:
            return False
        if not v.is_number or v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return False
        mag = abs(v)
        if not mag.is_comparable:
            return False
        floor = sympy.Rational(1, 10**12) if syms else sympy.Rational(1, 10**20) * scale
        if mag > floor:
            return True
    return False


def _is_zero(d: Any, scale: Any) -> bool:
    if d == 0:
        return True
    if isinstance(d, sympy.MatrixBase):
        return all(_is_zero(x, scale) for x in d)
    if not isinstance(d, sympy.Expr):
        return False
    if d.is_Rational:  # exact arithmetic already decided it
        return False
    if _clearly_nonzero(d, scale):
        return False
    if not d.free_symbols:
        try:
            if sympy.simplify(d) == 0:
                return True
        except Exception:
            pass
        try:
            mag = abs(sympy.N(d, _PREC))
            if mag.is_number and mag.is_comparable:
                return bool(scale > 0 and mag <= _REL_EPS * scale)
        except Exception:
            return False
        return False
    for f in (sympy.expand, sympy.cancel, sympy.simplify):
        try:
            if f(d) == 0:
                return True
        except Exception:
            continue
    return False


def _scale(*exprs: Any) -> Any:
    """Largest magnitude among the constant operands (relative threshold, never absolute)."""
    best = sympy.Integer(0)
    for e in exprs:
        try:
            if isinstance(e, sympy.Expr) and not e.free_symbols:
                v = abs(sympy.N(e, _PREC))
                if v.is_comparable and v > best:
                    best = v
        except Exception:
            pass
    return best


def scalar_equal(a: Any, b: Any) -> bool:
    if a == b:
        return True
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        if not (isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase)) or a.shape != b.shape:
            return False
        return all(scalar_equal(x, y) for x, y in zip(a, b))
    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    if a.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) or b.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return False
    return _is_zero(a - b, _scale(a, b))


def approx_equal(exact: Any, value: Fraction, decimals: int, terminating_ok: bool = False) -> bool:
    """Is ``value`` the correct rounding of ``exact`` at ``decimals`` places (negative: tens, ...)?

    ``terminating_ok`` False (no precision named): an exactly representable gold must be written exactly.
    """
    if not isinstance(exact, sympy.Expr) or exact.free_symbols:
        return False
    half = Fraction(10) ** -decimals / 2
    if exact.is_Rational:
        r = Fraction(int(exact.p), int(exact.q))
        d = r.denominator
        for p in (2, 5):
            while d % p == 0:
                d //= p
        if d == 1 and not terminating_ok:
            return False
        return abs(r - value) <= half
    v = sympy.N(exact, _PREC)
    if not (v.is_real and v.is_comparable):
        return False
    diff = abs(v - sympy.Rational(value.numerator, value.denominator))
    return bool(diff <= sympy.Rational(half.numerator, half.denominator))


def _ratio_constant(d1: Any, d2: Any, positive: bool) -> bool:
    if d2 == 0:
        return d1 == 0
    try:
        r = sympy.simplify(sympy.cancel(d1 / d2))
    except Exception:
        return False
    if r.free_symbols or r == 0 or r.has(sympy.zoo, sympy.nan, sympy.oo):
        return False
    if positive:
        return bool(r.is_positive)
    return True


def relation_equal(g: list[str], p: list[str], kind: str) -> bool:
    gl, gr = to_sympy(g[0]), to_sympy(g[1])
    pl, pr = to_sympy(p[0]), to_sympy(p[1])
    if scalar_equal(gl, pl) and scalar_equal(gr, pr):
        return True
    d1, d2 = gl - gr, pl - pr
    if kind == "eq":
        return _ratio_constant(d1, d2, positive=False)
    return _ratio_constant(d1, d2, positive=True)


def handle(req: dict[str, Any]) -> dict[str, Any]:
    op = req.get("op")
    if op == "eq":
        return {"ok": scalar_equal(to_sympy(req["a"]), to_sympy(req["b"]))}
    if op == "approx":
        value = Fraction(int(req["num"]), int(req["den"]))
        exact = to_sympy(req["exact"])
        return {"ok": approx_equal(exact, value, int(req["decimals"]), bool(req.get("terminating_ok")))}
    if op == "rel":
        return {"ok": relation_equal(req["g"], req["p"], req["kind"])}
    if op == "ping":
        return {"ok": True}
    if op == "sleep":  # test hook: a check that cannot finish in time
        import time

        time.sleep(float(req.get("s", 3600)))
        return {"ok": True}
    return {"ok": None, "err": f"unknown op {op!r}"}
