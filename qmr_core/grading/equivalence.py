"""Answer equivalence: typed comparison of a gold answer and an extracted prediction.

Grading policy (contested cases)
--------------------------------
* **Exactness.** Numbers are exact rationals.  There is no relative or absolute
  tolerance: ``14915 != 14916``, ``1e-10 != 2e-10``, ``0.1 + 0.2``-style float noise
  cannot occur.  Symbolic constants are compared by simplification, confirmed (if
  needed) at 60 significant digits with a 1e-45 relative threshold.
* **Exact answers only** (grader 1.1).  When the gold is exact (an integer, fraction,
  radical, pi/e expression or symbolic expression), a decimal prediction is correct only
  if it is the same number: ``0.5 == 1/2``, ``2.5 == 5/2``, ``0.125 == 1/8``,
  ``18.00 == 18``; but ``0.333 != 1/3``, ``3.1416 != \\pi``, ``1.4142 != \\sqrt{2}``.
  MATH asks for exact answers, and MATH's, Minerva's and PRM800K's graders reject these;
  a quantized model that approximates is making a real error.  Two decimals are equal
  only if they are the same number (``0.333 != 0.3333``).
* **Rounding, only where the problem asks for it** (``rounding.rounding_request``):
  - a named precision ("to the nearest tenth / hundredth / whole number / ten / cent",
    "two decimal places") of ``k`` places: the prediction must be written on that grid
    (``k`` places or fewer, trailing zeros allowed) and be within half a unit of the
    gold, ties either way: nearest hundredth ``\\pi == 3.14``, ``1/8 == 0.13 == 0.12``,
    but ``\\pi != 3.1416`` (not the precision asked) and ``\\pi != 3.15``;
  - no precision named ("as a decimal", "rounded", "approximately"): the old
    at-the-precision-written rule.  A decimal ``d`` with ``k`` places stands for an exact
    ``v`` iff ``v`` is not itself a terminating decimal, ``d`` has at least 3 significant
    digits and ``|v - d| <= 0.5 * 10^-k`` (``1/3 == 0.333``, ``1/3 != 0.33``,
    ``1/8 != 0.13``: a terminating value must be written exactly);
  - only the prediction can be the rounded side: an exact prediction for a rounded
    decimal gold is not the decimal asked for (gold ``0.43`` != ``3/7``).
* **Percent.**  ``12.5\\%`` == ``12.5`` == ``12.5 percent`` (a dropped sign is
  accepted).  Gold ``12.5\\%`` != ``0.125``: for a percent gold the number before
  the sign is the answer.  A prediction that carries an explicit ``%`` is also
  accepted at its value, so gold ``0.125`` == pred ``12.5\\%``.  ``x`` vs ``100x``
  without any sign is never equal.
* **Degrees / units.**  ``60^\\circ`` == ``60`` == ``60 degrees``; no conversion to
  radians (``\\frac{\\pi}{3}`` != ``60^\\circ``).  Trailing ``\\text{...}``/``\\mbox``
  units and unit words after a number are dropped (``5\\text{ cm}`` == ``5``,
  ``7 apples`` == ``7``), but bare letters are never units (``2x`` != ``2``,
  ``5m`` != ``5``).  No unit conversion (``50`` cents != ``\\$0.50``).
* **Thousands separators.**  At the top level a comma between a 1-3 digit group and
  exactly three digits, with no space, is a separator: ``1,000`` / ``1{,}000`` /
  ``10,\\!080`` / ``58,500`` are numbers (so ``100,200`` is 100200).  Any other comma
  separates list items (``1,2`` and ``1, 000`` are lists), and inside brackets commas
  always separate: ``(1,000)`` is the pair (1, 0).
* **Assignments.**  ``x=3`` == ``3``; ``y=2x+3`` == ``2x+3`` == ``y = 3+2x``; so for a named
  quantity (``AB=4``, ``|AB|=4``, ``\\angle ABC=30``, ``A:B=1``, ``names.is_name``), not for
  ``x+y=10`` (!= 10); two assignments to different names are not equal (``x=5`` != ``y=5``).
  A chain with no variable (``12\\cdot7=84``, ``2\\cdot3=6\\pi``) is read as its last value
  (``7 = 11a+c`` is an equation; ``x=5=6`` states none); ``\\frac13 \\approx 0.333`` is read as its exact part.
* **Equations** are equal when ``lhs-rhs`` differ by a non-zero constant factor
  (``y=2x+3`` == ``2x-y+3=0``); inequalities by a positive factor, with ``a<b``
  == ``b>a``.  One-variable inequalities are intervals (``x>2`` == ``(2,\\infty)``).
* **Tuples are ordered, solution lists are not.**  ``(2,-1) != (-1,2)``;
  ``-2, 3`` == ``3, -2`` == ``x=-2 or x=3`` == ``\\{3,-2\\}`` ("or": never a tuple).  A bare list in the
  prediction may stand for a gold tuple when it is in the same order.  ``a\\pm b``
  is the list ``a+b, a-b``.  A column/row vector equals the tuple of its entries.
* **Ratios** ``7:32`` / times ``12:00`` are ordered parts, never a division; ``4:30 a.m.`` != ``4:30 p.m.``
* **Runs of boxes** joined by commas/"and" are one list (``extract``), by "or" a hedge that equals a
  single gold only if every alternative does (``x+11 or 11+x``, not ``3 or 4``); text between: last box.
* **Intervals keep their brackets**: ``[1,5) != (1,5)``; ``x<1`` == ``-x>-1``.  ``(a,b)`` is both an
  ordered pair and an open interval.  Unions are unordered.
* **Multiple choice**: ``(B)`` == ``B`` == ``\\text{(B)}`` == ``\\textbf{(B)}``.
  Text answers compare case- and space-insensitively (``\\text{Monday}`` == ``monday``).
* **Bases**: ``1011_2`` == ``1011_{2}`` == ``1011`` (subscript dropped); no conversion
  to base ten (``52_8`` != ``42``).
* **Mixed numbers**: ``2\\frac{1}{2}`` is 5/2, as in MATH.  Number words ("seven")
  are not numbers.
* **Symbols** are compared case-insensitively inside expressions (the parser lowercases
  them: ``3R^2 == 3r^2``), as math-verify does.
* **Limits.**  Each check has a wall-clock bound (default 5 s), time queued for a worker
  included, enforced by killing a worker process; a check that does not finish is a
  ``timeout`` verdict (incorrect; not cached when the time ran out in the queue).
  Predictions over 2,000 characters are rejected (``too-long``) and obvious LaTeX
  bombs (power towers, huge factorials or exponents, deep nesting) are not evaluated
  (``timeout``).  Verdicts, timeouts included, are cached per (gold, pred, benchmark).
"""

