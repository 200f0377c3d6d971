"""`qmr eval`, `qmr runs`, `qmr show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from qmr_core.api.evaluate import evaluate
from qmr_core.benchmarks.prompts import TEMPLATES
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, open_store, resolve_run
from qmr_core.cli.progress import RichProgress
from qmr_core.engines import ENGINES
from qmr_core.engines.base import Decoding
from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.runs import has_runs, list_run_ids, run_summaries
from qmr_core.store.samples import find_problem, sample_detail


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
    options = _engine_options(engine, model, db, base_url, concurrency, replicas, vllm_args, api_key_env, max_retries,
                              request_timeout, connect_retry_s)
    if batch_size is None:
        batch_size = 2 * (concurrency or 8) if engine == "openai" else 8
    store = open_store(db, create=True)
    with RichProgress() as progress:
        res = evaluate(store, model, benchmark, subjects=subject or (), levels=level or (), limit=limit, seed=seed,
                       prompt=prompt, decoding=decoding, batch_size=batch_size, engine=engine, device=device, dtype=dtype,
                       engine_options=options, progress=progress)
    console.print(
        f"run [bold]{res.run_id}[/]: {res.n} samples stored, accuracy {res.accuracy or 0:.1%}"
        + (f"; generated {res.generated} in {res.seconds:.0f} s ({res.tokens_per_s:.0f} tok/s)" if res.generated else "")
    )


def _engine_options(engine: str, model: str, db: Path, base_url: list[str] | None, concurrency: int | None, replicas: int,
                    vllm_args: str | None, api_key_env: str | None, max_retries: int, request_timeout: float,
                    connect_retry_s: float) -> dict:
    """What the served engines take from the command line (the hf engine takes nothing)."""
    if engine == "openai":
        return {"base_url": base_url, "concurrency": concurrency, "api_key_env": api_key_env,
                "max_retries": max_retries, "timeout_s": request_timeout, "connect_retry_s": connect_retry_s}
    if engine == "vllm":
        if base_url:
            raise QmrError("--engine vllm starts its own servers; for servers you started use --engine openai --base-url")
        return {"replicas": replicas, "vllm_args": vllm_args, "concurrency": concurrency, "max_retries": max_retries,
                "timeout_s": request_timeout, "log_stem": f"{db.expanduser().resolve()}.vllm", "model": model}
    return {}


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
