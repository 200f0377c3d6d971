"""`qmr eval`, `qmr runs`, `qmr show`."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from qmr_core.benchmarks.registry import LoadReport, Problem, load_benchmark, select
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, open_store, resolve_run
from qmr_core.engines import ENGINES, build_engine, engine_key, model_ref_for
from qmr_core.engines.base import Decoding
from qmr_core.errors import QmrError
from qmr_core.generate.evaluate import BatchStats, execute_run, finish_run, mark_complete, plan_run, register_model, start_run, store_problems
from qmr_core.benchmarks.prompts import TEMPLATES, get_template
from qmr_core.store import Store, lease
from qmr_core.store.runs import has_runs, list_run_ids, run_summaries
from qmr_core.store.samples import find_problem, sample_detail


def load_selection(
    benchmark: str,
    subjects: list[str] | None = None,
    levels: list[int] | None = None,
    limit: int | None = None,
    seed: int | None = None,
) -> tuple[str, list[Problem]]:
    report = LoadReport(benchmark)
    problems = load_benchmark(benchmark, report)
    for line in report.skipped[:20]:
        err_console.print(f"[yellow]skipped[/] {escape(line)}", highlight=False)
    if len(report.skipped) > 20:
        err_console.print(f"[yellow]skipped[/] ... and {len(report.skipped) - 20} more rows")
    chosen = select(problems, subjects or (), levels or (), limit, seed)
    if not chosen:
        raise QmrError(f"no problems of '{benchmark}' match the filters")
    return problems[0].benchmark, chosen


def evaluate_model(
    store: Store,
    model: str,
    benchmark_name: str,
    problems: list[Problem],
    template: str = "steps",
    decoding: Decoding | None = None,
    batch_size: int = 8,
    engine: str = "hf",
    device: str = "auto",
    dtype: str = "auto",
    engine_options: dict | None = None,
    quiet: bool = False,
    parent_run_id: str | None = None,
) -> tuple[str, BatchStats]:
    """Plan, load the model only if something is pending, run with a progress bar. Returns (run_id, stats)."""
    decoding = decoding or Decoding()
    if batch_size < 1:
        raise QmrError("--batch-size must be >= 1")
    ref = model_ref_for(engine, model, engine_options)
    key = engine_key(engine, device=device, dtype=dtype, options=engine_options)
    tmpl = get_template(template)
    store_problems(store, problems)
    plan = plan_run(store, ref, benchmark_name, problems, tmpl, decoding, key)
    label = f"{ref.name} on {benchmark_name}"
    if plan.pending:  # take the run's lease (refused while a live process generates it); re-plan under it
        lease.acquire(store, plan.run_id)
        plan = plan_run(store, ref, benchmark_name, problems, tmpl, decoding, key)
        if not plan.pending:
            lease.release(store, plan.run_id)
    if not plan.pending:
        if not quiet:
            console.print(f"run [bold]{plan.run_id}[/] ({escape(label)}): all {len(problems) * decoding.n_samples} samples already stored; nothing to generate")
        register_model(store, ref)
        mark_complete(store, plan.run_id)
        return plan.run_id, BatchStats()
    loading = f"loading {escape(ref.name)} ..."
    if engine == "vllm":
        loading = f"starting vLLM for {escape(ref.name)} (minutes on CPU; log: {escape(str((engine_options or {}).get('log_stem')))}-*.log) ..."
    try:
        with console.status(loading, spinner="dots"):
            eng = build_engine(engine, ref, device=device, dtype=dtype, options=engine_options)
    except BaseException:
        lease.release(store, plan.run_id)
        raise
    try:
        return _run_with_progress(store, plan, eng, ref, problems, decoding, batch_size, quiet, parent_run_id)
    finally:
        lease.release(store, plan.run_id)
        if hasattr(eng, "close"):  # served engines: connections; --engine vllm: its servers
            eng.close()


def _run_with_progress(store: Store, plan, eng, ref, problems: list[Problem], decoding: Decoding, batch_size: int,
                       quiet: bool, parent_run_id: str | None) -> tuple[str, BatchStats]:
    label = f"{ref.name} on {plan.benchmark}"
    extra: dict = {}
    if layer_errors := getattr(eng, "layer_errors", None):
        extra["layer_errors_json"] = json.dumps(layer_errors)
    if hasattr(eng, "model"):
        extra["n_params"] = sum(p.numel() for p in eng.model.parameters())
    register_model(store, ref, extra)
    start_run(store, plan, eng.describe() | {"batch_size": batch_size}, parent_run_id=parent_run_id)
    done_before = len(problems) * decoding.n_samples - len(plan.pending)
    if not quiet:
        console.print(
            f"run [bold]{plan.run_id}[/]: {escape(label)}, {len(plan.pending)} samples to generate"
            + (f" ({done_before} already stored)" if done_before else "")
        )
    columns = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[acc]}"),
        TextColumn("{task.fields[tps]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    status = "failed"
    try:
        with Progress(*columns, console=console, transient=quiet, disable=quiet) as progress:
            task = progress.add_task(ref.name[:32], total=len(plan.pending), acc="-", tps="-")

            def on_batch(stats: BatchStats) -> None:
                progress.update(
                    task, completed=stats.done, acc=f"{stats.accuracy:.1%}", tps=f"{stats.tokens_per_s:.0f}"
                )
                lease.renew(store, plan.run_id)

            stats = execute_run(store, plan, eng, batch_size=batch_size, on_batch=on_batch)
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        finish_run(store, plan.run_id, status)
    return plan.run_id, stats


@app.command("eval")
@cli_errors
def eval_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Alias (smollm2-135m), checkpoint folder, .gguf file or hub id; append @rtn-w4g64 for built-in RTN.")],
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="math | math500 | gsm8k | sample, or a JSONL path.")] = "sample",
    subject: Annotated[list[str] | None, typer.Option("--subject", help="Keep only this subject (repeatable).")] = None,
    level: Annotated[list[int] | None, typer.Option("--level", help="Keep only this level 1-5 (repeatable).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="First N problems (after --seed shuffling).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Shuffle the selection with this seed before --limit.")] = None,
    prompt: Annotated[str, typer.Option("--prompt", help=f"Prompt template: {', '.join(TEMPLATES)}.")] = "steps",
    batch_size: Annotated[int | None, typer.Option("--batch-size", "-k", help="Sequences decoded together (default 8; openai engine: 2 x --concurrency requests per batch).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-t", help="Generation budget per sample.")] = 512,
    temperature: Annotated[float, typer.Option("--temperature", help="0 = greedy (default).")] = 0.0,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling when --temperature > 0.")] = 1.0,
    samples: Annotated[int, typer.Option("--samples", help="Samples per problem (sampling mode); pass@1 is averaged.")] = 1,
    sampling_seed: Annotated[int, typer.Option("--sampling-seed", help="Seed for sampling mode.")] = 0,
    engine: Annotated[str, typer.Option("--engine", help=f"Inference engine: {', '.join(ENGINES)}.")] = "hf",
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:N].")] = "auto",
    dtype: Annotated[str, typer.Option("--dtype", help="auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16 (on CPU: opt-in, needs AVX512-BF16 or AMX) | float16.")] = "auto",
    base_url: Annotated[list[str] | None, typer.Option("--base-url", help="openai engine: server URL, e.g. http://127.0.0.1:8000/v1 (or $QMR_OPENAI_BASE_URL); repeat it to spread requests over several servers.")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="openai/vllm engine: requests in flight at once per server (default 8; vllm 128).")] = None,
    replicas: Annotated[int, typer.Option("--replicas", help="vllm engine: servers to start (the visible GPUs are split evenly between them).")] = 1,
    vllm_args: Annotated[str | None, typer.Option("--vllm-args", help='vllm engine: flags for the vLLM server, e.g. "--tensor-parallel-size 2 --max-model-len 8192".')] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="openai engine: environment variable that holds the API key (default: OPENAI_API_KEY if set).")] = None,
    max_retries: Annotated[int, typer.Option("--max-retries", help="openai engine: retries per request on connection errors, timeouts, 429 and 5xx (exponential backoff).")] = 6,
    request_timeout: Annotated[float, typer.Option("--request-timeout", help="openai engine: seconds to wait for one completion.")] = 600.0,
    connect_retry_s: Annotated[float, typer.Option("--connect-retry-s", help="openai engine: how long to keep retrying a refused connection (nobody listening) before failing.")] = 5.0,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Evaluate a model on a benchmark; every sample, its steps and timings go to the store. Resumable.

    With --engine openai, --model is the name the server serves (vLLM, SGLang, llama.cpp, transformers serve),
    e.g. qmr eval --engine openai --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct -b math500 --concurrency 64

    With --engine vllm, qmr starts vLLM ($QMR_VLLM names its environment) for the model and stops it afterwards,
    e.g. qmr eval --engine vllm --model smollm2-135m -b sample --vllm-args "--max-model-len 4096"

    Example: qmr eval --model smollm2-135m --benchmark math500 --limit 20 --db runs.duckdb
    """
    if temperature < 0 or not 0 < top_p <= 1 or samples < 1 or max_new_tokens < 1:
        raise QmrError("need --temperature >= 0, 0 < --top-p <= 1, --samples >= 1, --max-new-tokens >= 1")
    if (batch_size is not None and batch_size < 1) or (concurrency is not None and concurrency < 1):
        raise QmrError("--batch-size and --concurrency must be >= 1")
    if temperature == 0 and samples > 1:
        raise QmrError("--samples > 1 needs --temperature > 0 (greedy decoding gives identical samples)")
    decoding = Decoding(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n_samples=samples, seed=sampling_seed)
    options: dict = {}
    if engine == "openai":
        options = {"base_url": base_url, "concurrency": concurrency, "api_key_env": api_key_env,
                   "max_retries": max_retries, "timeout_s": request_timeout, "connect_retry_s": connect_retry_s}
    elif engine == "vllm":
        if base_url:
            raise QmrError("--engine vllm starts its own servers; for servers you started use --engine openai --base-url")
        options = {"replicas": replicas, "vllm_args": vllm_args, "concurrency": concurrency, "max_retries": max_retries,
                   "timeout_s": request_timeout, "log_stem": f"{db.expanduser().resolve()}.vllm", "model": model}
    if batch_size is None:
        batch_size = 2 * (concurrency or 8) if engine == "openai" else 8
    store = open_store(db, create=True)
    name, problems = load_selection(benchmark, subject, level, limit, seed)
    started = time.perf_counter()
    run_id, stats = evaluate_model(
        store, model, name, problems, prompt, decoding, batch_size, engine, device, dtype, options
    )
    summary = next(r for r in run_summaries(store) if r.run_id == run_id)
    console.print(
        f"run [bold]{run_id}[/]: {summary.n} samples stored, accuracy {summary.accuracy or 0:.1%}"
        + (f"; generated {stats.done} in {time.perf_counter() - started:.0f} s ({stats.tokens_per_s:.0f} tok/s)" if stats.done else "")
    )