from __future__ import annotations

import re
import threading
import time
from functools import lru_cache
from typing import Any

from . import bounded
from . import guards as _guards
from .context import Check
from .extract import MAX_ANSWER_CHARS, _clean, gold_answer
from .guards import hazardous
from .exact_numbers import Num, format_fraction, parse_number, percent
from .node_views import as_interval, as_relation, choice_of, node_key, ray_as_relation, text_of, vector
from .normalize import canonical, clean, strip_markers
from .rounding import Rounding, can_round, numbers_equal
from .answer_nodes import Assignment, Based, Choice, Interval, Matrix, Node, Relation, Scalar, Seq, Text, UnionSet
from .structure import parse_answer

_settings_lock = threading.Lock()
_timeout_s = 5.0
CACHE_SIZE = 200_000


def configure(timeout_s: float | None = None, workers: int | None = None, guards: bool | None = None) -> None:
    """Set the per-check bound, the worker-pool size, or disable the bomb guards (tests)."""
    global _timeout_s
    with _settings_lock:
        if timeout_s is not None:
            _timeout_s = float(timeout_s)
        if guards is not None:
            _guards.set_enabled(guards)
    if workers is not None:
        bounded.set_pool_size(workers)
    clear_cache()


def timeout_s() -> float:
    return _timeout_s


# ---------------------------------------------------------------- scalars
_CMD = re.compile(r"\\[a-zA-Z]+")


def _letters(s: str) -> set[str]:
    return set(re.findall(r"[a-zA-Z]", _CMD.sub("", s)))


