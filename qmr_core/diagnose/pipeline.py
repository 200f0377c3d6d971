"""diagnose_run: every failing sample of a run -> rules, symbolic checker, LLM judges, teacher forcing.

Writes, per failing sample, one `diagnoses` row per judge (``rules``, ``symbolic``, each
``ENGINE:MODEL`` judge) plus a ``combined`` row, every LLM vote with its raw output to
`judge_votes`, false claims to `symbolic_flags`, and, when a base run is given, `pairs` (via
compare_runs) and the teacher-forced summary to `flips`.

The combined verdict (combine.py): the earliest step that any locator puts forward (symbolic
flags, the majority of the LLM votes that located a step, each Degenerate subtype at the step where
it begins), typed by the source that located it (the LLM's type when the LLM majority located the
same step); every disagreement is stored in ``evidence_json``. When nothing located the error the
row says so. The teacher-forced first flip step and the first divergent step of the alignment are
evidence of *where quantization changed the trace*, not of an error: they go into ``evidence_json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qmr_core.compare import compare_runs, infer_base_run
from qmr_core.diagnose.evidence import (
    COMBINED, FP_DIVERGENCE, RULES, Evidence, checked_evidence, diag_row, judge_for, llm_votes,
)
from qmr_core.diagnose.judge import JudgeSettings, JudgeSpec, LLMJudge, parse_judge_specs
from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store import diagnoses as diag_store
from qmr_core.store.pairs import first_divergent_steps
from qmr_core.store.records import BaseSample, FailingSample
from qmr_core.store.queries import run_model_spec

WRITE_EVERY = 32  # teacher-forced traces and judge votes are stored in chunks of this many samples
Progress = Callable[[str, int, int], None]  # (stage, done, total)


Sample = FailingSample  # a failing sample with its steps: what every locator reads


@dataclass
class DiagnoseReport:
    run_id: str
    base_run_id: str | None
    n_failing: int
    judges: list[str]
    n_votes: int = 0
    n_unparsed: int = 0
    n_flags: int = 0
    n_flips: int = 0  # teacher-forced summaries written
    n_divergence: int = 0  # fp-referenced divergence rows written (divergence_store.py)
    lost: list[str] = field(default_factory=list)
    combined: dict[str, int] = field(default_factory=dict)  # error type -> count
    n_located: int = 0  # combined verdicts that locate a step
    n_unlocated: int = 0  # combined verdicts that say no locator located the error
    notes: list[str] = field(default_factory=list)


def _failing_samples(store: Store, run_id: str, problem_ids: set[str] | None = None) -> list[Sample]:
    rows = diag_store.failing_samples(store, run_id)
    return rows if problem_ids is None else [r for r in rows if r.problem_id in problem_ids]


@dataclass
class _Job:
    """One diagnosis in progress: the run, its failing samples and base samples, and how to run models."""

    store: Store
    run_id: str
    base_run_id: str | None
    failing: list[Sample]
    base_rows: dict[tuple[str, int], BaseSample]
    device: str
    batch_size: int
    force: bool
    progress: Progress | None

    def base_of(self, s: Sample) -> BaseSample | None:
        return self.base_rows.get((s.problem_id, s.sample_idx)) or self.base_rows.get((s.problem_id, 0))


def _tf_items(job: _Job, base_run_id: str) -> list:
    """The base traces to teacher-force under the quantized model (those not stored yet, unless force)."""
    from qmr_core.diagnose.teacher_forcing import TFItem  # torch: only the commands that use it load it

    wanted: dict[tuple[str, int], BaseSample] = {}
    for s in job.failing:
        base = job.base_of(s)
        if base is not None and base.prompt:
            wanted[(base.problem_id, base.sample_idx)] = base
    if not job.force and wanted:
        done = set(diag_store.first_flip_steps(job.store, base_run_id, job.run_id))
        wanted = {k: v for k, v in wanted.items() if k not in done}
    if not wanted:
        return []
    base_steps = diag_store.step_spans(job.store, base_run_id)
    items = []
    for (pid, idx), base in sorted(wanted.items(), key=lambda kv: kv[0]):
        spans = [(start, end) for _t, start, end in base_steps.get((pid, idx), [])]
        items.append(TFItem((pid, idx), base.prompt or "", base.output, spans, base.finish_reason == "eos"))
    return items


def _teacher_force(job: _Job, base_run_id: str, control: bool) -> int:
    from qmr_core.diagnose.teacher_forcing import teacher_force
    from qmr_core.engines.hf import HFEngine
    from qmr_core.models.registry import resolve_model

    store, run_id = job.store, job.run_id
    items = _tf_items(job, base_run_id)
    if not items:
        return 0
    quant_model_id = diag_store.run_model_id(store, run_id)
    engine = HFEngine(resolve_model(run_model_spec(store, run_id)), device=job.device)
    control_engine = HFEngine(resolve_model(run_model_spec(store, base_run_id)), device=job.device) if control else None
    total, done_n = len(items), 0

    def tick(n: int) -> None:
        nonlocal done_n
        done_n += n
        if job.progress:
            job.progress("teacher forcing", done_n, total)

    described = engine.describe()
    written = 0
    for start in range(0, total, WRITE_EVERY):  # stored chunk by chunk: an interrupted run resumes
        chunk = items[start : start + WRITE_EVERY]
        rows = []
        for r in teacher_force(engine, chunk, batch_size=job.batch_size, control=control_engine, on_batch=tick):
            row = {"base_run_id": base_run_id, "quant_run_id": run_id, "problem_id": r.key[0], "sample_idx": r.key[1],
                   "quant_model_id": quant_model_id, "device": described["device"], "dtype": described["dtype"]}
            row.update(r.as_row())
            rows.append(row)
        diag_store.write_flips(store, rows)
        written += len(rows)
    return written


def _pair_with_base(store: Store, run_id: str, base_run_id: str | None, infer_base: bool,
                    only_lost: bool) -> tuple[str | None, list[str], set[str] | None]:
    """(base run, lost problems, the problems to diagnose or None for all); pairs are written first."""
    if base_run_id is None and infer_base:
        base_run_id = infer_base_run(store, run_id)
    if base_run_id is None:
        if only_lost:
            raise QmrError("--only-lost needs a base run (--base)")
        return None, [], None
    lost = compare_runs(store, base_run_id, run_id, write=True).lost
    return base_run_id, lost, set(lost) if only_lost else None


def _measure_changes(job: _Job, base_run_id: str, report: DiagnoseReport, teacher_forcing: bool, control: bool,
                     divergence: bool) -> None:
    """Where quantization changed the trace: teacher forcing and fp-referenced divergence (each may be skipped)."""
    if teacher_forcing:
        try:
            report.n_flips = _teacher_force(job, base_run_id, control)
        except QmrError as exc:  # e.g. a run made through a server engine: the rest of the diagnosis still runs
            report.notes.append(f"teacher forcing skipped: {exc}")
    if divergence:  # lost and both-right problems, in both directions
        from qmr_core.diagnose.divergence_store import score_divergence

        try:
            report.n_divergence = score_divergence(job.store, job.run_id, base_run_id, device=job.device,
                                                   batch_size=job.batch_size, force=job.force, progress=job.progress)
        except QmrError as exc:
            report.notes.append(f"divergence skipped: {exc}")


def _collect_evidence(job: _Job, specs: list[JudgeSpec], report: DiagnoseReport, settings: JudgeSettings,
                      llm_judges: dict[str, LLMJudge] | None) -> dict[tuple[str, int], Evidence]:
    """Rules and the symbolic checker on every failing sample, then each LLM judge's votes."""
    symbolic = any(sp.is_symbolic for sp in specs)
    benchmark = diag_store.run_benchmark(job.store, job.run_id)
    evidence = {}
    for s in job.failing:
        base = job.base_of(s)
        evidence[(s.problem_id, s.sample_idx)] = checked_evidence(
            job.run_id, s, symbolic, job.base_run_id, base.extracted_answer if base else None, benchmark)
    report.n_flags = sum(len(e.flag_rows) for e in evidence.values())
    for spec in (sp for sp in specs if not sp.is_symbolic):
        judge = judge_for(spec, job.device, settings, llm_judges)
        votes = llm_votes(job.store, job.run_id, job.base_run_id, judge, job.failing, job.base_of, job.batch_size,
                          job.force, job.progress)
        report.notes += judge.notes
        for s in job.failing:
            verdicts = votes[(s.problem_id, s.sample_idx)]
            evidence[(s.problem_id, s.sample_idx)].add_votes(spec.spec, verdicts)
            report.n_votes += len(verdicts)
            report.n_unparsed += sum(not v.parsed for v in verdicts)
    return evidence


