"""`qmr quantize` and `qmr sweep`."""

from __future__ import annotations

import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from qmr_core.benchmarks.registry import Problem, load_benchmark
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, open_store
from qmr_core.cli.eval_cmds import evaluate_model, load_selection
from qmr_core.engines.base import Decoding
from qmr_core.errors import QmrError
from qmr_core.models.registry import resolve_model
from qmr_core.paths import cache_dir
from qmr_core.quant.library_output import library_output_to
from qmr_core.quant.spec import BACKENDS, METHODS, QuantSpec, default_spec
from qmr_core.store import Store
from qmr_core.store.runs import run_summary

if TYPE_CHECKING:
    from qmr_core.quant.api import QuantizedModel

DEFAULT_HOLDOUT = ("math500",)

MethodOpt = Annotated[str, typer.Option("--method", help=f"{' | '.join(METHODS)}.")]
BitsOpt = Annotated[int, typer.Option("--bits", "-w", help="Weight bits, 2-8 (smoothquant: 8).")]
GroupOpt = Annotated[
    int, typer.Option("--group-size", "-g", help="Group size; -1 per channel; 0 (default): 128 if it divides every layer width, else 64, else 32.")
]
ActBitsOpt = Annotated[int | None, typer.Option("--act-bits", help="8 = dynamic per-token int8 activations (W8A8; smoothquant's default).")]
SymOpt = Annotated[bool | None, typer.Option("--symmetric/--asymmetric", help="Default: asymmetric for awq, symmetric otherwise.")]
ActOrderOpt = Annotated[bool, typer.Option("--act-order", help="GPTQ: quantize columns by decreasing activation size.")]
AlphaOpt = Annotated[float, typer.Option("--smoothing-strength", help="SmoothQuant migration strength alpha.")]
BackendOpt = Annotated[str, typer.Option("--backend", help=f"{' | '.join(BACKENDS)}.")]
CalibOpt = Annotated[
    str, typer.Option("--calib", help="math (held-out MATH problems) | self (the model's own traces on them) | text | text:PATH.")
]
SamplesOpt = Annotated[int, typer.Option("--n-samples", help="Calibration samples.")]
SeqLenOpt = Annotated[int, typer.Option("--seq-len", help="Tokens per calibration sample (truncated).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for choosing calibration samples.")]
HoldoutOpt = Annotated[
    list[str] | None,
    typer.Option("--exclude-benchmark", help="Keep this benchmark's problems out of math/self calibration (repeatable; default math500 when present)."),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="Device for --calib self generation: auto | cpu | cuda.")]


def holdout_problems(benchmarks: list[str], required: bool) -> tuple[list[Problem], list[str]]:
    """Problems to keep out of calibration. Missing default benchmarks are skipped and reported."""
    problems: list[Problem] = []
    missing: list[str] = []
    for name in benchmarks:
        try:
            problems += load_benchmark(name)
        except QmrError:
            if required:
                raise
            missing.append(name)
    return problems, missing


def _progress(term: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("layers"),
        TimeElapsedColumn(),
        console=term,
        transient=True,
    )