def scalar_eq(ctx: Check, a: Scalar, b: Scalar) -> bool:
    ca, cb = a.canon, b.canon
    if ca == cb:
        ctx.note("exact-normalized")
        return True
    na, nb = parse_number(ca), parse_number(cb)
    if na is not None and nb is not None:
        ctx.note("numeric")
        return numbers_equal(na, nb, ctx.rounding)
    # A plain number never equals an expression in variables (e and i are constants).
    if (na is not None and _letters(cb) - {"e", "i"}) or (nb is not None and _letters(ca) - {"e", "i"}):
        ctx.note("numeric")
        return False
    if hazardous(a.text) or hazardous(b.text):
        ctx.timed_out = True
        return False
    if ctx.rounding is not None and nb is not None and can_round(nb, ctx.rounding):
        # Only the prediction can be the rounded side, and only where the problem asks for rounding.
        ctx.note("numeric")
        if ctx.worker(_approx_payload(nb, a.text, ctx.rounding)):
            return True
    ctx.note("symbolic")
    return ctx.worker({"op": "eq", "a": a.text, "b": b.text})


def _approx_payload(num: Num, exact: str, rounding: Rounding) -> dict[str, Any]:
    named = rounding.places is not None
    return {
        "op": "approx", "exact": exact, "num": str(num.value.numerator),
        "den": str(num.value.denominator), "decimals": rounding.places if named else num.decimals,
        "terminating_ok": named,
    }


# ---------------------------------------------------------------- structures
def _ordered(ctx: Check, gs: tuple[Node, ...], ps: tuple[Node, ...]) -> bool:
    return len(gs) == len(ps) and all(compare(ctx, g, p) for g, p in zip(gs, ps))


def _unordered(ctx: Check, gs: tuple[Node, ...], ps: tuple[Node, ...]) -> bool:
    g_items = list({node_key(g): g for g in gs}.values())
    p_items = list({node_key(p): p for p in ps}.values())
    if len(g_items) != len(p_items):
        return False
    # Exact canonical matches first, then full comparisons on what is left.
    p_keys = [node_key(p) for p in p_items]
    rest_g = []
    for g in g_items:
        k = node_key(g)
        if k in p_keys:
            i = p_keys.index(k)
            p_keys.pop(i)
            p_items.pop(i)
        else:
            rest_g.append(g)
    for g in rest_g:
        for i, p in enumerate(p_items):
            if compare(ctx, g, p):
                p_items.pop(i)
                break
        else:
            return False
    return True


def _interval_eq(ctx: Check, a: Interval, b: Interval) -> bool:
    return (
        a.left_closed == b.left_closed
        and a.right_closed == b.right_closed
        and scalar_eq(ctx, a.lo, b.lo)
        and scalar_eq(ctx, a.hi, b.hi)
    )


def _relation_eq(ctx: Check, g: Relation, p: Relation) -> bool:
    ctx.note("equation")
    if len(g.parts) != len(p.parts):
        return False
    if g.ops == p.ops and all(scalar_eq(ctx, x, y) for x, y in zip(g.parts, p.parts)):
        return True
    if len(g.parts) != 2:
        return False
    ge, pe = g.ops[0] in ("=", "\\neq"), p.ops[0] in ("=", "\\neq")
    if ge != pe or (not ge and g.ops != p.ops) or (ge and g.ops != p.ops):
        return False
    texts = [x.text for x in (*g.parts, *p.parts)]
    if any(hazardous(t) for t in texts):
        ctx.timed_out = True
        return False
    kind = "eq" if ge else "ineq"
    return ctx.worker({"op": "rel", "g": texts[:2], "p": texts[2:], "kind": kind})


def _compare_assignment(ctx: Check, g: Node, p: Node) -> bool:
    if isinstance(g, Assignment):
        if isinstance(p, Assignment):
            ctx.note("equation")
            return g.var.lower() == p.var.lower() and compare(ctx, g.value, p.value)
        if isinstance(p, Relation):
            rel = as_relation(g)
            return rel is not None and _relation_eq(ctx, rel, p)
        return compare(ctx, g.value, p)
    assert isinstance(p, Assignment)
    if isinstance(g, Relation):
        rel = as_relation(p)
        return rel is not None and _relation_eq(ctx, g, rel)
    return compare(ctx, g, p.value)


def _compare_words(ctx: Check, g: Node, p: Node) -> bool:
    ctx.note("text-choice")
    if isinstance(g, Choice) or isinstance(p, Choice):
        a, b = choice_of(g), choice_of(p)
        return a is not None and a == b
    t, u = text_of(g), text_of(p)
    return bool(t) and t == u


