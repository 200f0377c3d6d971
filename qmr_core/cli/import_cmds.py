"""`qmr import lm-eval|inspect|lighteval|disagreements`: results of other tools into the store."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, open_store, resolve_run
from qmr_core.importers.common import ModelOverride

import_app = typer.Typer(help="Bring results from other tools into the store.", no_args_is_help=True)
app.add_typer(import_app, name="import")

# The options every importer takes to say what the imported model is; a command gets them with @import_command.
OVERRIDE_OPTIONS: dict[str, Any] = {
    "model_id": Annotated[str | None, typer.Option("--model-id", help="Store the model under this id (default: resolved from the tool's model name; qmr's float copy of a bundled model is its alias).")],
    "base_model": Annotated[str | None, typer.Option("--base-model", help="Model id of the full-precision model this one is quantized from.")],
    "method": Annotated[str | None, typer.Option("--method", help="Quantization method (gptq, awq, rtn, ...) when --base-model is given.")],
    "bits": Annotated[int | None, typer.Option("--bits", help="Weight bits of the quantized model.")],
    "group_size": Annotated[int | None, typer.Option("--group-size", help="Quantization group size (-1 = per channel).")],
}


def model_override_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Replace the command's `override: ModelOverride` parameter by the OVERRIDE_OPTIONS, at its place, and hand
    them to the command as one ModelOverride (Typer reads the signature, so --help lists them as before)."""
    sig = inspect.signature(fn, eval_str=True)
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        if p.name == "override":
            params += [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=a)
                       for n, a in OVERRIDE_OPTIONS.items()]
        else:
            params.append(p)

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name, None) for name in OVERRIDE_OPTIONS}
        override = ModelOverride(model_id=given["model_id"], base_model_id=given["base_model"], method=given["method"],
                                 bits=given["bits"], group_size=given["group_size"])
        fn(*args, override=override, **kwargs)

    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return command


def import_command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """`qmr import NAME`: one-line errors and the model options (model_override_options)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        return import_app.command(name)(cli_errors(model_override_options(fn)))

    return register


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


@import_command("lm-eval")
def import_lm_eval_command(
    path: Annotated[Path, typer.Argument(help="lm-eval --output_path folder, a model folder in it, or one samples_<task>_<date>.jsonl file.")],
    override: ModelOverride,
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
    from qmr_core.importers.lm_eval import BenchmarkChoice, import_lm_eval

    choice = BenchmarkChoice.parse(benchmark, task)
    store = open_store(db, create=True)
    with console.status("importing and regrading ...", spinner="dots"):
        results = import_lm_eval(store, path, override, choice=choice)
    _print_imports(results, path, "lm-eval")


@import_command("inspect")
def import_inspect_command(
    path: Annotated[Path, typer.Argument(help="An Inspect AI log file (.eval, or .json).")],
    override: ModelOverride,
    benchmark: BenchmarkOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import an Inspect AI eval log of a MATH or GSM8K task: samples (every epoch), model, the exact input and
    Inspect's scores beside qmr's regrade. Reads .eval logs through Inspect's own API (pip install inspect-ai).

    Example: qmr import inspect logs/2026-11-27T13-21-28_gsm8k_abc.eval --benchmark gsm8k --db runs.duckdb
    """
    from qmr_core.importers.inspect_log import import_inspect

    store = open_store(db, create=True)
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
        table.add_row(escape(r.problem_id), str(r.sample_idx), escape(r.metric), "right" if r.tool_correct else "wrong",
                      escape(str(r.tool_answer)), "right" if r.qmr_correct else "wrong", escape(str(r.qmr_answer)),
                      escape(str(r.grade_rule)))
    console.print(table if rows else "[dim]no disagreements[/]")


@import_command("lighteval")
def import_lighteval_command(
    path: Annotated[Path, typer.Argument(help="lighteval --output-dir folder, a details folder in it, or one details_<task>_<date>.parquet file.")],
    override: ModelOverride,
    benchmark: Annotated[str | None, typer.Option("--benchmark", help="The qmr benchmark every task is (math, math500, gsm8k or a JSONL path); default: from the task name, else from the problems the documents quote.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import lighteval --save-details output (details parquet files) of MATH and GSM8K tasks: runs, problems,
    samples and steps, regraded by qmr's grader, with lighteval's own per-sample metric beside qmr's verdict.
    Re-importing the same files updates the same runs.

    Example: qmr import lighteval results/ --db runs.duckdb --base-model smollm2-135m --method gptq --bits 4
    """
    from qmr_core.importers.lighteval import import_lighteval

    store = open_store(db, create=True)
    with console.status("importing and regrading ...", spinner="dots"):
        results = import_lighteval(store, path, override, benchmark)
    _print_imports(results, path, "lighteval")
