"""`qmr report` (paper tables and figures) and `qmr import lm-eval` (lm-evaluation-harness samples)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from qmr_core.api.analysis import report
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, lazy_store, open_store, resolve_run
from qmr_core.errors import QmrError
from qmr_core.report.paper import FORMATS, TEXT, ReportTable
from qmr_core.report.render import render_csv_text, render_html, render_latex, render_markdown, write_csv

import_app = typer.Typer(help="Bring results from other tools into the store.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def rich_table(t: ReportTable) -> Table:
    table = Table(title=t.title, header_style="bold", title_justify="left")
    for col, kind in zip(t.columns, t.kinds, strict=True):
        table.add_column(col, justify="left" if kind == TEXT else "right")
    for row in t.text_rows():
        table.add_row(*(escape(c) for c in row))
    if t.note:
        table.caption = t.note
        table.caption_justify = "left"
    return table


@app.command("report")
@cli_errors
def report_command(
    fmt: Annotated[str | None, typer.Option("--format", "-f", help=f"Output format: {' | '.join(FORMATS)} (csv writes one file per table into --out, a folder).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report here (without it, --format prints to stdout).")] = None,
    plots: Annotated[Path | None, typer.Option("--plots", help="Folder for PNG figures: accuracy vs bits, error-type stacks, first-error positions.")] = None,
    benchmark: Annotated[list[str] | None, typer.Option("--benchmark", "-b", help="Only runs on this benchmark (repeatable).")] = None,
    run: Annotated[list[str] | None, typer.Option("--run", "-r", help="Only this run id or prefix (repeatable).")] = None,
    judge: Annotated[str | None, typer.Option("--judge", "-j", help="Diagnoses of this judge (default: 'combined', else the judges' majority).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Paper tables from a store: accuracy by model x method x bits x benchmark with absolute and relative
    degradation, by subject and level, lost/gained, format and truncation, error types, capabilities and
    first-error positions. Prints them to the terminal; --format/--out write Markdown, LaTeX, CSV or HTML.

    Example: qmr report --db qmr-demo.duckdb --format latex --out tables.tex --plots figures/
    """
    if fmt is None and out is not None:
        fmt = {".md": "md", ".tex": "latex", ".html": "html", ".htm": "html"}.get(out.suffix.lower(), "csv" if not out.suffix else None)
        if fmt is None:
            raise QmrError(f"cannot tell the format from '{out.name}'; pass --format ({', '.join(FORMATS)})")
    if fmt is not None and fmt not in FORMATS:
        raise QmrError(f"unknown format '{fmt}' (one of {', '.join(FORMATS)})")
    if out is not None and fmt != "csv" and not out.parent.exists():
        raise QmrError(f"output folder {out.parent} does not exist")
    rep = report(lazy_store(db, write=False), benchmark or (), run or (), judge, plots)
    tables, images = rep.tables, rep.figures
    for name in rep.missing_figures:
        err_console.print(f"[yellow]note[/] no data for the {name} figure (it needs quantized runs with bits, or `qmr diagnose` results)")

    if fmt is not None and out is None:
        render = {"md": render_markdown, "latex": render_latex, "csv": render_csv_text}.get(fmt)
        typer.echo(render(tables) if render else render_html(tables, [str(p) for p in images]), nl=False)
        return
    for t in tables:
        console.print(rich_table(t))
        console.print()
    if fmt is not None and out is not None:
        if fmt == "csv":
            try:
                written = write_csv(tables, out)
            except OSError as exc:
                raise QmrError(f"cannot write CSV files to {out}: {exc.strerror or exc}") from exc
            console.print(f"wrote {len(written)} CSV files to {out}/")
        else:
            if fmt == "html":
                text = render_html(tables, [os.path.relpath(p, out.parent) for p in images])
            else:
                text = render_markdown(tables) if fmt == "md" else render_latex(tables)
            out.write_text(text, encoding="utf-8")
            console.print(f"wrote {fmt} report to {out}" + (" (needs \\usepackage{booktabs,graphicx})" if fmt == "latex" else ""))
    for p in images:
        console.print(f"wrote figure {p}")


