"""`qmr quantize` and `qmr sweep`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qmr_core.api.quantize import SweepResult, describe, quantize, sweep
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, lazy_store, open_store
from qmr_core.cli.progress import RichProgress
from qmr_core.errors import QmrError
from qmr_core.quant.spec import BACKENDS, METHODS, default_spec


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
    extra = {} if act_bits is None else {"act_bits": act_bits}
    if method == "smoothquant" and group_size == 0:
        group_size = -1
    spec = default_spec(
        method, bits, group_size=group_size, symmetric=symmetric, act_order=act_order, smoothing_strength=smoothing_strength,
        backend=backend, calib=calib, n_samples=n_samples, seq_len=seq_len, seed=seed, **extra,
    )
    store = open_store(db, create=True)
    with RichProgress() as progress:
        qm = quantize(store, model, spec, out, exclude_benchmarks=exclude_benchmark, force=force, device=device,
                      progress=progress)
    console.print(f"[bold green]quantized[/] {escape(describe(qm))}")
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
    method_list = _csv(methods, str)
    bit_list = _csv(bits, int)
    with RichProgress() as progress:
        res = sweep(lazy_store(db, create=True), model, method_list, bit_list, benchmark, limit=limit, out_root=out_root, backend=backend,
                    group_size=group_size, calib=calib, n_samples=n_samples, seq_len=seq_len, seed=seed,
                    max_new_tokens=max_new_tokens, batch_size=batch_size, prompt=prompt, progress=progress)
    console.print(_grid_table(res, method_list, bit_list))
    console.print(f"sweep finished in {res.seconds:.0f} s; runs: [bold]qmr runs --db {escape(str(db))}[/]")
    if res.failures:
        raise QmrError(f"{res.failures} cell(s) failed (see the lines above)")


def _grid_table(res: SweepResult, methods: list[str], bits: list[int]) -> Table:
    acc = res.base_accuracy
    title = f"accuracy on {res.benchmark} ({res.n_problems} problems, {res.backend}); full precision {acc:.1%}" if acc is not None else None
    table = Table(title=title, header_style="bold")
    table.add_column("method")
    for b in bits:
        table.add_column(f"w{b}", justify="right")
    for method in methods:
        table.add_row(method, *[_cell_text(res, method, b) for b in bits])
    return table


def _cell_text(res: SweepResult, method: str, bits: int) -> str:
    cell = res.cell(method, bits)
    if cell is None:
        return "-"
    if cell.status != "ok":
        return cell.status
    return f"{cell.accuracy:.1%}" if cell.accuracy is not None else "-"