def _compare_based(ctx: Check, g: Node, p: Node) -> bool:
    ctx.note("base")
    if isinstance(g, Based) and isinstance(p, Based):
        return g.base == p.base and g.digits.lstrip("0") == p.digits.lstrip("0")
    based, other = (g, p) if isinstance(g, Based) else (p, g)
    if isinstance(other, Scalar) and re.fullmatch(r"[0-9A-Za-z]+", other.canon):
        return other.canon.upper().lstrip("0") == based.digits.lstrip("0")  # type: ignore[union-attr]
    return False


def _compare_matrix(ctx: Check, g: Node, p: Node) -> bool:
    ctx.note("matrix")
    if isinstance(g, Matrix) and isinstance(p, Matrix):
        if len(g.rows) != len(p.rows) or any(len(r) != len(q) for r, q in zip(g.rows, p.rows)):
            return False
        return all(scalar_eq(ctx, x, y) for r, q in zip(g.rows, p.rows) for x, y in zip(r, q))
    gv, pv = vector(g), vector(p)
    return gv is not None and pv is not None and _ordered(ctx, gv, pv)


def _compare_intervals(ctx: Check, g: Node, p: Node) -> bool:
    ctx.note("interval")
    if isinstance(g, Relation) or isinstance(p, Relation):
        return _ray_eq(ctx, g, p)
    if isinstance(g, UnionSet) or isinstance(p, UnionSet):
        gp = g.parts if isinstance(g, UnionSet) else (g,)
        pp = p.parts if isinstance(p, UnionSet) else (p,)
        if len(gp) != len(pp):
            return False
        return _unordered(ctx, tuple(as_interval(x) or x for x in gp), tuple(as_interval(x) or x for x in pp))
    gi, pi = as_interval(g), as_interval(p)
    return gi is not None and pi is not None and _interval_eq(ctx, gi, pi)


def _ray_eq(ctx: Check, g: Node, p: Node) -> bool:
    """A half-line vs an inequality that is not in solved form: ``x < 1`` (an interval) vs ``-x > -1``."""
    rel, other = (g, p) if isinstance(g, Relation) else (p, g)
    iv = as_interval(other)
    if iv is None or not isinstance(rel, Relation):
        return False
    ray = ray_as_relation(iv, rel)
    if ray is None:
        return False
    ctx.note("interval")
    return _relation_eq(ctx, ray, rel) if rel is p else _relation_eq(ctx, rel, ray)


def _compare_seq(ctx: Check, g: Node, p: Node) -> bool:
    if isinstance(g, Seq) and "ratio" in (g.kind, getattr(p, "kind", None)):
        ctx.note("tuple")  # a ratio equals a ratio, part by part in order
        return isinstance(p, Seq) and g.kind == p.kind and _ordered(ctx, g.items, p.items)
    if isinstance(g, Seq):
        if g.kind in ("tuple", "pair"):
            ctx.note("tuple")
            return isinstance(p, Seq) and p.kind in ("tuple", "pair", "list") and _ordered(ctx, g.items, p.items)
        ctx.note("set")
        return _unordered(ctx, g.items, p.items if isinstance(p, Seq) else (p,))
    assert isinstance(p, Seq)
    ctx.note("set" if p.kind in ("list", "set", "pm", "alt") else "tuple")
    # "x+11 or 11+x": one answer in a few forms, each equal to the gold ("3 or 4" is a hedge).
    return p.kind in ("list", "alt") and len(p.items) <= 4 and all(compare(ctx, g, item) for item in p.items)


def _either(g: Node, p: Node, *kinds: type) -> bool:
    return isinstance(g, kinds) or isinstance(p, kinds)


def compare(ctx: Check, g: Node | None, p: Node | None) -> bool:
    """A type dispatch: the first kind either side has decides how the two are compared."""
    if g is None or p is None:
        return False
    if isinstance(p, Seq) and len(p.items) == 1 and not isinstance(g, Seq):
        p = p.items[0]
    if isinstance(g, Seq) and len(g.items) == 1 and not isinstance(p, Seq):
        g = g.items[0]
    if _either(g, p, Assignment):
        return _compare_assignment(ctx, g, p)
    if _either(g, p, Choice, Text):
        return _compare_words(ctx, g, p)
    if _either(g, p, Based):
        return _compare_based(ctx, g, p)
    if _either(g, p, Matrix):
        return _compare_matrix(ctx, g, p)
    if _either(g, p, Interval, UnionSet):
        return _compare_intervals(ctx, g, p)
    if _either(g, p, Relation):
        if isinstance(g, Relation) and isinstance(p, Relation):
            return _relation_eq(ctx, g, p)
        ctx.note("equation")
        return _ray_eq(ctx, g, p)
    if _either(g, p, Seq):
        return _compare_seq(ctx, g, p)
    return isinstance(g, Scalar) and isinstance(p, Scalar) and scalar_eq(ctx, g, p)


