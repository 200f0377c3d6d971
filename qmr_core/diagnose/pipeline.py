"""diagnose_run: every failing sample of a run -> rules, symbolic checker, LLM judges, teacher forcing.

Writes, per failing sample, one `diagnoses` row per judge (``rules``, ``symbolic``, each
``ENGINE:MODEL`` judge) plus a ``combined`` row, every LLM vote with its raw output to
`judge_votes`, false claims to `symbolic_flags`, and, when a base run is given, `pairs` (via
compare_runs) and the teacher-forced summary to `flips`.

How ``combined`` weighs the evidence: checked evidence first. A rule-based Degenerate finding
(loop, truncation, no answer) and a false arithmetic claim found by the symbolic checker are
facts about the text; the earlier of the two is the verdict (Execution for a false claim, which
wins a tie because it is the more specific). Without either, the majority of the parsed LLM votes
decides (most voted step, ties to the earliest; then the most voted type at that step). With no
evidence at all the row says so (no step, no type). The teacher-forced first flip step and the
first divergent step of the alignment are evidence of *where quantization changed the trace*, not
of an error, so they go into ``evidence_json`` and never decide the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from qmr_core.compare import compare_runs, infer_base_run
from qmr_core.diagnose import rules
from qmr_core.diagnose.judge import (
    PROMPT_VERSION, JudgeCase, JudgeSpec, JudgeVerdict, LLMJudge, Majority, majority_vote, parse_judge_spec,
)
from qmr_core.diagnose.symbolic import CHECKER_VERSION, check_steps
from qmr_core.diagnose.taxonomy import capability_of
from qmr_core.errors import QmrError
from qmr_core.store import Store, upsert_rows

WRITE_EVERY = 32  # teacher-forced traces and judge votes are stored in chunks of this many samples
RULES = "rules"
COMBINED = "combined"
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
        """SELECT problem_id, sample_idx, prompt, output, correct, finish_reason FROM samples
           WHERE run_id = ? AND problem_id IN (SELECT unnest(?))""",
        [base_run_id, list(problem_ids)],
    )
    return {(r["problem_id"], r["sample_idx"]): r for r in rows}


def _diag_row(run_id: str, s: Sample, judge: str, step: int | None, error_type: str | None, rationale: str,
              base_run_id: str | None, evidence: dict | None = None) -> dict:
    return {
        "run_id": run_id,
        "problem_id": s.problem_id,
        "sample_idx": s.sample_idx,
        "judge": judge,
        "first_error_step": step,
        "error_type": error_type,
        "capability": capability_of(error_type),
        "rationale": rationale,
        "base_run_id": base_run_id,
        "evidence_json": json.dumps(evidence) if evidence is not None else None,
    }


def run_model_spec(store: Store, run_id: str) -> str:
    """A model spec resolve_model accepts, for the model a run used (for teacher forcing)."""
    from qmr_core.model_registry import resolve_model

    rows = store.query(
        "SELECT r.model_id, m.source, r.engine FROM runs r LEFT JOIN models m USING (model_id) WHERE r.run_id = ?", [run_id]
    )
    if not rows:
        raise QmrError(f"no run '{run_id}'")
    model_id, source, engine = rows[0]
    if engine != "hf":
        raise QmrError(f"teacher forcing needs a run made with the hf engine; run {run_id} used '{engine}'")
    tag = model_id.partition("@")[2]
    candidates = [model_id] + ([f"{source}@{tag}" if tag else source] if source else [])
    if "+lora-" in model_id:  # a recovered model loads from its adapter folder, which names its base
        candidates = [r[0] for r in store.query("SELECT adapter_path FROM recoveries WHERE model_id = ?", [model_id])]
    last: QmrError | None = None
    for spec in candidates:
        try:
            resolve_model(spec)
            return spec
        except QmrError as exc:
            last = exc
    raise QmrError(f"cannot load the model of run {run_id} ({model_id}): {last}")


def _teacher_force(store: Store, run_id: str, base_run_id: str, failing: list[Sample], base_rows: dict,
                   device: str, batch_size: int, control: bool, force: bool, progress: Progress | None) -> int:
    from qmr_core.diagnose.teacher_forcing import TFItem, teacher_force  # torch: only the commands that use it load it
    from qmr_core.engines.hf import HFEngine
    from qmr_core.model_registry import resolve_model

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


def _combine(rule: rules.RuleVerdict | None, sym_step: int | None, sym_text: str | None,
             majority: Majority | None) -> tuple[int | None, str | None, str]:
    checked = []
    if sym_step is not None:
        checked.append((sym_step, 0, "Execution", f"symbolic checker: {sym_text}"))
    if rule is not None:
        step = rule.first_error_step
        checked.append((step if step is not None else 10**9, 1, "Degenerate", f"{rule.kind}: {rule.rationale}"))
    if checked:
        step, _prio, etype, why = min(checked)
        return (None if step == 10**9 else step), etype, why
    if majority is not None and (majority.first_error_step is not None or majority.error_type is not None):
        return (
            majority.first_error_step,
            majority.error_type,
            f"majority of {majority.n_votes} parsed judge vote(s), {majority.agreement:.0%} agree on the step",
        )
    return None, None, "no judge located the error"


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
) -> DiagnoseReport:
    """Diagnose the failing samples of ``run_id``; see the module docstring for what is written.

    ``judges``: "symbolic" and/or ENGINE:MODEL specs (rules and combined always run). With a base
    run (given, or inferred from the model's base model when ``infer_base``), pairs are written
    first, ``only_lost`` can restrict the work to lost problems, and teacher forcing scores the
    base trace under this run's model (``control``: also under the base model). LLM votes
    already stored for the same judge and prompt version are reused unless ``force``.
    """
    specs: list[JudgeSpec] = []
    for j in judges:
        spec = parse_judge_spec(j)
        if spec.spec not in {s.spec for s in specs}:
            specs.append(spec)
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
    evidence = {(s.problem_id, s.sample_idx): _checked_evidence(run_id, s, symbolic, base_run_id) for s in failing}
    report.n_flags = sum(len(e.flag_rows) for e in evidence.values())
    for spec in (sp for sp in specs if not sp.is_symbolic):
        votes = _llm_votes(store, run_id, base_run_id, spec, failing, base_of, batch_size, device, force, progress,
                           (llm_judges or {}).get(spec.spec))
        for s in failing:
            verdict = votes[(s.problem_id, s.sample_idx)]
            evidence[(s.problem_id, s.sample_idx)].add_vote(spec.spec, verdict)
            report.n_votes += 1
            report.n_unparsed += int(not verdict.parsed)

    flips: dict[tuple[str, int], int | None] = {}
    divergence: dict[str, int | None] = {}
    if base_run_id is not None:  # where quantization changed the trace: evidence, never the verdict
        flips = {(r[0], r[1]): r[2] for r in store.query(
            "SELECT problem_id, sample_idx, first_flip_step FROM flips WHERE base_run_id = ? AND quant_run_id = ?",
            [base_run_id, run_id])}
        divergence = dict(store.query(
            "SELECT problem_id, first_divergent_step FROM pairs WHERE base_run_id = ? AND quant_run_id = ?",
            [base_run_id, run_id]))
    rows: list[dict] = []
    for (pid, idx), ev in evidence.items():
        flip_key = (pid, idx) if (pid, idx) in flips else (pid, 0)
        extra = {"first_flip_step": flips.get(flip_key), "first_divergent_step": divergence.get(pid),
                 "lost": (pid in lost) if base_run_id else None}
        rows += ev.rows
        combined = ev.combined_row(run_id, base_run_id, extra)
        rows.append(combined)
        label = combined["error_type"] or "unlocated"
        report.combined[label] = report.combined.get(label, 0) + 1

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


@dataclass
class _Evidence:
    """What is known about one failing sample: rows per judge so far, and what combines."""

    sample: Sample
    rule: rules.RuleVerdict | None
    sym_step: int | None
    sym_text: str | None
    rows: list[dict]
    flag_rows: list[dict]
    summary: dict
    votes: list[tuple[str, JudgeVerdict]] = field(default_factory=list)

    def add_vote(self, judge: str, verdict: JudgeVerdict) -> None:
        self.votes.append((judge, verdict))
        s = self.sample
        base_run_id = self.rows[0]["base_run_id"]
        if verdict.parsed:
            row = _diag_row(s.run_id, s, judge, verdict.first_error_step, verdict.error_type, verdict.rationale or "", base_run_id)
        else:
            row = _diag_row(s.run_id, s, judge, None, None, f"unparsed judge output ({verdict.error})", base_run_id)
        self.rows.append(row)

    def combined_row(self, run_id: str, base_run_id: str | None, extra: dict) -> dict:
        majority = majority_vote([v for _j, v in self.votes])
        step, etype, why = _combine(self.rule, self.sym_step, self.sym_text, majority)
        ev = dict(self.summary)
        ev["votes"] = {j: ({"step": v.first_error_step, "type": v.error_type} if v.parsed else {"unparsed": v.error})
                       for j, v in self.votes}
        ev["majority"] = ({"step": majority.first_error_step, "type": majority.error_type, "n": majority.n_votes,
                           "agreement": majority.agreement} if majority else None)
        ev.update(extra)
        return _diag_row(run_id, self.sample, COMBINED, step, etype, why, base_run_id, ev)


def _checked_evidence(run_id: str, s: Sample, symbolic: bool, base_run_id: str | None) -> _Evidence:
    """The rule-based Degenerate check and (when asked) the symbolic checker on one sample."""
    rule = rules.degenerate(s.output, s.steps, s.spans, s.finish_reason, s.extracted_answer, s.extract_method)
    rows = [_diag_row(run_id, s, RULES, rule.first_error_step if rule else None, "Degenerate" if rule else None,
                      rule.rationale if rule else "no degenerate pattern", base_run_id)]
    summary: dict = {"rules": {"kind": rule.kind, "step": rule.first_error_step} if rule else None}
    flag_rows: list[dict] = []
    sym_step = sym_text = None
    if symbolic:
        check = check_steps(s.steps, s.problem)
        for f in check.flags:
            c = f.claim
            flag_rows.append({
                "run_id": run_id, "problem_id": s.problem_id, "sample_idx": s.sample_idx, "step_idx": f.step_idx,
                "claim_idx": f.claim_idx, "claim": c.text, "lhs_value": str(c.lhs_value), "rhs_value": str(c.rhs_value),
                "stated": c.stated, "true_value": c.computed, "checker_version": CHECKER_VERSION,
            })
        sym_step = check.first_error_step
        if sym_step is not None:
            first = next(f for f in check.flags if f.step_idx == sym_step)
            sym_text = f"{first.claim.text} is false: {first.claim.computed}, not {first.claim.stated}"
            rows.append(_diag_row(run_id, s, "symbolic", sym_step, "Execution", sym_text, base_run_id))
        else:
            rows.append(_diag_row(run_id, s, "symbolic", None, None,
                                  f"no false arithmetic claim among {check.n_claims} checked", base_run_id))
        summary["symbolic"] = {"step": sym_step, "n_claims": check.n_claims, "n_flags": len(check.flags)}
    return _Evidence(s, rule, sym_step, sym_text, rows, flag_rows, summary)


def _llm_votes(store: Store, run_id: str, base_run_id: str | None, spec: JudgeSpec, failing: list[Sample], base_of,
               batch_size: int, device: str, force: bool, progress: Progress | None,
               judge: LLMJudge | None) -> dict[tuple[str, int], JudgeVerdict]:
    """One judge's verdict per failing sample: stored votes (same prompt version) reused unless force."""
    stored = {
        (r["problem_id"], r["sample_idx"]): JudgeVerdict(bool(r["parsed"]), r["parse_error"], r["first_error_step"],
                                                         r["error_type"], r["rationale"])
        for r in store.query_dicts(
            """SELECT problem_id, sample_idx, parsed, parse_error, first_error_step, error_type, rationale
               FROM judge_votes WHERE run_id = ? AND judge = ? AND prompt_version = ?""",
            [run_id, spec.spec, PROMPT_VERSION],
        )
    }
    todo = [s for s in failing if force or (s.problem_id, s.sample_idx) not in stored]
    if not todo:
        return stored
    judge = judge or LLMJudge(spec, device=device)
    cases = []
    for s in todo:
        base = base_of(s)
        cases.append(JudgeCase(
            problem=s.problem, steps=s.steps, gold=s.gold, reference=s.solution,
            base_trace=base["output"] if base else None, base_correct=bool(base["correct"]) if base else None,
        ))
    done = 0
    for start in range(0, len(cases), WRITE_EVERY):  # stored chunk by chunk: a rerun reuses them
        chunk = todo[start : start + WRITE_EVERY]
        vote_rows = []
        for s, (raw, verdict, latency) in zip(chunk, judge.judge(cases[start : start + WRITE_EVERY], batch_size=batch_size),
                                              strict=True):
            stored[(s.problem_id, s.sample_idx)] = verdict
            vote_rows.append({
                "run_id": run_id, "problem_id": s.problem_id, "sample_idx": s.sample_idx, "judge": spec.spec,
                "base_run_id": base_run_id, "prompt_version": PROMPT_VERSION, "raw_output": raw,
                "parsed": verdict.parsed, "parse_error": verdict.error, "first_error_step": verdict.first_error_step,
                "error_type": verdict.error_type, "rationale": verdict.rationale, "latency_ms": latency,
            })
        store.upsert("judge_votes", vote_rows)
        done += len(chunk)
        if progress:
            progress(spec.spec, done, len(cases))
    return stored
