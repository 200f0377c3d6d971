"""Runs and comparisons: which full-precision run a quantized run is compared with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.lease import with_shown_status
from qmr_core.store.queries import PRECISION_COLUMNS, quant_label, short_quant_label

RUNS_SQL = f"""
SELECT r.run_id, r.model_id, coalesce(m.name, r.model_id) AS model, coalesce(m.base_model_id, r.model_id) AS family,
       coalesce(m.method, 'none') AS method, m.bits, m.group_size, m.act_bits, {PRECISION_COLUMNS},
       r.benchmark, r.prompt_template,
       r.decoding_json, r.status, r.created_at,
       count(s.problem_id) AS n,
       avg(CASE WHEN s.correct THEN 1.0 ELSE 0.0 END) AS accuracy
FROM runs r
LEFT JOIN models m USING (model_id)
LEFT JOIN samples s USING (run_id)
GROUP BY ALL
ORDER BY r.created_at, r.run_id
"""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    model_id: str
    model: str
    family: str  # the full-precision model id this model derives from (itself when full precision)
    method: str
    bits: int | None
    group_size: int | None
    act_bits: int | None
    benchmark: str
    prompt_template: str
    decoding_json: str
    status: str
    n: int
    accuracy: float | None
    source_precision: str | None = None  # of the weights as loaded (Q4_1 GGUF, bf16 checkpoint, ...)
    run_dtype: str | None = None

    @property
    def full_precision(self) -> bool:
        return self.method == "none"

    @property
    def quant(self) -> str:
        return quant_label(self.__dict__)

    @property
    def short_quant(self) -> str:
        """'fp32 (dequantized Q4_1)', 'rtn w4g64', ...: fits a narrow column."""
        return short_quant_label(self.method, self.bits, self.group_size, self.act_bits, self.source_precision,
                                 self.run_dtype)

    def comparable(self, other: RunInfo) -> bool:
        """Same benchmark, prompt and decoding: a per-problem comparison means something."""
        return (self.benchmark, self.prompt_template, self.decoding_json) == (
            other.benchmark,
            other.prompt_template,
            other.decoding_json,
        )


@dataclass(frozen=True)
class Comparison:
    base_run_id: str
    quant_run_ids: tuple[str, ...]

    @property
    def run_ids(self) -> tuple[str, ...]:
        return (self.base_run_id, *self.quant_run_ids)


def list_runs(store: Store) -> list[RunInfo]:
    rows: list[dict[str, Any]] = with_shown_status(store, store.query_dicts(RUNS_SQL))
    fields = RunInfo.__dataclass_fields__
    return [RunInfo(**{k: v for k, v in r.items() if k in fields}) for r in rows]


def _quant_partners(base: RunInfo, runs: list[RunInfo]) -> list[RunInfo]:
    found = [r for r in runs if not r.full_precision and r.family == base.model_id and r.comparable(base)]
    return sorted(found, key=lambda r: (-(r.bits or 0), r.method, r.run_id))


def default_comparison(runs: list[RunInfo]) -> Comparison | None:
    """The full-precision run with the most quantized partners (same model family, benchmark, prompt)."""
    best: tuple[int, int, RunInfo, list[RunInfo]] | None = None
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


def comparison_for_run(runs: list[RunInfo], run_id: str) -> Comparison:
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
