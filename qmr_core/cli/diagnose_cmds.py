"""`qmr compare`, `qmr diagnose`, `qmr errors`, `qmr judge-bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qmr_core.api.analysis import compare, diagnose
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, lazy_store, open_store, resolve_run
from qmr_core.cli.progress import RichProgress
from qmr_core.compare import ComparisonSummary, GroupStats, summary_dict
from qmr_core.diagnose.taxonomy import CAPABILITIES, DEGENERATE_KINDS, ERROR_TYPES
from qmr_core.errors import QmrError
from qmr_core.store.error_reads import combined_evidence, count_diagnoses, diagnosed_run_ids, error_type_counts


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def _comparison_table(summaries: list[ComparisonSummary]) -> Table:
    """One column per quantized run (fits 80 columns for a few runs)."""
    table = Table(title="quantized vs base, paired by problem", header_style="bold")
    table.add_column("")
    for s in summaries:
        table.add_column(s.quant_run_id, justify="right")

    def ci(s: ComparisonSummary) -> str:
        return f"[{s.abs_drop_ci[0]:+.1%}, {s.abs_drop_ci[1]:+.1%}]" if s.abs_drop_ci else "-"

    rows = [
        ("model", lambda s: escape(s.quant_model)),
        ("problems paired", lambda s: str(s.n)),
        ("base accuracy", lambda s: _pct(s.acc_base)),
        ("quant accuracy", lambda s: _pct(s.acc_quant)),
        ("drop", lambda s: _signed(s.abs_drop)),
        ("drop 95% CI", ci),
        ("relative drop", lambda s: _pct(s.rel_drop)),
        ("lost", lambda s: str(s.counts["lost"])),
        ("gained", lambda s: str(s.counts["gained"])),
        ("both right", lambda s: str(s.counts["both_right"])),
        ("both wrong", lambda s: str(s.counts["both_wrong"])),
        ("McNemar p", lambda s: "-" if s.mcnemar_p is None else f"{s.mcnemar_p:.3g}"),
        ("step similarity", lambda s: "-" if s.mean_similarity is None else f"{s.mean_similarity:.2f}"),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(s) for s in summaries])
    return table


def _group_table(title: str, key: str, groups: list[GroupStats]) -> Table:
    table = Table(title=title, header_style="bold")
    for col in (key, "n", "base acc", "quant acc", "drop", "rel drop", "lost", "gained"):
        table.add_column(col, justify="left" if col == key else "right")
    for g in groups:
        table.add_row(escape(g.key), str(g.n), _pct(g.acc_base), _pct(g.acc_quant), _signed(g.abs_drop), _pct(g.rel_drop),
                      str(g.lost), str(g.gained))
    return table


@app.command("compare")
@cli_errors
def compare_command(
    quant: Annotated[list[str], typer.Option("--quant", "-q", help="Quantized run id or unique prefix (repeatable).")],
    base: Annotated[str | None, typer.Option("--base", "-b", help="Base (full-precision) run; inferred from the quantized model's base model when omitted.")] = None,
    by: Annotated[str, typer.Option("--by", help="Breakdown tables: subject | level | both | none.")] = "both",
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON instead of tables.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Pair a base run with quantized runs problem by problem: lost / gained / both right / both wrong,
    absolute and relative degradation, breakdown by subject and level, step alignment. Writes `pairs`.

    Example: qmr compare --base 768079 --quant 9e541b --quant 3c0d12 --db qmr-demo.duckdb
    """
    if by not in ("subject", "level", "both", "none"):
        raise QmrError("--by must be subject, level, both or none")
    summaries = compare(lazy_store(db), quant, base)
    if as_json:
        console.print_json(json.dumps([summary_dict(s) for s in summaries]))
        return
    bases = {s.base_run_id: s.base_model for s in summaries}
    console.print("base run(s): " + ", ".join(f"[bold]{b}[/] ({escape(m)})" for b, m in bases.items()))
    console.print(_comparison_table(summaries))
    for s in summaries:
        for w in s.warnings:
            err_console.print(f"[yellow]warning[/] {s.quant_run_id}: {escape(w)}")
        for n in s.notes:
            err_console.print(f"[dim]note {s.quant_run_id}: {escape(n)}[/]")
        if s.n_base_only or s.n_quant_only:
            err_console.print(f"[yellow]note[/] {s.quant_run_id}: unpaired problems: {s.n_base_only} only in base, {s.n_quant_only} only in quant")
        if s.sampling:
            console.print("[dim]sampling runs: score = share of a problem's samples right; outcome = majority[/]")
        if by in ("subject", "both"):
            console.print(_group_table(f"{s.quant_run_id} by subject", "subject", s.by_subject))
        if by in ("level", "both"):
            console.print(_group_table(f"{s.quant_run_id} by level", "level", s.by_level))
    console.print("[dim]drop = base - quant accuracy; rel drop = drop / base accuracy; pairs stored in table `pairs`[/]")


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


