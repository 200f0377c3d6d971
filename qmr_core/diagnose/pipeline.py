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

import pyarrow as pa

from qmr_core.compare import compare_runs, infer_base_run
from qmr_core.diagnose.evidence import COMBINED, RULES, checked_evidence, judge_for, llm_votes
from qmr_core.diagnose.judge import JudgeSettings, JudgeSpec, LLMJudge, parse_judge_specs
from qmr_core.errors import QmrError
from qmr_core.store import Store, upsert_rows
from qmr_core.store.queries import run_model_spec

WRITE_EVERY = 32  # teacher-forced traces and judge votes are stored in chunks of this many samples
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Sample:
    run_id: str
    problem_id: str
    sample_idx: int
    problem: str
    gold: str
    solution: str | None
    output: str
    prompt: str | None
    extracted_answer: str | None
    extract_method: str | None
    finish_reason: str | None
    steps: list[str]
    spans: list[tuple[int, int]]


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
    rows = store.query_dicts(
        """SELECT s.problem_id, s.sample_idx, p.problem, p.answer, p.solution, s.output, s.prompt,
                  s.extracted_answer, s.extract_method, s.finish_reason
           FROM samples s JOIN problems p USING (problem_id)
           WHERE s.run_id = ? AND NOT s.correct ORDER BY s.problem_id, s.sample_idx""",
        [run_id],
    )
    if problem_ids is not None:
        rows = [r for r in rows if r["problem_id"] in problem_ids]
    steps = _steps_of(store, run_id)
    return [_sample(run_id, r, steps.get((r["problem_id"], r["sample_idx"]), [])) for r in rows]


def _steps_of(store: Store, run_id: str) -> dict[tuple[str, int], list[tuple[str, int, int]]]:
    """Every step of a run in one query: (problem, sample) -> [(text, start, end)] in order."""
    out: dict[tuple[str, int], list[tuple[str, int, int]]] = {}
    for pid, idx, text, start, end in store.query(
        "SELECT problem_id, sample_idx, text, span_start, span_end FROM steps WHERE run_id = ? ORDER BY problem_id, sample_idx, step_idx",
        [run_id],
    ):
        out.setdefault((pid, idx), []).append((text, start, end))
    return out


def _sample(run_id: str, r: dict, steps: list[tuple[str, int, int]]) -> Sample:
    return Sample(
        run_id=run_id,
        problem_id=r["problem_id"],
        sample_idx=r["sample_idx"],
        problem=r["problem"],
        gold=r["answer"],
        solution=r.get("solution"),
        output=r["output"],
        prompt=r.get("prompt"),
        extracted_answer=r.get("extracted_answer"),
        extract_method=r.get("extract_method"),
        finish_reason=r.get("finish_reason"),
        steps=[s[0] for s in steps],
        spans=[(s[1], s[2]) for s in steps],
    )


def _base_samples(store: Store, base_run_id: str, problem_ids: Sequence[str]) -> dict[tuple[str, int], dict]:
    rows = store.query_dicts(
        """SELECT problem_id, sample_idx, prompt, output, correct, finish_reason, extracted_answer FROM samples
           WHERE run_id = ? AND problem_id IN (SELECT unnest(?))""",
        [base_run_id, list(problem_ids)],
    )
    return {(r["problem_id"], r["sample_idx"]): r for r in rows}