ModelIdOption = Annotated[str | None, typer.Option("--model-id", help="Store the model under this id (default: resolved from the tool's model name; qmr's float copy of a bundled model is its alias).")]
BaseModelOption = Annotated[str | None, typer.Option("--base-model", help="Model id of the full-precision model this one is quantized from.")]
MethodOption = Annotated[str | None, typer.Option("--method", help="Quantization method (gptq, awq, rtn, ...) when --base-model is given.")]
BitsOption = Annotated[int | None, typer.Option("--bits", help="Weight bits of the quantized model.")]
GroupOption = Annotated[int | None, typer.Option("--group-size", help="Quantization group size (-1 = per channel).")]
BenchmarkOption = Annotated[str | None, typer.Option("--benchmark", help="The qmr benchmark the task is (math, math500, gsm8k or a JSONL path), for a task not named like one (e.g. an offline copy 'gsm8k_local').")]


def _print_imports(results: list, source: Path, tool: str) -> None:
    for model in sorted({r.model_id for r in results}):
        console.print(f"model [bold]{escape(model)}[/]")
    table = Table(title=f"imported from {escape(str(source))}", header_style="bold", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("run", "task", "benchmark", "n", "qmr ids", tool, "qmr", "differ"):
        table.add_column(col, justify="left" if col in ("run", "task", "benchmark") else "right",
                         overflow="fold", no_wrap=col != "task")
    for r in results:
        table.add_row(
            r.run_id, escape(r.task), r.benchmark, f"{r.n_samples}", f"{r.n_mapped}/{r.n_problems}",
            f"{r.tool_score:.1%}" if r.tool_score is not None else "-", f"{r.qmr_score:.1%}",
            str(r.n_disagree) if r.n_disagree is not None else "-",
        )
    console.print(table)
    for r in results:
        for note in r.notes:
            err_console.print(f"[yellow]note[/] {escape(r.task)}: {escape(note)}")
    console.print(f"[dim]n: samples; qmr ids: problems matched to qmr's own benchmark ids (comparable with `qmr eval` "
                  f"runs); {tool} / qmr: the tool's own score vs qmr's regrade; differ: samples where they disagree "
                  "(`qmr import disagreements RUN` lists them)[/]")


@import_app.command("lm-eval")
@cli_errors
def import_lm_eval_command(
    path: Annotated[Path, typer.Argument(help="lm-eval --output_path folder, a model folder in it, or one samples_<task>_<date>.jsonl file.")],
    model_id: ModelIdOption = None,
    base_model: BaseModelOption = None,
    method: MethodOption = None,
    bits: BitsOption = None,
    group_size: GroupOption = None,
    benchmark: BenchmarkOption = None,
    task: Annotated[list[str] | None, typer.Option("--task", help="TASK=BENCHMARK for one task (repeatable); wins over --benchmark.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import lm-evaluation-harness --log_samples output for MATH (minerva_math*, hendrycks_math*) and GSM8K
    (gsm8k, gsm8k_cot*) tasks: runs, problems, samples and steps, regraded by qmr's grader, with lm-eval's own
    per-sample verdicts kept beside qmr's. Re-importing the same files updates the same runs. Tasks with other
    names (your own offline task YAML) import with --benchmark or --task NAME=BENCHMARK.

    Example: qmr import lm-eval results/ --db runs.duckdb --base-model Qwen/Qwen2.5-7B-Instruct --method awq --bits 4
    """
    from qmr_core.importers.lm_eval import BenchmarkChoice, ModelOverride, import_lm_eval

    choice = BenchmarkChoice.parse(benchmark, task)
    store = open_store(db, create=True)
    override = ModelOverride(model_id=model_id, base_model_id=base_model, method=method, bits=bits, group_size=group_size)
    with console.status("importing and regrading ...", spinner="dots"):
        results = import_lm_eval(store, path, override, choice=choice)
    _print_imports(results, path, "lm-eval")


@import_app.command("inspect")
@cli_errors
def import_inspect_command(
    path: Annotated[Path, typer.Argument(help="An Inspect AI log file (.eval, or .json).")],
    model_id: ModelIdOption = None,
    base_model: BaseModelOption = None,
    method: MethodOption = None,
    bits: BitsOption = None,
    group_size: GroupOption = None,
    benchmark: BenchmarkOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import an Inspect AI eval log of a MATH or GSM8K task: samples (every epoch), model, the exact input and
    Inspect's scores beside qmr's regrade. Reads .eval logs through Inspect's own API (pip install inspect-ai).

    Example: qmr import inspect logs/2026-11-27T13-21-28_gsm8k_abc.eval --benchmark gsm8k --db runs.duckdb
    """
    from qmr_core.importers.common import ModelOverride
    from qmr_core.importers.inspect_log import import_inspect

    store = open_store(db, create=True)
    override = ModelOverride(model_id=model_id, base_model_id=base_model, method=method, bits=bits, group_size=group_size)
    with console.status("importing and regrading ...", spinner="dots"):
        result = import_inspect(store, path, override, benchmark)
    _print_imports([result], path, "inspect")


@import_app.command("disagreements")
@cli_errors
def import_disagreements_command(
    run: Annotated[str, typer.Argument(help="An imported run id (or a unique prefix).")],
    metric: Annotated[str | None, typer.Option("--metric", help="Only this tool metric (e.g. 'exact_match,strict-match').")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """List the samples of an imported run where the tool's own verdict and qmr's regrade disagree.

    Example: qmr import disagreements 3c0d --db runs.duckdb
    """
    from qmr_core.importers.verdicts import agreement, disagreements

    store = open_store(db, write=False)
    run_id = resolve_run(store, run)
    rows = disagreements(store, run_id, metric)
    for a in agreement(store, [run_id]):
        console.print(f"{escape(a.source)} {escape(a.metric)}: {a.n} samples, tool {a.tool_right} right, qmr {a.qmr_right} "
                      f"right, {a.disagree} disagree")
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    for col in ("problem", "sample", "metric", "tool", "tool answer", "qmr", "qmr answer", "rule"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(escape(r["problem_id"]), str(r["sample_idx"]), escape(r["metric"]), "right" if r["tool_correct"] else "wrong",
                      escape(str(r["tool_answer"])), "right" if r["qmr_correct"] else "wrong", escape(str(r["qmr_answer"])),
                      escape(str(r["grade_rule"])))
    console.print(table if rows else "[dim]no disagreements[/]")


@import_app.command("lighteval")
@cli_errors
def import_lighteval_command(
    path: Annotated[Path, typer.Argument(help="lighteval --output-dir folder, a details folder in it, or one details_<task>_<date>.parquet file.")],
    model_id: ModelIdOption = None,
    base_model: BaseModelOption = None,
    method: MethodOption = None,
    bits: BitsOption = None,
    group_size: GroupOption = None,
    benchmark: Annotated[str | None, typer.Option("--benchmark", help="The qmr benchmark every task is (math, math500, gsm8k or a JSONL path); default: from the task name, else from the problems the documents quote.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import lighteval --save-details output (details parquet files) of MATH and GSM8K tasks: runs, problems,
    samples and steps, regraded by qmr's grader, with lighteval's own per-sample metric beside qmr's verdict.
    Re-importing the same files updates the same runs.

    Example: qmr import lighteval results/ --db runs.duckdb --base-model smollm2-135m --method gptq --bits 4
    """
    from qmr_core.importers.common import ModelOverride
    from qmr_core.importers.lighteval import import_lighteval

    store = open_store(db, create=True)
    override = ModelOverride(model_id=model_id, base_model_id=base_model, method=method, bits=bits, group_size=group_size)
    with console.status("importing and regrading ...", spinner="dots"):
        results = import_lighteval(store, path, override, benchmark)
    _print_imports(results, path, "lighteval")
