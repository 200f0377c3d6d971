"""Area under the ROC curve with DeLong's variance, for small samples with ties.

``auc(pos, neg)`` is the Mann-Whitney probability that a positive scores above a negative, ties
counting one half. ``delong(pos, neg)`` adds DeLong, DeLong & Clarke-Pearson's (1988) variance,
computed from midranks (Sun & Xu 2014), and a normal interval clipped to [0, 1]. With one positive
or one negative the variance cannot be estimated and the interval is None; with perfectly separated
classes the DeLong variance is 0 and the interval collapses to the point (report n beside it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class AucResult:
    auc: float
    lo: float | None
    hi: float | None
    n_pos: int
    n_neg: int
    se: float | None = None

    def text(self) -> str:
        ci = f" [{self.lo:.2f}, {self.hi:.2f}]" if self.lo is not None and self.hi is not None else ""
        return f"{self.auc:.2f}{ci}"


def _clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def midranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auc(pos: Sequence[float | None], neg: Sequence[float | None]) -> float | None:
    """P(positive > negative) + P(tie) / 2; None (and NaN) scores are left out. None without both classes."""
    result = delong(pos, neg)
    return result.auc if result else None


def delong(pos: Sequence[float | None], neg: Sequence[float | None], level: float = 0.95) -> AucResult | None:
    x, y = _clean(pos), _clean(neg)
    m, n = len(x), len(y)
    if not m or not n:
        return None
    all_ranks = midranks(x + y)
    rx, ry = midranks(x), midranks(y)
    v10 = [(all_ranks[i] - rx[i]) / n for i in range(m)]  # share of negatives each positive beats
    v01 = [1 - (all_ranks[m + j] - ry[j]) / m for j in range(n)]  # share of positives above each negative
    a = sum(v10) / m
    if m < 2 or n < 2:
        return AucResult(a, None, None, m, n)
    s10 = sum((v - a) ** 2 for v in v10) / (m - 1)
    s01 = sum((v - a) ** 2 for v in v01) / (n - 1)
    se = math.sqrt(s10 / m + s01 / n)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return AucResult(a, max(0.0, a - z * se), min(1.0, a + z * se), m, n, se)