def _diagnosis_rows(job: _Job, evidence: dict[tuple[str, int], Evidence], report: DiagnoseReport,
                    fp_locator: dict[tuple[str, int], int | None] | None) -> list[dict]:
    """Each judge's rows and the combined row per sample; counts the combined verdicts into ``report``.
    With ``fp_locator``, each sample it scored also gets an `fp-divergence` row (step only, no type)."""
    run_id, base_run_id = job.run_id, job.base_run_id
    flips: dict[tuple[str, int], int | None] = {}
    first_divergent: dict[str, int | None] = {}
    if base_run_id is not None:  # where quantization changed the trace: evidence, never the verdict
        flips = diag_store.first_flip_steps(job.store, base_run_id, run_id)
        first_divergent = first_divergent_steps(job.store, base_run_id, run_id)
    rows: list[dict] = []
    for (pid, idx), ev in evidence.items():
        flip_key = (pid, idx) if (pid, idx) in flips else (pid, 0)
        extra = {"first_flip_step": flips.get(flip_key), "first_divergent_step": first_divergent.get(pid),
                 "lost": (pid in report.lost) if base_run_id else None}
        rows += ev.rows
        if fp_locator is not None and (pid, idx) in fp_locator:
            rows.append(diag_row(run_id, ev.sample, FP_DIVERGENCE, fp_locator[(pid, idx)], None, FP_RATIONALE,
                                 base_run_id, located_by="divergence"))
        combined = ev.combined_row(run_id, base_run_id, extra, (fp_locator or {}).get((pid, idx)))
        rows.append(combined)
        label = combined["error_type"] or ("located, no type" if combined["first_error_step"] is not None else "unlocated")
        report.combined[label] = report.combined.get(label, 0) + 1
        if combined["first_error_step"] is None:
            report.n_unlocated += 1
        else:
            report.n_located += 1
    return rows


