"""What the report's tables read: every run with its pass@1, base runs, per-problem scores, stored pairs."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qmr_core.store import Store
from qmr_core.store.records import RunSummary
from qmr_core.store.report_reads import pair_outcome_counts, problem_scores, sample_index_accuracy, samples_per_problem
from qmr_core.store.runs import run_summaries


@dataclass(frozen=True)
class ReportRun(RunSummary):
    """A run with what the report computes of it: pass@1 over problems, K samples, their spread, a label."""

    n_problems: int = 0
    k_max: int = 0
    pass1: float | None = None
    sd: float | None = None
    label: str = ""

    @property
    def family(self) -> str:
        """A full-precision run is its own family in the report, whatever base its models row names."""
        return self.model_id if self.full_precision or not self.base_model_id else self.base_model_id


def _labelled(runs: list[ReportRun]) -> list[ReportRun]:
    """Short unique labels: 'model quant', plus prompt / decoding / run id only where needed."""
    prompts = {r.prompt_template for r in runs}
    decodings = {r.decoding_json for r in runs}
    engines = {r.engine for r in runs}
    labels = {}
    for r in runs:
        parts = [r.family_name, r.short_quant]
        if len(prompts) > 1:
            parts.append(r.prompt_template)
        if len(decodings) > 1 and not r.greedy:
            parts.append("sampled")
        if len(engines) > 1 and r.engine != "hf":
            parts.append(r.engine)
        labels[r.run_id] = " ".join(parts)
    counts = Counter((labels[r.run_id], r.benchmark) for r in runs)
    return [
        replace(r, label=f"{labels[r.run_id]} [{r.run_id[:6]}]" if counts[(labels[r.run_id], r.benchmark)] > 1
                else labels[r.run_id])
        for r in runs
    ]


class ReportData:
    """Everything the tables need, read once in a few queries."""

    def __init__(self, store: Store, benchmarks: Sequence[str] = (), runs: Sequence[str] = ()):
        self.store = store
        summaries = sorted(run_summaries(store), key=lambda r: (r.benchmark, r.created_at, r.run_id))
        ids = [r.run_id for r in summaries]
        self.scores: dict[str, dict[str, float]] = defaultdict(dict)  # run -> problem -> share right
        self.meta: dict[str, tuple[str, int | None]] = {}  # problem -> (subject, level)
        for ps in problem_scores(store, ids):
            self.scores[ps.run_id][ps.problem_id] = float(ps.score)
            self.meta[ps.problem_id] = (ps.subject, ps.level)
        per_idx: dict[str, list[float]] = defaultdict(list)
        for acc in sample_index_accuracy(store, ids):
            per_idx[acc.run_id].append(float(acc.accuracy))
        kmax = samples_per_problem(store, ids)
        # every run can serve as a base run; the report shows those the filters select
        self.candidates = _labelled([self._scored(r, per_idx[r.run_id], kmax.get(r.run_id)) for r in summaries])
        self.runs = [
            r for r in self.candidates
            if (not benchmarks or r.benchmark in benchmarks) and (not runs or any(r.run_id.startswith(x) for x in runs))
        ]
        self.base_of = {r.run_id: self._find_base(r) for r in self.runs if not r.full_precision}
        self.pairs: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for c in pair_outcome_counts(store):
            self.pairs[(c.base_run_id, c.quant_run_id)][c.outcome] = int(c.n)

    def _scored(self, run: RunSummary, per_idx: list[float], kmax: int | None) -> ReportRun:
        s = self.scores.get(run.run_id, {})
        return ReportRun(
            **run.__dict__, n_problems=len(s), pass1=sum(s.values()) / len(s) if s else None, k_max=int(kmax or 0),
            sd=statistics.stdev(per_idx) if len(per_idx) > 1 else None,
        )

    def _find_base(self, run: ReportRun) -> ReportRun | None:
        if not run.base_model_id:
            return None
        found = [
            b for b in self.candidates
            if b.model_id == run.base_model_id and b.benchmark == run.benchmark
            and b.prompt_text == run.prompt_text and b.decoding_json == run.decoding_json and b.n_problems
        ]
        return max(found, key=lambda b: (b.n_problems, b.status == "done")) if found else None

    def shared(self, base: ReportRun, quant: ReportRun) -> list[str]:
        b, q = self.scores.get(base.run_id, {}), self.scores.get(quant.run_id, {})
        return sorted(set(b) & set(q))

    def outcomes(self, base: ReportRun, quant: ReportRun) -> tuple[Counter, str]:
        stored = self.pairs.get((base.run_id, quant.run_id))
        if stored:
            return stored, "pairs"
        b, q = self.scores[base.run_id], self.scores[quant.run_id]
        counts: Counter = Counter()
        for pid in self.shared(base, quant):
            br, qr = b[pid] > 0.5, q[pid] > 0.5
            counts["both_right" if br and qr else "lost" if br else "gained" if qr else "both_wrong"] += 1
        return counts, "samples"
