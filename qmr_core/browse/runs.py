"""Runs and comparisons: which full-precision run a quantized run is compared with."""

from __future__ import annotations

from dataclasses import dataclass

from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.records import RunSummary
from qmr_core.store.runs import run_summaries

RunInfo = RunSummary  # the browser's name for the one read model of a run


@dataclass(frozen=True)
class Comparison:
    base_run_id: str
    quant_run_ids: tuple[str, ...]

    @property
    def run_ids(self) -> tuple[str, ...]:
        return (self.base_run_id, *self.quant_run_ids)


def list_runs(store: Store) -> list[RunSummary]:
    return run_summaries(store)


def _quant_partners(base: RunSummary, runs: list[RunSummary]) -> list[RunSummary]:
    found = [r for r in runs if not r.full_precision and r.family == base.model_id and r.comparable(base)]
    return sorted(found, key=lambda r: (-(r.bits or 0), r.method, r.run_id))


def default_comparison(runs: list[RunSummary]) -> Comparison | None:
    """The full-precision run with the most quantized partners (same model family, benchmark, prompt)."""
    best: tuple[int, int, RunSummary, list[RunSummary]] | None = None
    for r in runs:
        if not r.full_precision:
            continue
        partners = _quant_partners(r, runs)
        key = (len(partners), r.n)
        if partners and (best is None or key > best[:2]):
            best = (*key, r, partners)
    if best is not None:
        return Comparison(best[2].run_id, tuple(p.run_id for p in best[3]))
    return None


def comparison_for_run(runs: list[RunSummary], run_id: str) -> Comparison:
    """A full-precision run with all its quantized partners, or a quantized run with its base."""
    matches = [r for r in runs if r.run_id == run_id] or [r for r in runs if r.run_id.startswith(run_id)]
    if not matches:
        raise QmrError(f"no run '{run_id}' in the store (see `qmr runs`)")
    if len(matches) > 1:
        raise QmrError(f"run prefix '{run_id}' is ambiguous: {', '.join(m.run_id for m in matches[:5])}")
    run = matches[0]
    if run.full_precision:
        partners = _quant_partners(run, runs)
        if not partners:
            raise QmrError(f"run {run.run_id} has no quantized run of the same model, benchmark and prompt to compare with")
        return Comparison(run.run_id, tuple(p.run_id for p in partners))
    bases = [r for r in runs if r.full_precision and r.model_id == run.family and r.comparable(run)]
    if not bases:
        raise QmrError(f"run {run.run_id} has no full-precision run of {run.family} on the same benchmark and prompt")
    base = max(bases, key=lambda r: r.n)
    return Comparison(base.run_id, (run.run_id,))
