"""Align two step lists (base vs quantized) and diff aligned steps word by word.

Alignment runs difflib over normalised step texts: equal steps pair up, a replaced block pairs its
steps in order and leaves the rest one-sided. It is a display alignment for the browser; the
`pairs` table's first divergent step (from `qmr compare`) wins over ours when it exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

RowKind = Literal["equal", "changed", "base_only", "quant_only"]
WordTag = Literal["same", "del", "ins"]

_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\S+|\s+")
MAX_DIFF_TOKENS = 600  # word diff is quadratic at worst; longer steps are shown without it


@dataclass(frozen=True)
class AlignedRow:
    base: int | None  # step_idx in the base trace
    quant: int | None  # step_idx in the quantized trace
    kind: RowKind


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def align_steps(base: list[str], quant: list[str]) -> list[AlignedRow]:
    a = [normalise(t) for t in base]
    b = [normalise(t) for t in quant]
    rows: list[AlignedRow] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend(AlignedRow(i1 + k, j1 + k, "equal") for k in range(i2 - i1))
        elif tag == "replace":
            n = min(i2 - i1, j2 - j1)
            rows.extend(AlignedRow(i1 + k, j1 + k, "changed") for k in range(n))
            rows.extend(AlignedRow(i, None, "base_only") for i in range(i1 + n, i2))
            rows.extend(AlignedRow(None, j, "quant_only") for j in range(j1 + n, j2))
        elif tag == "delete":
            rows.extend(AlignedRow(i, None, "base_only") for i in range(i1, i2))
        else:  # insert
            rows.extend(AlignedRow(None, j, "quant_only") for j in range(j1, j2))
    return rows


def first_divergent_row(rows: list[AlignedRow]) -> int | None:
    return next((k for k, r in enumerate(rows) if r.kind != "equal"), None)


def word_diff(base: str, quant: str) -> tuple[list[tuple[str, WordTag]], list[tuple[str, WordTag]]]:
    """Token runs of each text tagged same / del (only in base) / ins (only in quant)."""
    a, b = _TOKEN.findall(base), _TOKEN.findall(quant)
    if len(a) > MAX_DIFF_TOKENS or len(b) > MAX_DIFF_TOKENS:
        return [(base, "same")], [(quant, "same")]
    left: list[tuple[str, WordTag]] = []
    right: list[tuple[str, WordTag]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            left.append(("".join(a[i1:i2]), "same"))
            right.append(("".join(b[j1:j2]), "same"))
        else:
            if i2 > i1:
                left.append(("".join(a[i1:i2]), "del"))
            if j2 > j1:
                right.append(("".join(b[j1:j2]), "ins"))
    return _merge(left), _merge(right)


def _merge(parts: list[tuple[str, WordTag]]) -> list[tuple[str, WordTag]]:
    out: list[tuple[str, WordTag]] = []
    for text, tag in parts:
        if out and out[-1][1] == tag:
            out[-1] = (out[-1][0] + text, tag)
        elif text:
            out.append((text, tag))
    return out