# ---------------------------------------------------------------- entry points
def _prepare(answer: str) -> tuple[str, bool, bool]:
    m = strip_markers(clean(answer))
    return m.text, m.percent, m.degrees


def _percent_scaled(text: str) -> str | None:
    num = parse_number(canonical(text))
    if num is None:
        return None
    return format_fraction(percent(num.value))


class _Busy(Exception):
    """A check that timed out waiting for a worker: its verdict is returned but not cached."""

    def __init__(self, verdict: tuple[bool, str]) -> None:
        super().__init__()
        self.verdict = verdict


def _equivalent(gold: str, pred: str, benchmark: str, budget: float, rounding: Rounding | None) -> tuple[bool, str]:
    if not isinstance(gold, str) or not isinstance(pred, str):
        return False, "parse-error"
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > 4 * MAX_ANSWER_CHARS:
        return False, "too-long"
    g_raw = gold_answer(gold, benchmark)
    p_raw = _clean(pred) if ("\\boxed" in pred or "\\fbox" in pred) else pred
    g_text, g_pct, _ = _prepare(g_raw)
    p_text, p_pct, _ = _prepare(p_raw)
    if not p_text:
        return False, "no-answer"
    if not g_text:
        return False, "parse-error"
    if canonical(g_text) == canonical(p_text):
        return True, ("percent" if g_pct != p_pct else "exact-normalized")
    if _guards.too_deep(p_text):  # refused before the structure parser recurses into it
        return False, "timeout"
    ctx = Check(budget, rounding)
    ok = compare(ctx, parse_answer(g_text), parse_answer(p_text))
    if not ok and p_pct and not g_pct:
        scaled = _percent_scaled(p_text)
        if scaled is not None:
            ctx2 = Check(max(ctx.deadline - time.monotonic(), 0.0), rounding)
            if compare(ctx2, parse_answer(g_text), parse_answer(scaled)):
                return True, "percent"
            ctx.timed_out |= ctx2.timed_out
            ctx.busy |= ctx2.busy
    if ok:
        rule = ctx.rule or "exact-normalized"
        if (g_pct or p_pct) and rule in ("numeric", "exact-normalized"):
            rule = "percent"
        return True, rule
    if ctx.busy:
        raise _Busy((False, "timeout"))
    if ctx.timed_out:
        return False, "timeout"
    if ctx.error and ctx.rule == "symbolic":
        return False, "parse-error"
    return False, "mismatch"


@lru_cache(maxsize=CACHE_SIZE)
def _cached(gold: str, pred: str, benchmark: str, rounding: Rounding | None) -> tuple[bool, str]:
    try:
        return _equivalent(gold, pred, benchmark, _timeout_s, rounding)
    except _Busy:
        raise
    except RecursionError:
        return False, "parse-error"
    except Exception:
        return False, "parse-error"


def check(gold: str, pred: str, benchmark: str = "math", rounding: Rounding | None = None) -> tuple[bool, str]:
    """(correct, rule) for an extracted prediction; cached, bounded, never raises.

    ``rounding`` is the problem's request for a rounded answer (``rounding.rounding_request``);
    without one, a decimal equals an exact gold only when it is the same number.
    """
    if not isinstance(gold, str) or not isinstance(pred, str):
        return False, "parse-error"
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > 4 * MAX_ANSWER_CHARS:
        return False, "too-long"
    try:
        return _cached(gold, pred, benchmark, rounding)
    except _Busy as busy:  # timed out in the queue for a worker: not a property of the pair
        return busy.verdict


def is_equivalent(gold: str, pred: str, benchmark: str = "math", rounding: Rounding | None = None) -> bool:
    return check(gold, pred, benchmark, rounding)[0]


def clear_cache() -> None:
    _cached.cache_clear()


def cache_info() -> Any:
    return _cached.cache_info()
