"""One side of a claim, read exactly: its units, its admissible values, and whether two sides
are equal under the readings and the rounding the text allows (used by step_claims.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from qmr_core.diagnose.arith import MAX_SIDE_TOKENS, Parser, Refused, Tok
from qmr_core.diagnose.units import conversion_factors, unit_words


@dataclass
class Side:
    toks: list[Tok]
    units: frozenset[str]
    values: set[Fraction]  # every admissible reading (percent as unit or /100, '/' grouping)
    value: Fraction  # the standard reading
    literal: Tok | None  # the side is one number as written (the "stated" value)
    text: str
    has_percent: bool
    has_decimal: bool
    rounded_input: bool = False  # a decimal that may stand for a rounded value (0.33, 3.14)


def _maybe_rounded(t: Tok) -> bool:
    """Money-like decimals (4.25, 0.05) are exact; 0.33, 3.14, 0.0056 may be rounded."""
    assert t.value is not None  # only NUM tokens, which carry their value
    return t.decimals >= 3 or (t.decimals == 2 and (t.value * 20).denominator != 1)


def _unit_key(text: str) -> str:
    words = re.findall(r"[a-z]+", text.lower())
    return " ".join(w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words)


def strip_units(toks: list[Tok]) -> tuple[list[Tok], list[str]]:
    """Remove unit text (and a unit's own exponent, as in cm^2) and \\boxed marks from a side."""
    core: list[Tok] = []
    units: list[str] = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.kind == "BOX":
            k += 1
            continue
        if t.kind == "LABEL":
            if k == 0 or toks[k - 1].kind not in ("NUM", "RP", "UNIT"):
                raise Refused("a label without a number")
            k += 1
            continue
        if t.kind != "UNIT":
            core.append(t)
            k += 1
            continue
        if k == 0 or toks[k - 1].kind not in ("NUM", "RP", "UNIT"):
            raise Refused("text used as a quantity")  # \text{Jamal's apples} + 8
        key = _unit_key(t.text)
        k += 1
        if k < len(toks) and toks[k].kind == "OP" and toks[k].text == "^":  # cm^2 is a unit, not a power
            k += 1
            if k < len(toks) and toks[k].kind == "NUM":
                key += "^" + toks[k].text
                k += 1
            elif k < len(toks) and toks[k].kind == "LP":
                depth = 0
                while k < len(toks):
                    depth += 1 if toks[k].kind == "LP" else -1 if toks[k].kind == "RP" else 0
                    key += toks[k].text
                    k += 1
                    if depth == 0:
                        break
            else:
                raise Refused("unit with an unreadable exponent")
        units.append(key)
    for k in range(len(core) - 2):
        if core[k].kind == "LP" and core[k + 1].kind == "NUM" and "," in core[k + 1].text and core[k + 2].kind == "RP":
            raise Refused("(28,365) is a pair or a gcd, not a number")
    return core, units


def evaluate_side(toks: list[Tok], source: str) -> Side:
    core, unit_keys = strip_units(toks)
    units = frozenset(unit_keys)
    if not core:
        raise Refused("empty")
    if len(core) > MAX_SIDE_TOKENS:
        raise Refused("too long")
    if any(t.kind == "BIG" for t in core):
        raise Refused("literal too long")
    has_percent = any(t.kind == "OP" and t.text == "%" for t in core)
    if has_percent and any(t.kind == "OP" and t.text in "+-" for t in core[1:]):
        raise Refused("percent in a sum")  # 50 - 20% means 50 minus 20% of 50
    values: set[Fraction] = set()
    standard: Fraction | None = None
    for percent_div in (True, False) if has_percent else (True,):
        for slash in (False, True):
            v = Parser(core, percent_div, slash).parse()
            if standard is None:
                standard = v
            values.add(v)
    nums = [t for t in core if t.kind == "NUM"]
    literal = None
    if len(nums) == 1 and all(t.kind in ("NUM", "LP", "RP") or (t.kind == "OP" and t.text in "%-") for t in core):
        literal = nums[0]
    text = source[toks[0].start : toks[-1].end].strip()
    assert standard is not None  # the first reading always sets it
    return Side(core, units, values, standard, literal, text, has_percent, any(t.decimals for t in nums),
                any(_maybe_rounded(t) for t in nums))


def _fmt(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1 and v.denominator < 10**12:  # terminating decimal: exact
        digits = len(str(v.denominator)) + 1
        return f"{float(v):.{digits}f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else str(v)
    return f"{v.numerator}/{v.denominator}"


_SCALE_UNITS = frozenset(
    ["dozen", "hundred", "thousand", "million", "billion", "trillion", "percent", "cent", "k", "m", "b", "score", "pair"]
)


def _mixed_sum(side: Side) -> bool:
    """'2 hours + 30 minutes': terms with different units added."""
    return len(side.units) > 1 and any(t.kind == "OP" and t.text in "+-" for t in side.toks[1:])


def _unit_factors(a: Side, b: Side) -> list[Fraction] | None:
    """None: a false claim with these units is not judged (it may be a conversion or a count in
    another unit). Otherwise the conversion factors between known units it may still hide."""
    factors = conversion_factors(a.units, b.units)
    if factors is None or _mixed_sum(a) or _mixed_sum(b):
        return None
    if a.units == b.units or factors:
        return factors  # same units, or known units decided by their exact factors
    wa, wb = unit_words(a.units), unit_words(b.units)
    if (wa | wb) & _SCALE_UNITS:
        return None  # "2 dozen = 24", "= 3 thousand"
    if a.literal is not None and (b.literal is not None or not wa <= wb):
        return None  # "5 boxes = 5 × 12", "2 = 120 minutes": a conversion written without its factor
    if b.literal is not None and b.units and a.literal is not None:
        return None
    return factors


def _holds(lhs: Side, rhs: Side, approx_context: bool, factor: Fraction = Fraction(1)) -> bool:
    """Equal under some admissible reading, or within the rounding the text itself allows."""
    lvals = {v * factor for v in lhs.values}
    if lvals & rhs.values:
        return True
    stated = rhs if rhs.literal is not None else lhs if lhs.literal is not None else None
    # inputs that may be rounded (0.33, 3.14), on the computed side; the stated result may be rounded anyway
    rounded_input = (lhs if stated is rhs else rhs).rounded_input if stated is not None else (
        lhs.rounded_input or rhs.rounded_input)
    for a in lvals:
        for b in rhs.values:
            diff = abs(a - b)
            scale = max(abs(a), abs(b))
            computed = (a if stated is rhs else b) if stated is not None else None
            decimals = stated.literal.decimals if stated is not None and stated.literal is not None else 0
            # a money-like result exact at the precision written leaves nothing to round: $14.99 for 15.00
            exact = computed is not None and decimals > 0 and (computed * 10**decimals).denominator == 1
            if approx_context and not exact and diff <= scale * Fraction(5, 100):
                return True
            if computed is not None and not exact:
                if decimals and diff <= Fraction(1, 10**decimals):  # 22/7 = 3.14, 2/3 = 0.66
                    return True
                if not decimals and computed.denominator != 1 and diff < 1:  # 100/30 = 3 (rounded)
                    return True
            if rounded_input and diff <= scale / 100:  # rounded inputs: 0.33 × 3 = 1
                return True
    return False


def _remainder(division: Side, other: Side) -> bool:
    """'500 \\div 13 = 13 \\cdot 38 + 6': division with remainder, equal to the dividend."""
    t = division.toks
    return (
        len(t) == 3 and t[0].kind == "NUM" and t[1].kind == "OP" and t[1].text == "/" and t[2].kind == "NUM"
        and other.value == t[0].value
    )


def _running_total(lhs: Side, rhs: Side) -> bool:
    """'20 + 5 = 25 + 10 = 35': the right side starts with the left side's value and goes on."""
    core = rhs.toks
    if len(core) < 3 or core[0].kind != "NUM" or core[1].kind != "OP" or core[1].text not in "+-*/":
        return False
    return core[0].value in lhs.values
