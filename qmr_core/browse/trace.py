"""One problem of a comparison, both traces aligned, with every marker the browser shows.

Markers: the first divergent step (`pairs`, else our alignment), the teacher-forced flip step
(`flips`) and symbolic flags (`symbolic_flags`), each judge's diagnosis, and the researcher's
annotation. The step alignment is `qmr compare`'s (`step_alignments`); for a pair never compared,
compare's own aligner runs in memory (nothing is written), so there is one alignment, never two.
The reads are store/traces.py's; they share one short read-only connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import duckdb

from qmr_core.review.annotations import Annotation, AnnotationStore
from qmr_core.compare.align import AlignedRow, align_steps, display_rows, first_divergent_row, index_pairs
from qmr_core.compare.word_diff import WordTag, word_diff
from qmr_core.browse.divergence import TraceDivergence, load_divergence
from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.pairs import step_alignments
from qmr_core.store.records import Diagnosis, Flip
from qmr_core.store.traces import (
    pair_marker,
    problem_text,
    sample_diagnoses,
    sample_verdict,
    step_texts,
    symbolic_flags,
    teacher_forced_flip,
)

Side = Literal["base", "quant"]


@dataclass(frozen=True)
class Flag:
    step_idx: int
    text: str


@dataclass
class SideTrace:
    run_id: str
    label: str
    extracted: str | None
    correct: bool
    finish_reason: str | None
    n_tokens: int | None
    steps: list[str]
    diagnoses: list[Diagnosis] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    annotation: Annotation | None = None

    def diagnosis(self, judge: str | None) -> Diagnosis | None:
        if not self.diagnoses:
            return None
        return next((d for d in self.diagnoses if d.judge == judge), None) if judge else self.diagnoses[0]

    def agreement(self, judge: str | None) -> tuple[int, int]:
        """(other judges placing the first error where `judge` does, other judges that located a step).
        The combined row is derived from the others, so it never counts; (0, 0) when `judge` located none."""
        chosen = self.diagnosis(judge)
        if chosen is None or chosen.first_error_step is None:
            return 0, 0
        others = [d for d in self.diagnoses
                  if d.first_error_step is not None and d.judge not in (chosen.judge, "combined")]
        return sum(d.first_error_step == chosen.first_error_step for d in others), len(others)


@dataclass
class TraceDetail:
    base_run_id: str
    quant_run_id: str
    problem_id: str
    subject: str | None
    level: int | None
    problem: str
    gold: str
    outcome: str
    judge: str | None
    base: SideTrace
    quant: SideTrace
    rows: list[AlignedRow]
    diffs: dict[int, tuple[list[tuple[str, WordTag]], list[tuple[str, WordTag]]]]
    divergent_row: int | None
    divergent_source: str  # 'pairs' | 'alignment' | ''
    similarity: float | None
    flip: Flip | None
    alignment_source: str = "qmr-browse"  # 'qmr compare' when stored; 'qmr-browse': compare's aligner, in memory
    divergence: TraceDivergence | None = None  # per-token KL / fp surprisal (`divergence`, migration 010)

    @property
    def flip_step(self) -> int | None:
        return self.flip.step_idx if self.flip else None

    @property
    def key(self) -> tuple[str, str]:
        return (self.quant_run_id, self.problem_id)

    @property
    def failing_side(self) -> Side:
        return "base" if self.outcome == "gained" else "quant"

    def side(self, which: Side) -> SideTrace:
        return self.base if which == "base" else self.quant

    def row_of(self, which: Side, step_idx: int | None) -> int | None:
        if step_idx is None:
            return None
        attr = "base" if which == "base" else "quant"
        return next((k for k, r in enumerate(self.rows) if getattr(r, attr) == step_idx), None)


def _flags(con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, diagnoses: list[Diagnosis]) -> list[Flag]:
    if rows := symbolic_flags(con, run_id, problem_id):
        return [Flag(f.step_idx, f"{' '.join(f.claim.split())} is false (true value {f.true_value})") for f in rows]
    # Without flag rows, the symbolic judge's diagnosis stands for the flag.
    return [
        Flag(d.first_error_step, d.rationale or "symbolic check failed")
        for d in diagnoses
        if d.judge.lower().startswith("symbolic") and d.first_error_step is not None
    ]


def _side(
    con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, label: str, annotations: AnnotationStore | None
) -> SideTrace:
    row = sample_verdict(con, run_id, problem_id)
    if row is None:
        raise QmrError(f"run {run_id} has no sample for {problem_id}")
    diagnoses = sample_diagnoses(con, run_id, problem_id)
    side = SideTrace(run_id, label, row.extracted_answer, row.correct, row.finish_reason, row.n_tokens,
                     step_texts(con, run_id, problem_id), diagnoses)
    side.flags = _flags(con, run_id, problem_id, diagnoses)
    if annotations is not None:
        side.annotation = annotations.get_or_none((run_id, problem_id, 0))
    return side


def load_trace(
    store: Store,
    base_run_id: str,
    quant_run_id: str,
    problem_id: str,
    judge: str | None = None,
    annotations: AnnotationStore | None = None,
    labels: dict[str, str] | None = None,
) -> TraceDetail:
    labels = labels or {}
    with store.connect(read_only=True) as con:
        prob = problem_text(con, problem_id)
        if prob is None:
            raise QmrError(f"no problem {problem_id} in the store")
        base = _side(con, base_run_id, problem_id, labels.get(base_run_id, "base"), annotations)
        quant = _side(con, quant_run_id, problem_id, labels.get(quant_run_id, "quantized"), annotations)
        pair = pair_marker(con, base_run_id, quant_run_id, problem_id)
        flip = teacher_forced_flip(con, base_run_id, quant_run_id, problem_id)
        stored = step_alignments(con, base_run_id, quant_run_id, problem_id)
        divergence = load_divergence(con, base_run_id, quant_run_id, problem_id)
    outcome = (
        "lost" if base.correct and not quant.correct
        else "gained" if quant.correct and not base.correct
        else "both_right" if base.correct
        else "both_wrong"
    )
    aligned = stored if stored is not None else index_pairs(align_steps(base.steps, quant.steps))
    rows = display_rows(aligned, base.steps, quant.steps)
    diffs = {
        k: word_diff(base.steps[r.base], quant.steps[r.quant])
        for k, r in enumerate(rows)
        if r.kind == "changed" and r.base is not None and r.quant is not None
    }
    detail = TraceDetail(
        base_run_id, quant_run_id, problem_id, prob.subject, prob.level, prob.problem, prob.answer, outcome, judge,
        base, quant, rows, diffs, None, "", pair.similarity if pair else None, flip,
        "qmr compare" if stored is not None else "qmr-browse", divergence,
    )
    if pair and pair.first_divergent_step is not None:
        step = int(pair.first_divergent_step)
        detail.divergent_row = detail.row_of("quant", step)
        if detail.divergent_row is None and step >= len(quant.steps):  # the quantized trace stops early
            detail.divergent_row = next((k for k, r in enumerate(rows) if r.quant is None), None)
        detail.divergent_source = "qmr compare"
    if detail.divergent_row is None:
        detail.divergent_row = first_divergent_row(rows)
        detail.divergent_source = "alignment" if detail.divergent_row is not None else ""
    return detail


def sample_markdown(detail: TraceDetail) -> str:
    """The whole comparison of one problem as Markdown (what `Y` copies)."""
    out: list[str] = [f"## {detail.problem_id} ({detail.outcome})", "", detail.problem, "", f"Gold: {detail.gold}", ""]
    for which in ("base", "quant"):
        side = detail.side(which)
        mark = "correct" if side.correct else "wrong"
        out.append(f"### {side.label} ({side.run_id}): {side.extracted} ({mark})")
        diag = side.diagnosis(detail.judge)
        for k, text in enumerate(side.steps):
            tag = f" {diag.tag}" if diag and diag.first_error_step == k else ""
            out.append(f"{k + 1}.{tag} {text}")
        if diag:
            out.append(f"\nJudge {diag.judge}: step {_step(diag.first_error_step)} {diag.tag} {diag.rationale or ''}".rstrip())
        out.append("")
    return "\n".join(out)


def _step(idx: int | None) -> str:
    return "none" if idx is None else str(idx + 1)


def describe_annotation(ann: Annotation | None) -> str:
    if ann is None:
        return ""
    parts: list[str] = []
    if ann.verdict == "accepted":
        parts.append(f"you accepted: step {_step(ann.first_error_step)} [E:{ann.error_type or '?'}]")
    elif ann.verdict == "corrected":
        parts.append(f"you corrected: step {_step(ann.first_error_step)} [E:{ann.error_type or '?'}]")
    if ann.note:
        parts.append(f"note: {ann.note}")
    return " · ".join(parts)

