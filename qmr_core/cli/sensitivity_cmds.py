"""`qmr sensitivity`: quantize one layer / module kind at a time and measure the damage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qmr_core.api.sensitivity import sensitivity
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, lazy_store, open_store
from qmr_core.cli.progress import RichProgress
from qmr_core.errors import QmrError
from qmr_core.sensitivity.grid import list_analyses, load_grid
from qmr_core.sensitivity.table import METRICS, extremes, grid_table
from qmr_core.store import Store


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise QmrError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")


def _print_grid(store: Store, sens_id: str | None, metric: str) -> None:
    _check_metric(metric)
    grid = load_grid(store, sens_id)
    info = grid.info
    group = info.group_size
    quant = f"{info.method} w{info.bits}" + (f" g{group}" if group and group > 0 else " per-channel" if group == -1 else "")
    title = f"{escape(info.model_id)}, {quant}: {METRICS[metric]}"
    console.print(f"[bold]{title}[/]")
    console.print(grid_table(grid, metric))
    console.print(
        f"analysis {info.sens_id}: {info.n_traces} correct traces of run {info.trace_run_id}, "
        f"{info.n_tokens} output tokens; full-precision NLL {info.baseline_nll:.3f}"
        + (f", accuracy {info.baseline_acc:.0%} on {info.n_acc_problems} problems" if info.baseline_acc is not None else "")
    )
    console.print(extremes(grid, metric))
    if metric == "delta_nll":
        console.print("[dim]dim cells: within two standard errors (clustered by trace) of zero[/]")


@app.command("sensitivity")
@cli_errors
def sensitivity_command(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Full-precision model (alias, folder, .gguf, hub id).")] = None,
    method: Annotated[str, typer.Option("--method", help="rtn (built in, fast) | gptq (weights from --from CHECKPOINT).")] = "rtn",
    bits: Annotated[int | None, typer.Option("--bits", "-b", help="Weight bits (2..8).")] = None,
    group_size: Annotated[int | None, typer.Option("--group-size", "-g", help="RTN group size; -1 per channel; default: largest of 128/64/32 that fits.")] = None,
    asym: Annotated[bool, typer.Option("--asym", help="Asymmetric RTN grid.")] = False,
    source: Annotated[Path | None, typer.Option("--from", help="Quantized checkpoint whose weights are swapped in (gptq).")] = None,
    run: Annotated[str | None, typer.Option("--run", "-r", help="Run whose correct traces are scored (default: the model's run with most).")] = None,
    traces: Annotated[int, typer.Option("--traces", "-n", help="Correct traces to score.")] = 8,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Output tokens scored per trace.")] = 256,
    scope: Annotated[str, typer.Option("--scope", help="Comma list of layers (each whole layer), kinds (each module kind in every layer), cells (each layer x kind: 7x more work).")] = "layers,kinds",
    accuracy: Annotated[int, typer.Option("--accuracy", help="Also measure greedy accuracy on N problems of the run (layers and kinds only; slow).")] = 0,
    acc_tokens: Annotated[int, typer.Option("--acc-max-new-tokens", help="Generation budget for --accuracy.")] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size", "-k")] = 8,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps")] = "auto",
    metric: Annotated[str, typer.Option("--metric", help="Table metric: delta_nll | out_err | weight_err | accuracy.")] = "delta_nll",
    show: Annotated[str | None, typer.Option("--show", help="Print a stored analysis (id or prefix; 'latest') instead of measuring.")] = None,
    list_all: Annotated[bool, typer.Option("--list", help="List stored analyses.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Quantize one decoder layer, one module kind, or one (layer, kind) cell at a time, the rest at full
    precision; measure the layer's relative output error and the NLL of the full-precision model's
    correct traces. Stored (resumable) and printed as a layer x module table.

    Example: qmr sensitivity --model smollm2-135m --method rtn --bits 3 --db qmr-demo.duckdb
    """
    if list_all:
        store = open_store(db)
        table = Table(title="sensitivity analyses", header_style="bold")
        for col in ("id", "model", "method", "bits", "group", "traces", "tokens", "fp NLL", "configs", "max ΔNLL"):
            table.add_column(col)
        for r in list_analyses(store):
            table.add_row(r.sens_id, escape(r.model_id), r.method, str(r.bits), str(r.group_size),
                          str(r.n_traces), str(r.n_tokens), f"{r.baseline_nll:.3f}", str(r.n_configs),
                          "-" if r.max_delta_nll is None else f"{r.max_delta_nll:.3f}")
        console.print(table)
        return
    if show is not None:
        _print_grid(open_store(db), None if show == "latest" else show, metric)
        return
    if model is None:
        raise QmrError("pass --model to measure, or --show ID / --list to read stored analyses")
    _check_metric(metric)
    opener = lazy_store(db)
    with RichProgress() as progress:
        result = sensitivity(opener, model, method, bits, group_size=group_size, asym=asym, source=source, run=run,
                             traces=traces, max_tokens=max_tokens, scopes=[s.strip() for s in scope.split(",") if s.strip()],
                             accuracy=accuracy, acc_max_new_tokens=acc_tokens, batch_size=batch_size, device=device,
                             progress=progress)
    if not result.replay:
        console.print("[yellow]note[/]: layer replay did not reproduce this model's logits; every configuration ran the full model")
    console.print(f"{len(result.rows) - result.reused} configurations measured in {result.seconds:.0f} s"
                  + (f" ({result.reused} already stored)" if result.reused else ""))
    _print_grid(opener(), result.sens_id, metric)