def runs_table(store: Store, title: str | None = None) -> Table:
    table = Table(title=title, header_style="bold")
    for col in ("run", "model", "quantization", "benchmark", "prompt", "n", "accuracy", "format", "status"):
        table.add_column(col, justify="right" if col in ("n", "accuracy", "format") else "left")
    for r in run_summaries(store):
        table.add_row(
            r.run_id,
            escape(r.model),
            r.quant,
            r.benchmark,
            r.prompt_template,
            str(r.n),
            f"{r.accuracy:.1%}" if r.accuracy is not None else "-",
            f"{r.format_rate:.0%}" if r.format_rate is not None else "-",
            r.status,
        )
    return table


@app.command("runs")
@cli_errors
def runs_command(db: DbOption = DEFAULT_DB) -> None:
    """List runs: model, quantization, benchmark, n, accuracy, step-format compliance, status.

    Example: qmr runs --db qmr-demo.duckdb
    """
    store = open_store(db, write=False)
    if not has_runs(store):
        console.print(f"no runs in {db} yet")
        return
    console.print(runs_table(store))


@app.command("show")
@cli_errors
def show_command(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    problem_id: Annotated[str, typer.Argument(help="Problem id, e.g. math500/test/algebra/1.json (a unique suffix works).")],
    sample: Annotated[int, typer.Option("--sample", help="Sample index (sampling mode).")] = 0,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Show one sample: problem, steps, extracted answer, gold answer and verdict.

    Example: qmr show 3f2a sample/sample/algebra/1 --db qmr-demo.duckdb
    """
    store = open_store(db, write=False)
    run_id = resolve_run(store, run)
    row = sample_detail(store, run_id, find_problem(store, run_id, sample, problem_id), sample)
    head = f"{row.problem_id}  ({row.subject or '-'}, level {row.level or '-'})"
    console.print(Panel(escape(row.problem), title=escape(head), title_align="left"))
    for idx, text in row.steps:
        console.print(f"[bold cyan]{idx + 1:>3}[/] {escape(text)}", highlight=False)
    verdict = "[green]correct[/]" if row.correct else "[red]wrong[/]"
    console.print(
        f"\nextracted: [bold]{escape(str(row.extracted_answer))}[/] ({row.extract_method})   "
        f"gold: [bold]{escape(row.answer)}[/]   verdict: {verdict} ({row.grade_rule}, {row.grader_version})"
    )
    console.print(
        f"steps: {row.n_steps} ({row.step_format})  tokens: {row.n_tokens if row.n_tokens is not None else '-'}  "
        f"finish: {row.finish_reason or '-'}  "
        "latency: " + (f"{row.latency_ms / 1000:.1f} s" if row.latency_ms is not None else "-"),  # imports lack it
        style="dim",
    )


@app.command("regrade")
@cli_errors
def regrade_command(
    run: Annotated[list[str] | None, typer.Argument(help="Run ids or prefixes (default: every run).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change without writing.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Re-grade stored samples with the current grader and report which verdicts changed.

    Example: qmr regrade 3f2a --db qmr-demo.duckdb
    """
    from qmr_core.grading import GRADER_VERSION
    from qmr_core.regrade import regrade_run

    store = open_store(db)
    run_ids = [resolve_run(store, r) for r in run] if run else list_run_ids(store)
    table = Table(header_style="bold", title=f"regraded with {GRADER_VERSION}" + (" (dry run)" if dry_run else ""))
    for col in ("run", "samples", "was graded by", "now right", "now wrong", "extraction changed"):
        table.add_column(col)
    flips: list[str] = []
    for run_id in run_ids:
        rep = regrade_run(store, run_id, write=not dry_run)
        table.add_row(run_id, str(rep.n), ", ".join(sorted(rep.old_versions)) or "-", str(len(rep.now_correct)),
                      str(len(rep.now_wrong)), str(rep.extraction_changed))
        flips += [f"{run_id} {f.describe()}" for f in rep.flips]
    console.print(table)
    if flips:
        console.print(f"{len(flips)} flipped verdict(s) (run problem: before -> after, answer, rule):")
    for line in flips:
        console.print(f"  {escape(line)}", soft_wrap=True)
