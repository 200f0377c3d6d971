"""Pair a full-precision run with a quantized run problem by problem, and align their steps.

Pairing joins the two runs' samples on problem_id. With one greedy sample per problem a
problem's outcome is plain: ``lost`` (base right, quantized wrong), ``gained``, ``both_right``,
``both_wrong``. In sampling mode (several samples per problem) each run's per-problem score is
the fraction of its samples that are right (pass@1 averaged, as `qmr runs` reports accuracy), a
problem counts as right for a run when the majority of its samples are (score > 0.5), and the
outcome compares those majorities. Step alignment (align.py) and teacher forcing use sample 0 of
each run; the statistics are in stats.py.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from qmr_core.comparability import comparability
from qmr_core.compare.align import Alignment, align_steps
from qmr_core.compare.stats import (
    OUTCOMES, AccuracyDrop, GroupStats, bootstrap_ci, groups, mcnemar_exact, outcome,
)
from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store import pairs as pair_store
from qmr_core.store.records import PairedScore


@dataclass
class PairRow:
    problem_id: str
    subject: str | None
    level: int | None
    base_score: float
    quant_score: float
    n_samples: int
    outcome: str
    alignment: Alignment


@dataclass
class ComparisonSummary(AccuracyDrop):
    base_run_id: str
    quant_run_id: str
    base_model: str
    quant_model: str
    n: int
    n_base_only: int
    n_quant_only: int
    acc_base: float
    acc_quant: float
    counts: dict[str, int]
    mcnemar_p: float | None
    abs_drop_ci: tuple[float, float] | None
    mean_similarity: float | None
    by_subject: list[GroupStats]
    by_level: list[GroupStats]
    sampling: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pairs: list[PairRow] = field(default_factory=list, repr=False)

    @property
    def lost(self) -> list[str]:
        return [p.problem_id for p in self.pairs if p.outcome == "lost"]


def infer_base_run(store: Store, quant_run_id: str) -> str | None:
    """The run of the quantized model's base model with the same benchmark, prompt and decoding."""
    info = pair_store.run_info(store, quant_run_id)
    if not info.base_model_id:
        return None
    runs = pair_store.matching_runs(store, info.base_model_id, info.benchmark, info.prompt_text, info.decoding_json)
    return runs[0] if len(runs) == 1 else None


def _pair_rows(store: Store, base_run_id: str, quant_run_id: str, both: list[PairedScore]) -> list[PairRow]:
    ids = [r.problem_id for r in both]
    base_steps = pair_store.first_sample_steps(store, base_run_id, ids)
    quant_steps = pair_store.first_sample_steps(store, quant_run_id, ids)
    pairs: list[PairRow] = []
    for r in both:
        assert r.base_score is not None and r.quant_score is not None and r.base_n is not None and r.quant_n is not None
        b, q = float(r.base_score), float(r.quant_score)
        pairs.append(
            PairRow(
                problem_id=r.problem_id,
                subject=r.subject,
                level=r.level,
                base_score=b,
                quant_score=q,
                n_samples=int(min(r.base_n, r.quant_n)),
                outcome=outcome(b > 0.5, q > 0.5),
                alignment=align_steps(base_steps.get(r.problem_id, []), quant_steps.get(r.problem_id, [])),
            )
        )
    return pairs


