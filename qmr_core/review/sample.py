"""Draw a stratified sample of failing samples to review blind.

Population: the wrong greedy samples (sample_idx 0) of quantized runs (runs whose model has a base
model) that the chosen judge diagnosed; a run's base run comes from `pairs` (`qmr compare`) or is
inferred as `qmr compare` does. Strata: the judge's error type (unlocated verdicts form their own
stratum), or the run, subject or level. Allocation is proportional (largest remainder), so the set
is self-weighting and its plain accuracy estimates the accuracy over the whole population. The
order is shuffled with the same seed, so a reviewer cannot read the judge's type off the order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from qmr_core.compare import infer_base_run
from qmr_core.errors import QmrError
from qmr_core.review.stats import proportional_allocation
from qmr_core.review.store import ReviewItem, ReviewSet
from qmr_core.store import Store
from qmr_core.store.pairs import compared_base_runs
from qmr_core.store.records import DiagnosedFailure
from qmr_core.store.reviews import diagnosed_failures, runs_with_base_model

BY_KEYS = ("error_type", "run", "subject", "level", "none")
UNLOCATED = "(unlocated)"


@dataclass(frozen=True)
class Candidate:
    run_id: str
    base_run_id: str
    problem_id: str
    sample_idx: int
    stratum: str


def _quantized_runs(store: Store, runs: list[str] | None) -> dict[str, str | None]:
    """run -> base run, for the selected runs (default: every run whose model has a base model)."""
    rows = runs_with_base_model(store)
    if runs is not None:
        rows = [r for r in rows if r.run_id in runs]
    else:
        rows = [r for r in rows if r.base_model_id]
    stored = compared_base_runs(store)
    return {r.run_id: stored.get(r.run_id) or infer_base_run(store, r.run_id) for r in rows}


def stratum_of(by: str, row: DiagnosedFailure) -> str:
    if by == "error_type":
        return row.error_type or UNLOCATED
    if by == "run":
        return row.run_id
    if by == "subject":
        return row.subject or "-"
    if by == "level":
        return "-" if row.level is None else f"level {row.level}"
    return "all"


def population(store: Store, judge: str, by: str, runs: list[str] | None = None) -> tuple[list[Candidate], list[str]]:
    """The failing samples a set can be drawn from, and notes on runs left out."""
    if by not in BY_KEYS:
        raise QmrError(f"--by must be one of {', '.join(BY_KEYS)} (got '{by}')")
    bases = _quantized_runs(store, runs)
    notes = [f"run {r} left out: no base run to compare it with (run `qmr compare`)" for r, b in bases.items() if b is None]
    usable = sorted(r for r, b in bases.items() if b is not None)
    if not usable:
        raise QmrError("no quantized run with a base run to review (see `qmr runs`; pass --run)")
    rows = diagnosed_failures(store, judge, usable)
    if not rows:
        raise QmrError(f"no failing sample of {', '.join(usable)} has a '{judge}' diagnosis (run `qmr diagnose`, or pass --judge)")
    return [Candidate(r.run_id, bases[r.run_id], r.problem_id, r.sample_idx, stratum_of(by, r)) for r in rows], notes  # type: ignore[arg-type]


def draw(candidates: list[Candidate], n: int, seed: int) -> tuple[list[ReviewItem], dict[str, list[int]]]:
    """A proportional stratified sample of n candidates, in a seeded shuffled order."""
    if n <= 0:
        raise QmrError("--n must be at least 1")
    by_stratum: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_stratum[c.stratum].append(c)
    quota = proportional_allocation({k: len(v) for k, v in by_stratum.items()}, n)
    rng = random.Random(seed)
    chosen: list[Candidate] = []
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum], key=lambda c: (c.run_id, c.problem_id, c.sample_idx))
        chosen += rng.sample(members, quota[stratum])
    rng.shuffle(chosen)
    items = [ReviewItem(pos, c.run_id, c.base_run_id, c.problem_id, c.sample_idx, c.stratum) for pos, c in enumerate(chosen)]
    strata = {k: [len(by_stratum[k]), quota[k]] for k in sorted(by_stratum)}
    return items, strata


def make_set(
    store: Store, name: str, n: int, by: str, seed: int, judge: str, runs: list[str] | None, author: str,
) -> tuple[ReviewSet, list[ReviewItem], list[str]]:
    candidates, notes = population(store, judge, by, runs)
    items, strata = draw(candidates, n, seed)
    used_runs = sorted({c.run_id for c in candidates})
    review_set = ReviewSet(name, by, "proportional", seed, n, judge, used_runs, len(candidates), strata, author)
    return review_set, items, notes
