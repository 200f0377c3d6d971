"""The one step aligner: the steps of a base trace against the steps of a quantized trace.

Steps are compared by their normalized words and the numbers they state, and aligned with a
Needleman-Wunsch dynamic program (gaps cost nothing; a pair is worth its similarity minus a floor).
The result gives, per problem, the first quantized step that differs from the base trace and a
similarity per aligned step pair. `qmr compare` stores it (`step_alignments`); the browser reads what
compare stored and, for a pair never compared, runs this same function in memory without writing
(`display_rows` turns either into the rows it shows), so there is one alignment, never two.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

MATCH_FLOOR = 0.35  # step pairs less similar than this are left unaligned
SAME_TEXT = 0.75  # aligned steps with equal numbers and this much word overlap say "the same thing"
MAX_ALIGN_STEPS = 400

_STEP_TAG = re.compile(r"(?i)^\W*step\s*\d+\s*[:.)\-]\s*")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?|(?<![\w.])-?\.\d+")
_WORD = re.compile(r"[a-z]+")  # words only: numbers are compared separately
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class StepSignature:
    words: Counter
    numbers: Counter


def _canonical_number(text: str) -> str:
    try:
        return str(Fraction(text.replace(",", "")))
    except (ValueError, ZeroDivisionError):
        return text


def step_signature(text: str) -> StepSignature:
    body = _STEP_TAG.sub("", text.strip()).lower()
    body = re.sub(r"\\[a-z]+", " ", body)  # LaTeX commands carry no content of their own here
    numbers = Counter(_canonical_number(m.group(0)) for m in _NUMBER.finditer(body))
    return StepSignature(Counter(_WORD.findall(body)), numbers)


def _dice(a: Counter, b: Counter) -> float:
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 1.0


@dataclass(frozen=True)
class StepPair:
    pos: int
    base_idx: int | None
    quant_idx: int | None
    similarity: float | None
    text_similarity: float | None
    numbers_equal: bool | None

    @property
    def same(self) -> bool:
        return (
            self.base_idx is not None and self.quant_idx is not None and bool(self.numbers_equal)
            and (self.text_similarity or 0.0) >= SAME_TEXT
        )


def step_similarity(a: StepSignature, b: StepSignature) -> tuple[float, float, bool]:
    """(similarity, word similarity, numbers equal); numbers weigh half when either step has any."""
    text = _dice(a.words, b.words)
    if not a.numbers and not b.numbers:
        return text, text, True
    return 0.5 * text + 0.5 * _dice(a.numbers, b.numbers), text, a.numbers == b.numbers


@dataclass
class Alignment:
    pairs: list[StepPair]
    first_divergent: int | None  # quantized step index; len(quant) when it stops where the base goes on
    similarity: float | None  # trace level: matched similarity / the longer trace's step count


class _Similarities:
    """Step-pair similarities, each distinct pair of texts computed once (repetition loops repeat texts)."""

    def __init__(self, base: list[str], quant: list[str]):
        self.base, self.quant = base, quant
        self.sig_b = [step_signature(t) for t in base]
        self.sig_q = [step_signature(t) for t in quant]
        self.cache: dict[tuple[str, str], tuple[float, float, bool]] = {}

    def __call__(self, i: int, j: int) -> tuple[float, float, bool]:
        key = (self.base[i], self.quant[j])
        if key not in self.cache:
            self.cache[key] = step_similarity(self.sig_b[i], self.sig_q[j])
        return self.cache[key]


def _trace_back(sim: _Similarities, n: int, m: int) -> list[tuple[int | None, int | None]]:
    """The (base index, quant index) pairs of the best alignment, in order (None: a gap)."""
    score = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            s = sim(i - 1, j - 1)[0] - MATCH_FLOOR
            score[i, j] = max(score[i - 1, j], score[i, j - 1], score[i - 1, j - 1] + s if s > 0 else -1.0)
    pairs_rev: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            s = sim(i - 1, j - 1)[0] - MATCH_FLOOR
            if s > 0 and math.isclose(score[i, j], score[i - 1, j - 1] + s):
                pairs_rev.append((i - 1, j - 1))
                i, j = i - 1, j - 1
                continue
        if i > 0 and (j == 0 or math.isclose(score[i, j], score[i - 1, j])):
            pairs_rev.append((i - 1, None))
            i -= 1
        else:
            pairs_rev.append((None, j - 1))
            j -= 1
    return pairs_rev[::-1]


def _first_divergent(pairs: list[StepPair], n: int, m: int) -> int | None:
    for k, p in enumerate(pairs):
        if p.same:
            continue
        if p.quant_idx is not None:
            return p.quant_idx
        return next((q.quant_idx for q in pairs[k + 1 :] if q.quant_idx is not None), m)
    return m if n != m else None


def align_steps(base: Sequence[str], quant: Sequence[str]) -> Alignment:
    base, quant = list(base[:MAX_ALIGN_STEPS]), list(quant[:MAX_ALIGN_STEPS])
    n, m = len(base), len(quant)
    if n == 0 and m == 0:
        return Alignment([], None, None)
    sim = _Similarities(base, quant)
    pairs: list[StepPair] = []
    matched_total = 0.0
    for pos, (bi, qj) in enumerate(_trace_back(sim, n, m)):
        if bi is not None and qj is not None:
            s, t, eq = sim(bi, qj)
            matched_total += s
            pairs.append(StepPair(pos, bi, qj, round(s, 4), round(t, 4), eq))
        else:
            pairs.append(StepPair(pos, bi, qj, None, None, None))
    return Alignment(pairs, _first_divergent(pairs, n, m), round(matched_total / max(n, m), 4))


# -- the rows a reader shows ------------------------------------------------------------------

RowKind = Literal["equal", "changed", "base_only", "quant_only"]


@dataclass(frozen=True)
class AlignedRow:
    base: int | None  # step_idx in the base trace
    quant: int | None  # step_idx in the quantized trace
    kind: RowKind


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def index_pairs(alignment: Alignment) -> list[tuple[int | None, int | None]]:
    """(base step, quant step) per aligned position: what `step_alignments` stores."""
    return [(p.base_idx, p.quant_idx) for p in alignment.pairs]


def display_rows(pairs: Sequence[tuple[int | None, int | None]], base: Sequence[str],
                 quant: Sequence[str]) -> list[AlignedRow]:
    """Aligned (base, quant) step indices as display rows; indices past the given steps are dropped."""
    rows: list[AlignedRow] = []
    for b, q in pairs:
        b = b if b is not None and b < len(base) else None
        q = q if q is not None and q < len(quant) else None
        kind: RowKind
        if b is not None and q is not None:
            kind = "equal" if normalise(base[b]) == normalise(quant[q]) else "changed"
        elif b is not None:
            kind = "base_only"
        elif q is not None:
            kind = "quant_only"
        else:
            continue
        rows.append(AlignedRow(b, q, kind))
    return rows


def first_divergent_row(rows: Sequence[AlignedRow]) -> int | None:
    return next((k for k, r in enumerate(rows) if r.kind != "equal"), None)