@app.command("diagnose")
@cli_errors
def diagnose_command(
    run: Annotated[str, typer.Option("--run", "-r", help="Run to diagnose (id or unique prefix); its wrong samples are diagnosed.")],
    judge: Annotated[list[str] | None, typer.Option("--judge", "-j", help="symbolic | ENGINE:MODEL such as hf:smollm2-135m (repeatable; several LLM judges vote).")] = None,
    base: Annotated[str | None, typer.Option("--base", "-b", help="Base run for pairing and teacher forcing (inferred when omitted).")] = None,
    only_lost: Annotated[bool, typer.Option("--only-lost", help="Diagnose only problems the base run solved.")] = False,
    teacher_forcing: Annotated[bool, typer.Option("--teacher-forcing/--no-teacher-forcing", help="Score the base trace under this run's model.")] = True,
    control: Annotated[bool, typer.Option("--control/--no-control", help="Teacher forcing also runs the base model, to ignore tokens it would not produce itself.")] = True,
    divergence: Annotated[bool, typer.Option("--divergence/--no-divergence", help="Score lost and both-right problems both ways: KL(fp||quant) on the fp trace, fp surprisal of the quantized trace.")] = True,
    fp_locator: Annotated[bool, typer.Option("--fp-locator/--no-fp-locator", help="Also locate with the first step the full-precision model would not have written (stored divergence): its own `fp-divergence` verdict and one more locator in the combined verdict. Off by default: not yet measured to help (README).")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:N] for judges and teacher forcing.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", "-k", help="Sequences per forward pass / judge batch.")] = 4,
    force: Annotated[bool, typer.Option("--force", help="Redo teacher forcing and LLM votes already stored.")] = False,
    judge_max_tokens: Annotated[int | None, typer.Option("--judge-max-tokens", help="Token budget of one judge vote (default: 1024 for hf judges, constrained; 4096 for served judges, which may reason first).")] = None,
    judge_temperature: Annotated[float | None, typer.Option("--judge-temperature", help="Judge sampling temperature (default: 0 for one sample, 0.7 for several).")] = None,
    judge_samples: Annotated[int, typer.Option("--judge-samples", help="Votes per judge and sample (self-consistency; the judge's verdict is their majority).")] = 1,
    judge_constrained: Annotated[bool, typer.Option("--judge-constrained/--no-judge-constrained", help="Enforce the verdict's JSON schema (llguidance locally, response_format on servers).")] = True,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Locate and label the first error of every wrong sample of a run; writes `diagnoses` (one row per
    judge plus `combined`), `judge_votes`, `symbolic_flags`, and with a base run `pairs` and `flips`.

    Combined verdict: the first faulty step is the earliest step any locator puts forward (symbolic flags, the majority of the LLM votes that located a step, each Degenerate subtype at the step where it begins; with --fp-locator, the first step the full-precision model would not have written). Its type comes from the source that located it; where the LLM majority located the same step, the LLM's type. Every disagreement is stored; agreement counts only votes that located a step; when nothing located the error the verdict says so.

    Example: qmr diagnose --run 3c0d12 --base 768079 --judge symbolic --judge hf:smollm2-135m --db qmr-demo.duckdb
    """
    from qmr_core.diagnose.judge import JudgeSettings

    store = lazy_store(db)
    settings = JudgeSettings(judge_max_tokens, judge_temperature, judge_samples, judge_constrained)
    with RichProgress() as progress:
        report = diagnose(store, run, base, judge or ["symbolic"], only_lost=only_lost, teacher_forcing=teacher_forcing,
                          control=control, divergence=divergence, device=device, batch_size=batch_size, force=force,
                          judge_settings=settings, fp_locator=fp_locator, progress=progress)
    run_id = report.run_id
    console.print(
        f"run [bold]{run_id}[/]: {report.n_failing} wrong samples diagnosed"
        + (f" against base [bold]{report.base_run_id}[/] ({len(report.lost)} lost)" if report.base_run_id else " (no base run)")
    )
    console.print(
        f"symbolic flags: {report.n_flags}   judge votes: {report.n_votes} ({report.n_unparsed} unparsed)   "
        f"teacher-forced traces: {report.n_flips}   divergence rows: {report.n_divergence}"
    )
    if report.n_failing:
        console.print(f"combined verdicts: {report.n_located} locate a step, {report.n_unlocated} say no locator "
                      "located the error")
    for note in report.notes:
        err_console.print(f"[yellow]warning[/] {escape(note)}")
    if report.combined:
        console.print(_errors_tables(store(), [run_id], "combined")[0])


UNTYPED = "located, no type"


def _errors_tables(store, run_ids: list[str], judge: str) -> tuple[Table, Table]:
    rows = error_type_counts(store, run_ids, judge)
    totals: dict[str, int] = {}
    models: dict[str, str] = {}
    by_type: dict[tuple[str, str], int] = {}
    by_cap: dict[tuple[str, str], int] = {}
    for r in rows:
        totals[r.run_id] = totals.get(r.run_id, 0) + r.n
        models[r.run_id] = r.model
        missing = UNTYPED if r.located else "unlocated"  # untyped: located by --fp-locator alone
        t = r.error_type or missing
        c = r.capability or missing
        by_type[(r.run_id, t)] = by_type.get((r.run_id, t), 0) + r.n
        by_cap[(r.run_id, c)] = by_cap.get((r.run_id, c), 0) + r.n
        if r.subtype and t == "Degenerate":
            key = (r.run_id, f"  {r.subtype}")
            by_type[key] = by_type.get(key, 0) + r.n

    def table(title: str, labels: list[str], counts: dict[tuple[str, str], int]) -> Table:
        """One row per label, one column per run (fits 80 columns for a few runs)."""
        t = Table(title=title, header_style="bold")
        t.add_column("")
        for run_id in totals:
            t.add_column(f"{run_id}\n{escape(models[run_id])}", justify="right")
        t.add_row("wrong samples", *[str(totals[r]) for r in totals])
        for label in labels:
            cells = []
            for run_id, n in totals.items():
                k = counts.get((run_id, label), 0)
                cells.append(f"{k} ({k / n:.0%})" if k else "-")
            t.add_row(label, *cells, end_section=label in section_ends)
        return t

    section_ends = {CAPABILITIES[1]}  # the paper's two capabilities, then problem understanding and degenerate output
    subtypes = [f"  {k}" for k in DEGENERATE_KINDS]

    untyped = [UNTYPED] if any(label == UNTYPED for _run, label in by_type) else []
    return (
        table(f"error types ({judge})", list(ERROR_TYPES) + subtypes + untyped + ["unlocated"], by_type),
        table(f"capabilities ({judge})", list(CAPABILITIES) + untyped + ["unlocated"], by_cap),
    )


@app.command("errors")
@cli_errors
def errors_command(
    run: Annotated[list[str] | None, typer.Option("--run", "-r", help="Run id or prefix (repeatable); all diagnosed runs when omitted.")] = None,
    judge: Annotated[str, typer.Option("--judge", "-j", help="Whose diagnoses: combined | rules | symbolic | ENGINE:MODEL.")] = "combined",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Error-type and capability tables per run, from `qmr diagnose`.

    Capabilities: Execution -> numerical computation; Method, Reasoning -> reasoning planning;
    Conceptual -> problem understanding; Degenerate -> degenerate output.

    Example: qmr errors --run 3c0d12 --db qmr-demo.duckdb
    """
    store = open_store(db, write=False)
    if run:
        run_ids = [resolve_run(store, r) for r in run]
    else:
        run_ids = diagnosed_run_ids(store, judge)
    if not run_ids:
        console.print(f"no diagnoses by '{escape(judge)}' in {db} yet (run `qmr diagnose`)")
        return
    n = count_diagnoses(store, judge, run_ids)
    if not n:
        console.print(f"no diagnoses by '{escape(judge)}' for the selected run(s) (run `qmr diagnose`)")
        return
    types, caps = _errors_tables(store, run_ids, judge)
    console.print(types)
    console.print(caps)
    from qmr_core.cli.divergence_tables import flip_auc_table

    flip = flip_auc_table(store, run_ids)
    if flip is not None:
        console.print(flip)
    if judge == "combined":
        console.print(_degenerate_findings(store, run_ids))


def _degenerate_findings(store, run_ids: list[str]) -> Table:
    """Every judge-free Degenerate finding, whichever locator's step the combined verdict took."""
    counts: dict[tuple[str, str], int] = {}
    for ev in combined_evidence(store, run_ids):
        found = json.loads(ev.evidence_json or "{}").get("rules") or []
        for kind in {f["kind"] for f in found if isinstance(found, list)}:
            counts[(ev.run_id, kind)] = counts.get((ev.run_id, kind), 0) + 1
    t = Table(title="Degenerate findings (judge-free, at any step)", header_style="bold")
    t.add_column("")
    for run_id in run_ids:
        t.add_column(run_id, justify="right")
    for kind in DEGENERATE_KINDS:
        t.add_row(kind, *[str(counts.get((r, kind), 0) or "-") for r in run_ids])
    return t


@app.command("judge-bench")
@cli_errors
def judge_bench_command(
    files: Annotated[list[Path], typer.Argument(help="ProcessBench-format JSONL, one per split (problem, steps, label: earliest wrong step or -1).")],
    judge: Annotated[list[str] | None, typer.Option("--judge", "-j", help="symbolic | ENGINE:MODEL (repeatable). Default: symbolic.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="First N rows of each file only.")] = None,
    balanced: Annotated[bool, typer.Option("--balanced", help="With --limit: the first N/2 erroneous and N/2 correct rows.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:N] for LLM judges.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", "-k")] = 4,
    judge_max_tokens: Annotated[int | None, typer.Option("--judge-max-tokens", help="Token budget of one vote (default: 1024 hf, 4096 served).")] = None,
    judge_temperature: Annotated[float | None, typer.Option("--judge-temperature", help="Default: 0 for one sample, 0.7 for several.")] = None,
    judge_samples: Annotated[int, typer.Option("--judge-samples", help="K votes per row: Pass@1 is their mean, Maj@K their majority.")] = 1,
    judge_constrained: Annotated[bool, typer.Option("--judge-constrained/--no-judge-constrained", help="Enforce the verdict's JSON schema.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Score step location on ProcessBench data with ProcessBench's metrics: accuracy on erroneous and
    on correct samples and their harmonic mean F1, per split (one file each) and averaged; for LLM judges
    Pass@1 and Maj@K; for the symbolic checker its earliest-flag precision.

    Example: qmr judge-bench ../shared/data/processbench_gsm8k.jsonl --judge symbolic --judge hf:smollm2-135m --limit 20
    """
    from qmr_core.diagnose.judge import JudgeSettings, build_judge, parse_judge_specs
    from qmr_core.diagnose.judge_bench import PUBLISHED, split_name
    from qmr_core.diagnose.judge_bench import balanced as balanced_rows
    from qmr_core.diagnose.processbench import load_processbench

    specs = parse_judge_specs(judge or ["symbolic"])
    if limit is not None and limit < 1:
        raise QmrError("--limit must be >= 1")
    settings = JudgeSettings(judge_max_tokens, judge_temperature, judge_samples, judge_constrained)
    if balanced and limit is None:
        raise QmrError("--balanced needs --limit N")
    splits = {split_name(f): (f, balanced_rows(load_processbench(f), limit) if balanced and limit is not None
                                 else load_processbench(f, limit))
              for f in files}
    judges = {sp.spec: build_judge(sp, device, settings) for sp in specs if not sp.is_symbolic}
    out: dict[str, dict] = {}
    out = {split: {"file": str(file), "n": len(items), "results": _bench_split(specs, judges, split, items, batch_size)}
           for split, (file, items) in splits.items()}
    average = {name: {"f1": _mean_of(out, name, "f1"), "maj_f1": _mean_of(out, name, "maj")}
               for name in next(iter(out.values()))["results"]} if len(out) > 1 else None
    if as_json:
        body = next(iter(out.values())) if len(out) == 1 else {"splits": out, "average": average}
        console.print_json(json.dumps(body))
        return
    for split, data in out.items():
        console.print(_bench_table(split, data))
    if average:
        console.print("average F1 over splits: " + "; ".join(
            f"{escape(n)} {_pct(a['f1'])}" + (f" (Maj@{judge_samples} {_pct(a['maj_f1'])})" if a["maj_f1"] is not None else "")
            for n, a in average.items()))
    console.print(f"[dim]{PUBLISHED}[/]")
    for j in judges.values():
        for note in j.notes:
            err_console.print(f"[yellow]warning[/] {escape(note)}")


def _bench_split(specs, judges: dict, split: str, items: list, batch_size: int) -> dict[str, dict]:
    """Every judge's metrics on one split, and the pipeline's when several judges ran."""
    from qmr_core.diagnose.judge_bench import llm_bench, pipeline_predictions
    from qmr_core.diagnose.processbench import flag_precision, processbench_metrics, symbolic_predictions

    labels = [it.label for it in items]
    results: dict[str, dict] = {}
    sym_preds = None
    llm_preds: list[list[int | None]] = []
    for spec in specs:
        if spec.is_symbolic:
            sym_preds = symbolic_predictions(items)
            m = processbench_metrics(labels, [-1 if p is None else p for p in sym_preds])
            fp = flag_precision(labels, sym_preds)
            results[spec.spec] = {**m.__dict__, "flags_right": fp.right, "flags_wrong": fp.wrong,
                                  "flags_after_label": fp.late, "flag_precision": fp.precision}
        else:
            with _progress() as progress:
                task = progress.add_task(f"{spec.spec} on {split}", total=len(items))
                results[spec.spec], maj = llm_bench(judges[spec.spec], items, batch_size,
                                                    on_batch=lambda n: progress.advance(task, n))
            llm_preds.append(maj)
    if len(specs) > 1:
        results["pipeline"] = processbench_metrics(labels, pipeline_predictions(sym_preds, llm_preds)).__dict__
    return results


def _mean_of(out: dict, name: str, key: str) -> float | None:
    vals = []
    for data in out.values():
        r = data["results"].get(name, {})
        v = r.get("maj", {}).get("f1") if key == "maj" else r.get(key)
        vals.append(v)
    return sum(vals) / len(vals) if vals and all(v is not None for v in vals) else None


def _bench_table(split: str, data: dict) -> Table:
    results = data["results"]
    first = next(iter(results.values()))
    table = Table(title=f"ProcessBench step location: {escape(split)} ({data['n']} rows: {first['n_error']} erroneous, "
                        f"{first['n_correct']} correct)", header_style="bold")
    for col in ("judge", "acc erroneous", "acc correct", "F1", "Maj@K F1", "unparsed"):
        table.add_column(col, justify="left" if col == "judge" else "right", overflow="fold")
    for name, r in results.items():
        maj = r.get("maj")
        unparsed = f"{r['n_unparsed']}/{r['n_votes']}" if "n_votes" in r else str(r["n_unparsed"])
        table.add_row(escape(name), _pct(r["acc_error"]), _pct(r["acc_correct"]),
                      "-" if r["f1"] is None else f"{r['f1']:.3f}",
                      "-" if not maj or maj["f1"] is None else f"{maj['f1']:.3f} K={r['k']}", unparsed)
    if "symbolic" in results:
        r = results["symbolic"]
        table.caption = (f"symbolic checker flags: {r['flags_right']} right, {r['flags_wrong']} wrong "
                         f"({r['flags_after_label']} of them after the label, counted wrong); "
                         f"flag precision {_pct(r['flag_precision'])}")
    return table
