"""Word-by-word diff of two aligned steps, for display (the steps were paired by compare/align.py)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Literal

WordTag = Literal["same", "del", "ins"]

_TOKEN = re.compile(r"\S+|\s+")
MAX_DIFF_TOKENS = 600  # word diff is quadratic at worst; longer steps are shown without it


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