def _teacher_force(store: Store, run_id: str, base_run_id: str, failing: list[Sample], base_rows: dict,
                   device: str, batch_size: int, control: bool, force: bool, progress: Progress | None) -> int:
    from qmr_core.diagnose.teacher_forcing import TFItem, teacher_force  # torch: only the commands that use it load it
    from qmr_core.engines.hf import HFEngine
    from qmr_core.models.registry import resolve_model

    wanted: dict[tuple[str, int], dict] = {}
    for s in failing:
        base = base_rows.get((s.problem_id, s.sample_idx)) or base_rows.get((s.problem_id, 0))
        if base is not None and base.get("prompt"):
            wanted[(base["problem_id"], base["sample_idx"])] = base
    if not force and wanted:
        done = {
            (r[0], r[1])
            for r in store.query(
                "SELECT problem_id, sample_idx FROM flips WHERE base_run_id = ? AND quant_run_id = ?", [base_run_id, run_id]
            )
        }
        wanted = {k: v for k, v in wanted.items() if k not in done}
    if not wanted:
        return 0
    base_steps = _steps_of(store, base_run_id)
    items = []
    for (pid, idx), base in sorted(wanted.items()):
        spans = [(start, end) for _t, start, end in base_steps.get((pid, idx), [])]
        items.append(TFItem((pid, idx), base["prompt"], base["output"], spans, base["finish_reason"] == "eos"))
    quant_spec = run_model_spec(store, run_id)
    quant_model_id = store.query("SELECT model_id FROM runs WHERE run_id = ?", [run_id])[0][0]
    engine = HFEngine(resolve_model(quant_spec), device=device)
    control_engine = HFEngine(resolve_model(run_model_spec(store, base_run_id)), device=device) if control else None
    total, done_n = len(items), 0

    def tick(n: int) -> None:
        nonlocal done_n
        done_n += n
        if progress:
            progress("teacher forcing", done_n, total)

    described = engine.describe()
    written = 0
    for start in range(0, total, WRITE_EVERY):  # stored chunk by chunk: an interrupted run resumes
        chunk = items[start : start + WRITE_EVERY]
        rows = []
        for r in teacher_force(engine, chunk, batch_size=batch_size, control=control_engine, on_batch=tick):
            row = {"base_run_id": base_run_id, "quant_run_id": run_id, "problem_id": r.key[0], "sample_idx": r.key[1],
                   "quant_model_id": quant_model_id, "device": described["device"], "dtype": described["dtype"]}
            row.update(r.as_row())
            rows.append(row)
        store.upsert("flips", rows)
        written += len(rows)
    return written


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
    fp_locator: dict[tuple[str, int], int | None] | None = None,
) -> DiagnoseReport:
    """Diagnose the failing samples of ``run_id``; see the module docstring for what is written.

    ``judges``: "symbolic" and/or ENGINE:MODEL specs (rules and combined always run). With a base
    run (given, or inferred from the model's base model when ``infer_base``), pairs are written
    first, ``only_lost`` can restrict the work to lost problems, and teacher forcing scores the
    base trace under this run's model (``control``: also under the base model). LLM votes
    already stored for the same judge and protocol are reused unless ``force``. ``judge_settings``:
    tokens, temperature, samples per judge and constrained output (JudgeSettings). ``fp_locator``:
    (problem, sample) -> the first step the full-precision model would not have written, a judge-free
    locator that joins the combine rule as ``divergence`` (only where it is measured to help).
    """
    specs: list[JudgeSpec] = parse_judge_specs(judges)
    settings = judge_settings or JudgeSettings()
    if base_run_id is None and infer_base:
        base_run_id = infer_base_run(store, run_id)
    lost: list[str] = []
    problem_filter: set[str] | None = None
    if base_run_id is not None:
        summary = compare_runs(store, base_run_id, run_id, write=True)
        lost = summary.lost
        if only_lost:
            problem_filter = set(lost)
    elif only_lost:
        raise QmrError("--only-lost needs a base run (--base)")
    failing = _failing_samples(store, run_id, problem_filter)
    report = DiagnoseReport(run_id, base_run_id, len(failing), [s.spec for s in specs], lost=lost)
    if not failing:
        return report
    base_rows = _base_samples(store, base_run_id, [s.problem_id for s in failing]) if base_run_id else {}

    def base_of(s: Sample) -> dict | None:
        return base_rows.get((s.problem_id, s.sample_idx)) or base_rows.get((s.problem_id, 0))

    if base_run_id is not None and teacher_forcing:
        try:
            report.n_flips = _teacher_force(store, run_id, base_run_id, failing, base_rows, device, batch_size, control,
                                            force, progress)
        except QmrError as exc:  # e.g. a run made through a server engine: the rest of the diagnosis still runs
            report.notes.append(f"teacher forcing skipped: {exc}")
    if base_run_id is not None and divergence:  # lost and both-right problems, in both directions
        from qmr_core.diagnose.divergence_store import score_divergence

        try:
            report.n_divergence = score_divergence(store, run_id, base_run_id, device=device, batch_size=batch_size,
                                                   force=force, progress=progress)
        except QmrError as exc:
            report.notes.append(f"divergence skipped: {exc}")

    symbolic = any(sp.is_symbolic for sp in specs)
    benchmark = (store.query("SELECT benchmark FROM runs WHERE run_id = ?", [run_id]) or [("math",)])[0][0]
    evidence = {}
    for s in failing:
        base = base_of(s)
        evidence[(s.problem_id, s.sample_idx)] = checked_evidence(
            run_id, s, symbolic, base_run_id, base["extracted_answer"] if base else None, benchmark)
    report.n_flags = sum(len(e.flag_rows) for e in evidence.values())
    for spec in (sp for sp in specs if not sp.is_symbolic):
        judge = judge_for(spec, device, settings, llm_judges)
        votes = llm_votes(store, run_id, base_run_id, judge, failing, base_of, batch_size, force, progress)
        report.notes += judge.notes
        for s in failing:
            verdicts = votes[(s.problem_id, s.sample_idx)]
            evidence[(s.problem_id, s.sample_idx)].add_votes(spec.spec, verdicts)
            report.n_votes += len(verdicts)
            report.n_unparsed += sum(not v.parsed for v in verdicts)

    flips: dict[tuple[str, int], int | None] = {}
    first_divergent: dict[str, int | None] = {}
    if base_run_id is not None:  # where quantization changed the trace: evidence, never the verdict
        flips = {(r[0], r[1]): r[2] for r in store.query(
            "SELECT problem_id, sample_idx, first_flip_step FROM flips WHERE base_run_id = ? AND quant_run_id = ?",
            [base_run_id, run_id])}
        first_divergent = dict(store.query(
            "SELECT problem_id, first_divergent_step FROM pairs WHERE base_run_id = ? AND quant_run_id = ?",
            [base_run_id, run_id]))
    rows: list[dict] = []
    for (pid, idx), ev in evidence.items():
        flip_key = (pid, idx) if (pid, idx) in flips else (pid, 0)
        extra = {"first_flip_step": flips.get(flip_key), "first_divergent_step": first_divergent.get(pid),
                 "lost": (pid in lost) if base_run_id else None}
        rows += ev.rows
        combined = ev.combined_row(run_id, base_run_id, extra, (fp_locator or {}).get((pid, idx)))
        rows.append(combined)
        label = combined["error_type"] or "unlocated"
        report.combined[label] = report.combined.get(label, 0) + 1
        if combined["first_error_step"] is None:
            report.n_unlocated += 1
        else:
            report.n_located += 1

    judge_names = [RULES, COMBINED] + [sp.spec for sp in specs]
    with store.transaction() as con:
        keys = pa.Table.from_pylist([{"problem_id": pid, "sample_idx": idx} for pid, idx in evidence])
        con.register("_qmr_diag_keys", keys)
        try:
            con.execute(
                """DELETE FROM diagnoses WHERE run_id = ? AND judge IN (SELECT unnest(?))
                   AND (problem_id, sample_idx) IN (SELECT (problem_id, sample_idx) FROM _qmr_diag_keys)""",
                [run_id, judge_names],
            )
            if symbolic:
                con.execute(
                    """DELETE FROM symbolic_flags WHERE run_id = ?
                       AND (problem_id, sample_idx) IN (SELECT (problem_id, sample_idx) FROM _qmr_diag_keys)""",
                    [run_id],
                )
        finally:
            con.unregister("_qmr_diag_keys")
        upsert_rows(con, "symbolic_flags", [r for ev in evidence.values() for r in ev.flag_rows])
        upsert_rows(con, "diagnoses", rows)
    return report