FP_RATIONALE = "first step the full-precision model would not have written (a token it ranks below its top choice, p < 5%)"


def _fp_locations(store: Store, run_id: str, base_run_id: str | None,
                  fp_locator: bool | dict[tuple[str, int], int | None]) -> dict[tuple[str, int], int | None] | None:
    if isinstance(fp_locator, dict):
        return fp_locator
    if not fp_locator or base_run_id is None:
        return None
    from qmr_core.diagnose.divergence_store import fp_locator as stored_locations

    return stored_locations(store, base_run_id, run_id)


def diagnose_run(
    store: Store,
    run_id: str,
    base_run_id: str | None = None,
    judges: Sequence[str] = ("symbolic",),
    *,
    only_lost: bool = False,
    teacher_forcing: bool = True,
    control: bool = True,
    divergence: bool = True,
    device: str = "auto",
    batch_size: int = 4,
    force: bool = False,
    infer_base: bool = True,
    progress: Progress | None = None,
    llm_judges: dict[str, LLMJudge] | None = None,
    judge_settings: JudgeSettings | None = None,
    fp_locator: bool | dict[tuple[str, int], int | None] = False,
) -> DiagnoseReport:
    """Diagnose the failing samples of ``run_id``; see the module docstring for what is written.

    ``judges``: "symbolic" and/or ENGINE:MODEL specs (rules and combined always run). With a base
    run (given, or inferred from the model's base model when ``infer_base``), pairs are written
    first, ``only_lost`` can restrict the work to lost problems, and teacher forcing scores the
    base trace under this run's model (``control``: also under the base model). LLM votes
    already stored for the same judge and protocol are reused unless ``force``. ``judge_settings``:
    tokens, temperature, samples per judge and constrained output (JudgeSettings). ``fp_locator``: the
    first step the full-precision model would not have written (stored `divergence` rows when True, or a
    given (problem, sample) -> step map) becomes a judge-free locator: its own `fp-divergence` row and one
    more locator in the combine rule. Off by default: it is not yet measured to help (README).
    """
    specs: list[JudgeSpec] = parse_judge_specs(judges)
    base_run_id, lost, problem_filter = _pair_with_base(store, run_id, base_run_id, infer_base, only_lost)
    if fp_locator is True and base_run_id is None:
        raise QmrError("--fp-locator needs a base run (--base, or a quantized model whose base run is stored)")
    failing = _failing_samples(store, run_id, problem_filter)
    report = DiagnoseReport(run_id, base_run_id, len(failing), [s.spec for s in specs], lost=lost)
    if not failing:
        return report
    base_rows = diag_store.samples_of(store, base_run_id, [s.problem_id for s in failing]) if base_run_id else {}
    job = _Job(store, run_id, base_run_id, failing, base_rows, device, batch_size, force, progress)
    if base_run_id is not None:
        _measure_changes(job, base_run_id, report, teacher_forcing, control, divergence)
    locations = _fp_locations(store, run_id, base_run_id, fp_locator)
    evidence = _collect_evidence(job, specs, report, judge_settings or JudgeSettings(), llm_judges)
    rows = _diagnosis_rows(job, evidence, report, locations)
    symbolic = any(sp.is_symbolic for sp in specs)
    judges_written = [RULES, COMBINED, FP_DIVERGENCE] + [sp.spec for sp in specs]  # a rerun without the locator drops its rows
    diag_store.replace_diagnoses(store, run_id, judges_written, list(evidence), rows,
                                 [r for ev in evidence.values() for r in ev.flag_rows] if symbolic else None)
    return report
