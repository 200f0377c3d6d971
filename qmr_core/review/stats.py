"""Small, pure statistics for judge accuracy: Wilson intervals, confusion matrices, Cohen's kappa,
and the proportional (largest-remainder) allocation of a stratified sample."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the 97.5% point of the standard normal


@dataclass(frozen=True)
class Proportion:
    """k successes out of n, with its Wilson score interval."""

    k: int
    n: int
    z: float = Z95

    @property
    def rate(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.k, self.n, self.z)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for k of n (Wilson 1927). None when n = 0.

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps near-nominal coverage at
    small n and at rates near 0 or 1, which is where judge accuracies on a few dozen labels sit.
    """
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"k must be within 0..n (k={k}, n={n})")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def confusion_matrix(pairs: Iterable[tuple[Hashable, Hashable]]) -> Counter:
    """(reference, predicted) pairs -> counts per (reference, predicted) cell."""
    return Counter(pairs)


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items: (p_o - p_e) / (1 - p_e).

    None when there are no items or when chance agreement is 1 (both raters used one and the same
    category throughout), where kappa is undefined.
    """
    n = len(pairs)
    if n == 0:
        return None
    return kappa_from_table(confusion_matrix(pairs), n)


def kappa_from_table(table: Mapping[tuple[Hashable, Hashable], int], n: int | None = None) -> float | None:
    total = sum(table.values()) if n is None else n
    if total == 0:
        return None
    rows: Counter = Counter()
    cols: Counter = Counter()
    agree = 0
    for (a, b), count in table.items():
        rows[a] += count
        cols[b] += count
        if a == b:
            agree += count
    p_o = agree / total
    p_e = sum(rows[c] * cols[c] for c in rows.keys() | cols.keys()) / (total * total)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


def proportional_allocation(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """How many of n draws each stratum gets, in proportion to its size (Hamilton's largest remainder).

    Every stratum gets floor(n * size / total); the draws left over go to the largest fractional
    parts (ties to the larger stratum, then by name), so the counts sum to min(n, total) and no
    stratum gets more than it holds. A proportional sample is self-weighting: its plain accuracy
    estimates the accuracy over all the failures it was drawn from.
    """
    total = sum(sizes.values())
    if n <= 0 or total == 0:
        return {k: 0 for k in sizes}
    if n >= total:
        return dict(sizes)
    exact = {k: n * s / total for k, s in sizes.items()}
    out = {k: math.floor(v) for k, v in exact.items()}
    left = n - sum(out.values())
    order = sorted(sizes, key=lambda k: (-(exact[k] - out[k]), -sizes[k], k))
    for k in order[:left]:
        out[k] += 1
    return out
