"""Rules across claims: algebra, named quantities and the final answer.

Each rule reads the equality statements of the whole trace (statements.py), in reading order, and
flags a step only when the evidence is exact:
- ``algebra``: a rewrite chain ``(x - 16 + 100) - 25 = x + 69 - 25`` whose sides differ as
  functions, or an equation whose variable cancels to a false constant (``x + 84 = x + 69``);
- ``equation``: two consecutive linear equations in one variable with different solutions
  (``150 + x = 500`` then ``x = 350 - 150``): the later one is flagged. The brief's example
  "2x + 3 = 11, so x = 4" is checked by substituting the solution;
- ``named``: ``Total pencils = 30 * 10. Total pencils = 310.`` (also across a step boundary), or the
  same name given two different algebraic expressions (``Total = 1.5A + 60 + A. Total = 2A + 60``);
- ``final answer``: the boxed answer is a number that the trace never derived or wrote.

Consecutive statements are compared only when the text between them is a short connector
("so", "Simplifying, we get:") and not a case split, a check, a hypothesis or a correction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from qmr_core.diagnose import algebra
from qmr_core.diagnose.arith import Refused, Tok
from qmr_core.diagnose.statements import Statement, between, statements
from qmr_core.diagnose.step_claims import NOT_ASSERTED, Claim, Side, _fmt, _holds, evaluate_side

MAX_BETWEEN_CHARS = 220
MAX_BETWEEN_WORDS = 12
_CASE_WORDS = re.compile(
    r"(?i)\b(or|if|case|cases|suppose|assume|assuming|when|whenever|either|otherwise|alternatively|instead|"
    r"check|checking|test|testing|try|trying|wait|actually|let|plug\w*|verify\w*|incorrect|wrong|mistake|"
    r"however|but|another|other|else|similarly|recall|original\w*|initial\w*|new|reconsider\w*|re-?evaluat\w*|"
    r"root|roots|solutions|possib\w*|not|no)\b"
)
_DERIVES = re.compile(
    r"(?i)(\b(so|thus|hence|therefore|then|get|gets|gives|giving|simplif\w*|becomes|yields?|divid\w*|multipl\w*|"
    r"subtract\w*|add\w*|combin\w*|solv\w*|isolat\w*|rearrang\w*|mov\w*|expand\w*|distribut\w*)\b"
    r"|\\implies|\\Rightarrow|\\therefore|:\s*$|:\s*\u2016)"
)
_AROUND = re.compile(r"(?i)\b(or|when|whenever|if|case|cases|either|suppose|assume|assuming|whether|roots?|solutions)\b")
_BOXED = re.compile(r"\\boxed\{([^{}]{1,40})\}")


def _connected(a: Statement, b: Statement, steps: Sequence[str], digits: bool = False) -> bool:
    """Short connector text only; digits allowed for equations ("subtract 150 from both sides")."""
    if b.step - a.step > 1:
        return False
    text = between(a, b, list(steps))
    if len(text) > MAX_BETWEEN_CHARS or "=" in text or _CASE_WORDS.search(text):
        return False
    if not digits and re.search(r"\d", text):
        return False
    return len(re.findall(r"[A-Za-z]+", text)) <= MAX_BETWEEN_WORDS


def _claim(text: str, computed: Fraction, stated: Fraction, lhs: str, rhs: str, rule: str) -> Claim:
    return Claim(text=text, lhs=lhs, rhs=rhs, lhs_value=computed, rhs_value=stated, holds=False,
                 computed=_fmt(computed), stated=_fmt(stated), rule=rule)


def _numeric(side) -> Side | None:
    try:
        return evaluate_side(list(side), "")
    except (Refused, ZeroDivisionError, OverflowError, ValueError):
        return None


# -- within a statement ----------------------------------------------------------------------


_HYPOTHETICAL = re.compile(r"(?i)\b(if|suppose|supposing|assume|assuming|whether|try|trying)\b")


def _algebra_flags(st: Statement) -> list[Claim]:
    out: list[Claim] = []
    hypothetical = bool(_HYPOTHETICAL.search(st.source))
    var_sides = [frozenset(t.text for t in side if t.kind == "VAR") for side in st.sides]
    for k in range(len(st.sides) - 1):
        va, vb = var_sides[k], var_sides[k + 1]
        if not va or va != vb:
            continue
        a, b = st.sides[k], st.sides[k + 1]
        text = f"{st.side_text(k)} = {st.side_text(k + 1)}"
        if len(va) == 1 and not hypothetical and (gap := algebra.constant_gap(a, b, next(iter(va)))) is not None:
            out.append(_claim(text, gap, Fraction(0), st.side_text(k), st.side_text(k + 1), "algebra"))
            continue
        # "E1 = E2 = E3": E1 = E2 may be an equation to solve, the later links are rewrites;
        # under a name ("Total = E1 = E2") every link is a rewrite
        # only linear rewrites: a higher power may be reduced by a constraint (z^3 = 1 so z^49 = z)
        rewrite = (k >= 1 or st.name is not None) and algebra.affine(a, sorted(va)) and algebra.affine(b, sorted(va))
        if rewrite and (d := algebra.differ(a, b, sorted(va))) is not None:
            out.append(_claim(text, d[1], d[2], st.side_text(k), st.side_text(k + 1), "algebra"))
    return out


# -- across statements -----------------------------------------------------------------------


def _equations(st: Statement, defs: dict[str, tuple] | None = None) -> list[tuple[int, str, Fraction]]:
    """(side index, variable, solution) of each linear equation in one unknown: its one variable,
    or one variable left once the others are replaced by their definitions ('S = 2B')."""
    out = []
    for k in range(len(st.sides) - 1):
        names = {t.text for side in (st.sides[k], st.sides[k + 1]) for t in side if t.kind == "VAR"}
        derived: dict[str, Sequence[Tok]] | None = None
        if len(names) > 1 and defs:
            known = {v: defs[v] for v in names if v in defs}
            free = names - set(known)
            if len(free) != 1 or any({t.text for t in side if t.kind == "VAR"} - free for side in known.values()):
                continue
            names, derived = free, {v: side for v, side in known.items()}
        if len(names) == 1:
            name = names.pop()
            root = algebra.solve_linear(st.sides[k], st.sides[k + 1], name, derived)
            if root is not None:
                out.append((k, name, root))
    return out


def _definition(st: Statement) -> tuple[str, tuple] | None:
    """'S = 2B': a variable defined by an expression in one other variable."""
    if len(st.sides) != 2:
        return None
    a, b = st.sides
    others = {t.text for t in b if t.kind == "VAR"}
    if len(a) == 1 and a[0].kind == "VAR" and len(others) == 1 and a[0].text not in others:
        return a[0].text, b
    return None


def _solved_form(st: Statement, k: int) -> bool:
    """'x = 20', 'x = -8/3': already a solution (a list of such is a listing, not a derivation);
    'S = 165 \\times 6/11' is a computation still to be done."""
    a, b = st.sides[k], st.sides[k + 1]
    if len(a) != 1 or a[0].kind != "VAR" or _numeric(b) is None:
        return False
    literal_like = all(t.kind in ("NUM", "FRAC", "LP", "RP", "UNIT") or (t.kind == "OP" and t.text in "-/") for t in b)
    return literal_like and sum(t.kind == "NUM" for t in b) <= 2


def _equation_flags(prev: Statement, st: Statement, steps: Sequence[str], defs: dict[str, tuple]) -> list[Claim]:
    pe, ce = _equations(prev, defs), _equations(st, defs)
    if not pe or not ce or not _connected(prev, st, steps, digits=True):
        return []
    gap = between(prev, st, list(steps))
    if not _DERIVES.search(gap) and not re.fullmatch(r"[\s\u2016;]*;[\s\u2016;]*", gap):  # "\\] \\[" continues
        return []  # "x - 3 = 0, x - 7 = 0": a listing, not a derivation
    around = prev.source[max(0, prev.start - 40) : prev.start] + " " + st.source[st.end : st.end + 40]
    if _AROUND.search(around):
        return []  # "when 5x - 1 = ...", "x = -4 or x = 20": cases
    k0, name0, root0 = pe[-1]
    k1, name1, root1 = ce[0]
    if name0 != name1 or root0 == root1 or _solved_form(prev, k0):
        return []
    stated = _numeric(st.sides[k1 + 1])
    if stated is not None and stated.literal is not None and _rounded(root0, stated.literal):
        return []  # "x = 1495.02" after "3.01x = 4500"
    text = f"{st.side_text(k1)} = {st.side_text(k1 + 1)}"
    return [_claim(f"{text} (after {prev.side_text(k0)} = {prev.side_text(k0 + 1)})", root0, root1,
                   prev.side_text(k0), st.side_text(k1 + 1), "equation")]


def _lit(v: Fraction):
    from qmr_core.diagnose.arith import Tok

    return Tok("NUM", _fmt(v), 0, 0, True, value=v, decimals=0 if v.denominator == 1 else len(_fmt(v).partition(".")[2]))


def _rounded(exact: Fraction, lit) -> bool:
    diff = abs(exact - lit.value)
    if lit.decimals:
        return diff <= Fraction(1, 10**lit.decimals)
    return exact.denominator != 1 and diff < 1


def _named_flags(prev: Statement, st: Statement, steps: Sequence[str]) -> list[Claim]:
    if prev.name is None or prev.name != st.name or not _connected(prev, st, steps):
        return []
    a, b = prev.sides[-1], st.sides[0]
    va = frozenset(t.text for t in a if t.kind == "VAR")
    vb = frozenset(t.text for t in b if t.kind == "VAR")
    text = f"{prev.name} = {st.side_text(0)} (after {prev.name} = {prev.side_text(len(prev.sides) - 1)})"
    if va or vb:
        names = sorted(va)
        if va == vb and algebra.affine(a, names) and algebra.affine(b, names) and (d := algebra.differ(a, b, names)) is not None:
            return [_claim(text, d[1], d[2], prev.side_text(len(prev.sides) - 1), st.side_text(0), "named")]
        return []
    sa, sb = _numeric(a), _numeric(b)
    if sa is None or sb is None or sa.literal is not None or sb.literal is None:
        return []  # only "name = computation" then "name = its value"
    if sa.units and sb.units and sa.units != sb.units:
        return []
    if _holds(sa, sb, False):
        return []
    return [_claim(text, sa.value, sb.value, prev.side_text(len(prev.sides) - 1), st.side_text(0), "named")]


def _final_answer_flag(steps: Sequence[str], sts: list[Statement]) -> tuple[int, Claim] | None:
    """'... = 645. So the answer is \\boxed{654}': the box right after the last derived value differs."""
    from qmr_core.diagnose.step_claims import exact_value

    last = len(steps) - 1
    mine = [st for st in sts if st.step == last]
    if not mine:
        return None
    src = mine[0].source
    boxes = list(_BOXED.finditer(src))
    if len(boxes) != 1:
        return None
    box = boxes[0]
    before = [st for st in mine if st.end <= box.start()]
    if not before or any(st.start >= box.end() for st in mine):
        return None  # nothing derived before the box, or more derivation after it
    st = before[-1]
    gap = src[st.end : box.start()]
    if len(gap) > MAX_BETWEEN_CHARS or re.search(r"\d|=", gap) or _CASE_WORDS.search(gap):
        return None
    words = re.findall(r"[A-Za-z]+", gap)
    if len(words) > MAX_BETWEEN_WORDS or (words and not re.search(r"(?i)\banswer\b", gap)):
        return None  # "= 57, then there must be \boxed{15}": a further step in words
    if st.variables or all((value := _numeric(side)) is None or value.literal is not None for side in st.sides):
        return None  # "A = 1" then \\boxed{129}: an assignment, not a computed result
    final = _numeric(st.sides[-1])
    content = box.group(1).replace("\\$", "").replace("$", "").strip()
    try:
        answer = exact_value(content)
    except Refused:
        return None
    if final is None or final.literal is None or final.value == answer or _rounded(final.value, _lit(answer)):
        return None
    if answer in (final.value * 100, final.value / 100):
        return None  # 0.25 then 25%
    if any(t.kind == "NUM" and t.value == answer for side in st.sides for t in side):
        return None  # "2^6 = 64, so \\boxed{6}": the answer is one of its numbers
    return last, _claim(f"\\boxed{{{content}}} (right after {st.text})", final.value, answer,
                        st.side_text(len(st.sides) - 1), content, "final answer")


def _restated_flags(sts: list[Statement]) -> list[tuple[int, Claim]]:
    """'Total cost = 20 + 25 = 45' ... later 'Total cost = 54': a derived value restated differently."""
    out: list[tuple[int, Claim]] = []
    latest: dict[str, Statement] = {}
    for st in sts:
        if st.name is None or len(st.name.split()) < 2:
            continue
        prev = latest.get(st.name)
        latest[st.name] = st
        if prev is None or len(st.sides) != 1 or len(prev.sides) < 2:
            continue
        derived, restated = _numeric(prev.sides[-1]), _numeric(st.sides[0])
        if derived is None or restated is None or derived.literal is None or restated.literal is None:
            continue
        if derived.units != restated.units or derived.value == restated.value:
            continue
        if _rounded(derived.value, restated.literal) or _rounded(restated.value, derived.literal):
            continue
        out.append((st.step, _claim(f"{st.name} = {st.side_text(0)} (derived as {prev.text})", derived.value,
                                    restated.value, prev.side_text(len(prev.sides) - 1), st.side_text(0), "restated")))
    return out


def trace_flags(steps: Sequence[str]) -> list[tuple[int, Claim]]:
    """(step index, false claim) for every rule above, in reading order."""
    sts: list[Statement] = []
    asserted = [not NOT_ASSERTED.search(s) for s in steps]
    for k, text in enumerate(steps):
        sts += statements(k, text)
    out: list[tuple[int, Claim]] = []
    defs: dict[str, tuple[int, tuple]] = {}  # variable -> (step, defining side), kept for two steps
    for i, st in enumerate(sts):
        live = {v: side for v, (k, side) in defs.items() if st.step - k <= 2}
        if (d := _definition(st)) is not None:
            defs[d[0]] = (st.step, d[1])
        if not asserted[st.step]:
            continue
        found = _algebra_flags(st)
        if i:
            found += _equation_flags(sts[i - 1], st, steps, live) + _named_flags(sts[i - 1], st, steps)
        out += [(st.step, c) for c in found]
    out += [(k, c) for k, c in _restated_flags(sts) if asserted[k]]
    fa = _final_answer_flag(steps, sts)
    if fa is not None and asserted[fa[0]]:
        out.append(fa)
    return out
