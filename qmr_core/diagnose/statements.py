"""Equality statements of a trace, for the rules that look across claims (trace_rules.py).

A statement is one run of math joined by ``=``: ``Total pencils = 30 * 10``, ``2x + 60 = 100``,
``\\text{Total Score} = 570``. Its *name* is the text the first ``=`` assigns to when that is words
(``total pencils``, ``total score``), so two statements about the same quantity can be compared.
Single letters next to math are variables (VAR tokens): ``2x``, ``0.99B``, ``\\( x \\)``.
Math delimiters inside one expression are dropped (``150 + \\( x \\) = 500``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qmr_core.diagnose.arith import MAX_TEXT, Tok, eq_segments, normalize, split_at_eq, tokenize
from qmr_core.diagnose.units import mark_plain_units

MAX_STATEMENTS = 300  # per step
MAX_NAME_WORDS = 5

_MATH = {"NUM", "OP", "LP", "RP", "EQ", "FRAC", "SQRT", "UNIT", "VAR", "BOX", "LABEL", "BIG"}
_NOT_VARS = {"a", "I", "A"}  # articles and the pronoun: variables only when glued to a number
_CONSTANTS = {"i", "e"}  # the imaginary unit and Euler's number: never a free variable
_NAME_STOP = frozenset(
    """so thus then hence therefore now and we get gives is are was be the a an this that which
    first second third next finally also let where if when since because here""".split()
)
_DELIM = "\u2016"


@dataclass(frozen=True)
class Statement:
    step: int
    start: int  # offsets in the step's normalized text
    end: int
    name: str | None
    sides: tuple[tuple[Tok, ...], ...]  # the math sides, the name excluded
    source: str  # the step's normalized text

    def side_text(self, k: int) -> str:
        side = self.sides[k]
        return self.source[side[0].start : side[-1].end].strip() if side else ""

    @property
    def text(self) -> str:
        return self.source[self.start : self.end].strip()

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(t.text for side in self.sides for t in side if t.kind == "VAR")


def _mark_vars(toks: list[Tok], source: str) -> list[Tok]:
    out: list[Tok] = []
    for k, t in enumerate(toks):
        if t.kind == "OP" and source[t.start : t.end] in ("x", "X") and k + 1 < len(toks) and toks[k + 1].kind == "LP" \
                and not t.space_before:
            t = Tok("VAR", "x", t.start, t.end, False)  # "7x(x^2 - 3x + 2)": a variable, not a times sign
        if t.kind == "WORD" and len(t.text) == 1 and t.text.isalpha():
            prev = toks[k - 1] if k else None
            nxt = toks[k + 1] if k + 1 < len(toks) else None
            if prev is not None and prev.kind == "CMD":
                out.append(t)  # "\\sin x", "\\log x": a function's argument, not a factor
                continue
            glued_num = prev is not None and prev.kind in ("NUM", "RP") and not t.space_before
            by_op = (prev is not None and prev.kind in ("OP", "EQ") and (nxt is None or nxt.kind != "WORD")) or (
                nxt is not None and nxt.kind in ("OP", "EQ"))
            if t.text in _CONSTANTS:
                out.append(t)
                continue
            if glued_num or by_op or t.text not in _NOT_VARS:
                t = Tok("VAR", t.text, t.start, t.end, t.space_before)
        out.append(t)
    return out


def _drop_inner_delims(toks: list[Tok]) -> list[Tok]:
    """'150 + \\( x \\) = 500': a delimiter between two math tokens is dropped."""
    out: list[Tok] = []
    for k, t in enumerate(toks):
        if t.text == _DELIM and out and out[-1].kind in _MATH:
            j = k + 1
            while j < len(toks) and toks[j].text == _DELIM:
                j += 1
            if j < len(toks) and toks[j].kind in _MATH and (out[-1].kind in ("OP", "EQ", "LP") or toks[j].kind in ("OP", "EQ", "RP")):
                continue
        out.append(t)
    return out


def _name_before(toks: list[Tok], i: int) -> str | None:
    words: list[str] = []
    k = i - 1
    while k >= 0 and toks[k].kind == "WORD" and len(words) < MAX_NAME_WORDS + 3:
        words.append(toks[k].text)
        k -= 1
    if k >= 0 and toks[k].kind in ("CMD", "REL", "VAR"):
        return None
    words.reverse()
    while words and words[0].lower() in _NAME_STOP:
        words = words[1:]
    if not words or len(words) > MAX_NAME_WORDS or not any(len(w) >= 3 for w in words):
        return None
    return name_key(" ".join(words))


def name_key(text: str) -> str | None:
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", text)]
    words = [w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words if w not in ("the", "s")]
    return " ".join(words) or None


def _trim_ends(toks: list[Tok], i: int, j: int, sides: list[list[Tok]], named: bool) -> list[list[Tok]]:
    """Drop a first or last side that the text around it may extend (as the arithmetic checker does)."""
    from qmr_core.diagnose.step_claims import _first_side_ok, _last_side_ok

    if sides and not named and not _first_side_ok(toks, i, sides[0]):
        sides = sides[1:]
    k = j
    while k < len(toks) and toks[k].text == _DELIM:
        k += 1
    new_statement = k > j and k + 1 < len(toks) and toks[k].kind == "UNIT" and toks[k + 1].kind == "EQ"
    while sides and sides[-1] and sides[-1][-1].kind == "LP":
        sides[-1] = sides[-1][:-1]  # "= 14.99 (round to two decimals)": a remark opens
    if sides and not new_statement and not _last_side_ok(toks, j, sides[-1]):
        sides = sides[:-1]
    return sides if len(sides) >= (1 if named else 2) else []


def statements(step: int, text: str) -> list[Statement]:
    # "\\] \\[": one display ends and the next begins; nothing continues across it
    source = normalize(re.sub(r"\\\]\s*\\\[", r"\\] ; \\[", text[:MAX_TEXT]))
    toks = _drop_inner_delims(_mark_vars(mark_plain_units(tokenize(source)), source))
    out: list[Statement] = []
    for i, j in eq_segments(toks, _MATH):
        if len(out) >= MAX_STATEMENTS:
            break
        seg = toks[i:j]
        sides = split_at_eq(seg)
        name = None
        if not sides[0]:
            name = _name_before(toks, i)
            sides = sides[1:]
        elif all(t.kind == "UNIT" for t in sides[0]):  # \text{Total Score} = 570
            name = name_key(" ".join(t.text for t in sides[0]))
            sides = sides[1:]
        sides = _trim_ends(toks, i, j, sides, named=name is not None)
        if sides and all(sides):
            out.append(Statement(step, seg[0].start, seg[-1].end, name, tuple(tuple(s) for s in sides), source))
    return out


def between(a: Statement, b: Statement, steps: list[str]) -> str:
    """The text between two statements (b follows a), normalized; across a step boundary, the
    rest of a's step and the start of b's step."""
    if a.step == b.step:
        return a.source[a.end : b.start]
    return a.source[a.end :] + " \n " + b.source[: b.start]