def run_quantize(
    model: str, spec: QuantSpec, out: Path, exclude: list[Problem], force: bool = False, device: str = "auto"
) -> QuantizedModel:
    """quantize() with library output sent to a log and a progress bar over layers on the terminal."""
    from qmr_core.engines.self_answers import EngineSelfAnswers
    from qmr_core.quant.api import quantize

    out = out.expanduser().resolve()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = cache_dir() / "logs" / f"quantize-{out.name}-{stamp}.log"
    try:
        with library_output_to(log_path) as term, _progress(term) as progress:
            task = progress.add_task(f"{spec.method} w{spec.bits} ({spec.backend})", total=None)

            def on_stage(text: str) -> None:
                progress.update(task, description=f"{spec.tag} ({spec.backend}): {text}")
                with log_path.open("a", encoding="utf-8") as fh:  # the stages frame the libraries' output
                    fh.write(f"[qmr {datetime.now():%H:%M:%S}] {text}\n")

            def on_layer(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            qm = quantize(model, spec, out, exclude=exclude, force=force, on_layer=on_layer, on_stage=on_stage, device=device,
                          self_answers=EngineSelfAnswers)
    except QmrError:
        raise
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a library failed: one line here, the traceback in the log
        with log_path.open("a", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise QmrError(f"{spec.backend} failed on {spec.tag}: {type(exc).__name__}: {first} (full log: {log_path})") from exc
    try:
        log_path.replace(qm.out_dir / "quantize.log")
    except OSError:
        pass
    return qm


def _describe(qm: QuantizedModel) -> str:
    errs = list(qm.layer_errors.values())
    mean_err = f"{sum(errs) / len(errs):.2%}" if errs else "-"
    return (
        f"{qm.spec.tag} via {qm.backend} ({qm.checkpoint_format}): {qm.quant_seconds:.1f} s, "
        f"peak RSS {qm.peak_rss_bytes / 2**30:.2f} GiB, weights {qm.weights_bytes / 2**20:.1f} MiB "
        f"({qm.size_bytes / 2**20:.1f} MiB on disk), mean layer error {mean_err} over {len(errs)} layers"
    )


@app.command("quantize")
@cli_errors
def quantize_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Alias (smollm2-135m), float checkpoint folder, .gguf file or hub id.")],
    method: MethodOpt,
    bits: BitsOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the quantized checkpoint (must be empty or absent).")],
    group_size: GroupOpt = 0,
    act_bits: ActBitsOpt = None,
    symmetric: SymOpt = None,
    act_order: ActOrderOpt = False,
    smoothing_strength: AlphaOpt = 0.8,
    backend: BackendOpt = "llmcompressor",
    calib: CalibOpt = "math",
    n_samples: SamplesOpt = 64,
    seq_len: SeqLenOpt = 256,
    seed: SeedOpt = 0,
    exclude_benchmark: HoldoutOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out folder.")] = False,
    device: DeviceOpt = "auto",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Quantize a model with a maintained library, write a checkpoint and record its full recipe in the store.

    The checkpoint evaluates with `qmr eval --model DIR`. Library output goes to DIR/quantize.log.

    Example: qmr quantize --model smollm2-135m --method gptq --bits 4 --group-size 64 --out ckpt/smollm2-gptq-w4g64 --db runs.duckdb
    """
    from qmr_core.quant.api import register_quantized

    extra = {} if act_bits is None else {"act_bits": act_bits}
    if method == "smoothquant" and group_size == 0:
        group_size = -1
    spec = default_spec(
        method, bits, group_size=group_size, symmetric=symmetric, act_order=act_order, smoothing_strength=smoothing_strength,
        backend=backend, calib=calib, n_samples=n_samples, seq_len=seq_len, seed=seed, **extra,
    )
    store = open_store(db, create=True)
    exclude, missing = holdout_problems(exclude_benchmark or list(DEFAULT_HOLDOUT), required=exclude_benchmark is not None)
    if spec.calib_kind in ("math", "self") and missing:
        err_console.print(f"[yellow]note[/]: {', '.join(missing)} not found; nothing excluded for it from calibration")
    qm = run_quantize(model, spec, out, exclude, force=force, device=device)
    register_quantized(store, qm, base_source=resolve_model(model).source)
    console.print(f"[bold green]quantized[/] {escape(_describe(qm))}")
    console.print(f"model id [bold]{qm.model_id}[/] -> {escape(str(qm.out_dir))}")
    console.print(f"evaluate it:  [bold]qmr eval --model {escape(str(qm.out_dir))} --db {escape(str(db))}[/]")


# -- sweep ----------------------------------------------------------------------------------------


def _csv(text: str, kind: type) -> list:
    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise QmrError(f"cannot read the list '{text}'") from None
    if not values:
        raise QmrError(f"empty list '{text}'")
    return values


def _cell_spec(method: str, bits: int, backend: str, group_size: int, calib: str, n_samples: int, seq_len: int, seed: int) -> QuantSpec:
    group = -1 if method == "smoothquant" and group_size == 0 else group_size
    return default_spec(method, bits, group_size=group, backend=backend, calib=calib, n_samples=n_samples, seq_len=seq_len, seed=seed)


def _matching_checkpoint(out_dir: Path, spec: QuantSpec, base_model_id: str) -> QuantizedModel | None:
    from qmr_core.quant.api import load_quantized

    qm = load_quantized(out_dir)
    if qm is None:
        if out_dir.exists() and any(out_dir.iterdir()):
            raise QmrError(f"{out_dir} exists but holds no finished qmr checkpoint; remove it or pick another --out-root")
        return None
    if qm.spec.as_dict() != spec.as_dict() or qm.base_model_id != base_model_id:
        raise QmrError(f"{out_dir} holds a different recipe ({qm.spec.tag} of {qm.base_model_id}); remove it or pick another --out-root")
    return qm


def _accuracy(store: Store, run_id: str) -> tuple[float | None, int]:
    row = run_summary(store, run_id)
    return (row.accuracy, row.n) if row else (None, 0)


@app.command("sweep")
@cli_errors
def sweep_command(
    model: Annotated[str, typer.Option("--model", "-m", help="The full-precision model to quantize.")],
    methods: Annotated[str, typer.Option("--methods", help="Comma list of rtn,gptq,awq,smoothquant.")] = "rtn,gptq,awq",
    bits: Annotated[str, typer.Option("--bits", help="Comma list of weight bits.")] = "2,3,4,8",
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="math | math500 | gsm8k | sample, or a JSONL path.")] = "sample",
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="First N problems.")] = None,
    out_root: Annotated[Path, typer.Option("--out-root", help="Folder for the checkpoints, one subfolder per cell.")] = Path("checkpoints"),
    backend: BackendOpt = "llmcompressor",
    group_size: GroupOpt = 0,
    calib: CalibOpt = "math",
    n_samples: SamplesOpt = 64,
    seq_len: SeqLenOpt = 256,
    seed: SeedOpt = 0,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-t", help="Generation budget per sample.")] = 512,
    batch_size: Annotated[int, typer.Option("--batch-size", "-k", help="Sequences decoded together.")] = 8,
    prompt: Annotated[str, typer.Option("--prompt", help="Prompt template.")] = "steps",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Quantize and evaluate every (method, bits) cell, then print the accuracy grid. Resumable.

    Cells whose checkpoint exists with the same recipe are not quantized again, and finished runs are
    not generated again. Cells a backend cannot do (e.g. 2-bit smoothquant) show n/a.

    Example: qmr sweep --model smollm2-135m --methods rtn,gptq,awq --bits 3,4,8 --benchmark sample --limit 20 --db sweep.duckdb
    """
    from qmr_core.quant.api import register_quantized, resolve_group, source_folder

    method_list = _csv(methods, str)
    bit_list = _csv(bits, int)
    for m in method_list:
        if m not in METHODS:
            raise QmrError(f"unknown method '{m}' (choose from {', '.join(METHODS)})")
    started = time.perf_counter()
    store = open_store(db, create=True)
    bench_name, problems = load_selection(benchmark, limit=limit)
    exclude, _ = holdout_problems([benchmark, *[b for b in DEFAULT_HOLDOUT if b != benchmark]], required=False)
    base = resolve_model(model)
    folder = source_folder(base)
    out_root = out_root.expanduser().resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    decoding = Decoding(max_new_tokens=max_new_tokens)
    console.print(f"[bold]sweep[/] {escape(base.name)}: {len(method_list)} methods x {len(bit_list)} bit widths on {bench_name} ({len(problems)} problems)")
    base_run, _ = evaluate_model(store, model, bench_name, problems, prompt, decoding, batch_size)
    grid: dict[tuple[str, int], str] = {}
    failures = 0
    for method in method_list:
        for b in bit_list:
            try:
                spec = _cell_spec(method, b, backend, group_size, calib, n_samples, seq_len, seed)
                spec, _ = resolve_group(spec, folder)
            except QmrError as exc:
                grid[(method, b)] = "n/a"
                console.print(f"[dim]{method} w{b}: n/a ({escape(str(exc))})[/]")
                continue
            out_dir = out_root / f"{base.name}-{spec.tag}-{backend}"
            try:
                qm = _matching_checkpoint(out_dir, spec, base.model_id)
                if qm is None:
                    console.print(f"[bold]{spec.tag}[/]: quantizing with {backend} -> {escape(str(out_dir))}")
                    qm = run_quantize(model, spec, out_dir, exclude)
                    console.print(f"  {escape(_describe(qm))}")
                else:
                    console.print(f"[bold]{spec.tag}[/]: checkpoint with this recipe exists, not quantized again")
                register_quantized(store, qm, base_source=base.source)
                run_id, _ = evaluate_model(store, str(out_dir), bench_name, problems, prompt, decoding, batch_size)
                acc, n = _accuracy(store, run_id)
                grid[(method, b)] = f"{acc:.1%}" if acc is not None else "-"
            except QmrError as exc:
                failures += 1
                grid[(method, b)] = "failed"
                err_console.print(f"[bold red]error:[/] {method} w{b}: {escape(str(exc))}")
    acc, n = _accuracy(store, base_run)
    table = Table(title=f"accuracy on {bench_name} ({len(problems)} problems, {backend}); full precision {acc:.1%}" if acc is not None else None, header_style="bold")
    table.add_column("method")
    for b in bit_list:
        table.add_column(f"w{b}", justify="right")
    for method in method_list:
        table.add_row(method, *[grid.get((method, b), "-") for b in bit_list])
    console.print(table)
    console.print(f"sweep finished in {time.perf_counter() - started:.0f} s; runs: [bold]qmr runs --db {escape(str(db))}[/]")
    if failures:
        raise QmrError(f"{failures} cell(s) failed (see the lines above)")
