"""The numbers of a paired comparison: outcomes, relative degradation, McNemar, a paired bootstrap.

Relative degradation, the number papers quote, is (acc_base - acc_quant) / acc_base. McNemar's exact
test on the discordant pairs (lost vs gained) and a paired bootstrap 95% interval for the absolute
drop say whether a drop is more than noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

OUTCOMES = ("lost", "gained", "both_right", "both_wrong")
BOOTSTRAP = 2000


class AccuracyDrop:
    """abs_drop and rel_drop for anything with acc_base and acc_quant."""

    acc_base: float
    acc_quant: float

    @property
    def abs_drop(self) -> float:
        return self.acc_base - self.acc_quant

    @property
    def rel_drop(self) -> float | None:
        return relative_degradation(self.acc_base, self.acc_quant)


@dataclass
class GroupStats(AccuracyDrop):
    key: str
    n: int
    acc_base: float
    acc_quant: float
    lost: int
    gained: int


class Scored(Protocol):
    base_score: float
    quant_score: float
    outcome: str


S = TypeVar("S", bound=Scored)


def relative_degradation(acc_base: float, acc_quant: float) -> float | None:
    """(acc_base - acc_quant) / acc_base; None when the base solves nothing (undefined)."""
    if acc_base <= 0:
        return None
    return (acc_base - acc_quant) / acc_base


def outcome(base_right: bool, quant_right: bool) -> str:
    if base_right and quant_right:
        return "both_right"
    if base_right:
        return "lost"
    if quant_right:
        return "gained"
    return "both_wrong"


def mcnemar_exact(lost: int, gained: int) -> float | None:
    """Two-sided exact McNemar p-value (binomial on the discordant pairs); None without any."""
    k = lost + gained
    if k == 0:
        return None
    low = min(lost, gained)
    tail = sum(math.comb(k, i) for i in range(low + 1)) / 2**k
    return min(1.0, 2 * tail)


def bootstrap_ci(diffs: Sequence[float], n_boot: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float] | None:
    """Paired bootstrap 95% interval of the mean per-problem difference (fixed seed: reproducible)."""
    if len(diffs) < 2:
        return None
    arr = np.asarray(diffs, dtype=float)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(n_boot, len(arr)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def groups(pairs: Sequence[S], key: Callable[[S], str]) -> list[GroupStats]:
    """Accuracy and lost/gained counts per group ("-", the unknown group, last)."""
    buckets: dict[str, list[S]] = {}
    for p in pairs:
        buckets.setdefault(key(p), []).append(p)
    out = []
    for k in sorted(buckets, key=lambda s: (s == "-", s)):
        rows = buckets[k]
        out.append(
            GroupStats(
                key=k,
                n=len(rows),
                acc_base=sum(r.base_score for r in rows) / len(rows),
                acc_quant=sum(r.quant_score for r in rows) / len(rows),
                lost=sum(r.outcome == "lost" for r in rows),
                gained=sum(r.outcome == "gained" for r in rows),
            )
        )
    return out