def compare_runs(store: Store, base_run_id: str, quant_run_id: str, write: bool = True) -> ComparisonSummary:
    """Pair two runs, align the steps of every paired problem, and (write=True) store pairs + alignments."""
    if base_run_id == quant_run_id:
        raise QmrError("--base and --quant are the same run")
    base, quant = pair_store.run_info(store, base_run_id), pair_store.run_info(store, quant_run_id)
    rows = pair_store.paired_scores(store, base_run_id, quant_run_id)
    both = [r for r in rows if r.base_score is not None and r.quant_score is not None]
    if not both:
        raise QmrError(f"runs {base_run_id} and {quant_run_id} share no problems")
    pairs = _pair_rows(store, base_run_id, quant_run_id, both)
    warnings, notes = comparability(store, base, quant, [r.problem_id for r in both])
    counts = Counter(p.outcome for p in pairs)
    sims = [p.alignment.similarity for p in pairs if p.alignment.similarity is not None]
    summary = ComparisonSummary(
        base_run_id=base_run_id,
        quant_run_id=quant_run_id,
        base_model=base.model,
        quant_model=quant.model,
        n=len(pairs),
        n_base_only=sum(1 for r in rows if r.quant_score is None),
        n_quant_only=sum(1 for r in rows if r.base_score is None),
        acc_base=sum(p.base_score for p in pairs) / len(pairs),
        acc_quant=sum(p.quant_score for p in pairs) / len(pairs),
        counts={o: counts.get(o, 0) for o in OUTCOMES},
        mcnemar_p=mcnemar_exact(counts.get("lost", 0), counts.get("gained", 0)),
        abs_drop_ci=bootstrap_ci([p.base_score - p.quant_score for p in pairs]),
        mean_similarity=sum(sims) / len(sims) if sims else None,
        by_subject=groups(pairs, lambda p: p.subject or "-"),
        by_level=groups(pairs, lambda p: str(p.level) if p.level is not None else "-"),
        sampling=any((r.base_n or 0) > 1 or (r.quant_n or 0) > 1 for r in both),
        warnings=warnings,
        notes=notes,
        pairs=pairs,
    )
    if write:
        write_pairs(store, summary)
    return summary


def _pair_row(summary: ComparisonSummary, p: PairRow) -> dict[str, Any]:
    a = p.alignment
    return {
        "base_run_id": summary.base_run_id,
        "quant_run_id": summary.quant_run_id,
        "problem_id": p.problem_id,
        "outcome": p.outcome,
        "first_divergent_step": a.first_divergent,
        "similarity": a.similarity,
        "base_score": p.base_score,
        "quant_score": p.quant_score,
        "n_samples": p.n_samples,
        "n_base_steps": sum(1 for s in a.pairs if s.base_idx is not None),
        "n_quant_steps": sum(1 for s in a.pairs if s.quant_idx is not None),
    }


def _alignment_rows(summary: ComparisonSummary, p: PairRow) -> list[dict[str, Any]]:
    return [
        {
            "base_run_id": summary.base_run_id,
            "quant_run_id": summary.quant_run_id,
            "problem_id": p.problem_id,
            "sample_idx": 0,
            "pos": s.pos,
            "base_step_idx": s.base_idx,
            "quant_step_idx": s.quant_idx,
            "similarity": s.similarity,
            "text_similarity": s.text_similarity,
            "numbers_equal": s.numbers_equal,
        }
        for s in p.alignment.pairs
    ]


def write_pairs(store: Store, summary: ComparisonSummary) -> None:
    pair_store.write_comparison(
        store, summary.base_run_id, summary.quant_run_id,
        [_pair_row(summary, p) for p in summary.pairs],
        [row for p in summary.pairs for row in _alignment_rows(summary, p)],
        json.dumps(summary_dict(summary)),
    )


def summary_dict(s: ComparisonSummary) -> dict:
    """The numbers of a comparison as plain JSON (what `qmr compare --json` prints and the store keeps)."""

    def group(g: GroupStats) -> dict:
        return {"key": g.key, "n": g.n, "acc_base": g.acc_base, "acc_quant": g.acc_quant, "lost": g.lost,
                "gained": g.gained, "abs_drop": g.abs_drop, "rel_drop": g.rel_drop}

    return {
        "base_run_id": s.base_run_id, "quant_run_id": s.quant_run_id, "base_model": s.base_model,
        "quant_model": s.quant_model, "n": s.n, "n_base_only": s.n_base_only, "n_quant_only": s.n_quant_only,
        "acc_base": s.acc_base, "acc_quant": s.acc_quant, "abs_drop": s.abs_drop, "rel_drop": s.rel_drop,
        "abs_drop_ci95": list(s.abs_drop_ci) if s.abs_drop_ci else None, "mcnemar_p": s.mcnemar_p,
        "counts": s.counts, "mean_similarity": s.mean_similarity, "sampling": s.sampling,
        "by_subject": [group(g) for g in s.by_subject], "by_level": [group(g) for g in s.by_level],
        "warnings": s.warnings,
        "notes": s.notes,
    }
