"""`qmr sensitivity`: quantize one layer / module kind at a time and measure the damage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, open_store, resolve_run
from qmr_core.errors import QmrError
from qmr_core.sensitivity.grid import SCOPES

if TYPE_CHECKING:
    from qmr_core.engines.hf import HFEngine

METHODS = ("rtn", "gptq")


def _check_method(method: str, bits: int | None, group_size: int | None, source: Path | None) -> None:
    """Everything about the quantizer that can be refused before the model is loaded."""
    if method not in METHODS:
        raise QmrError(f"unknown method '{method}'; choose from {', '.join(METHODS)}")
    if bits is not None and not 2 <= bits <= 8:
        raise QmrError(f"--bits must be 2..8, got {bits}")
    if group_size is not None and (group_size == 0 or group_size < -1):
        raise QmrError(f"--group-size must be positive or -1 (per channel), got {group_size}")
    if method == "rtn":
        if source is not None:
            raise QmrError("--from is for weights swapped in from a checkpoint (gptq); rtn quantizes on the fly")
        if bits is None:
            raise QmrError("--bits is required with --method rtn")
    elif source is None:
        raise QmrError(
            "--method gptq swaps in weights from a GPTQ checkpoint: make one with "
            "`qmr quantize --model M --method gptq --bits B --out DIR` and pass --from DIR"
        )


def _quantizer(method: str, bits: int | None, group_size: int | None, asym: bool, source: Path | None, model):
    from qmr_core.sensitivity import layers as sens
    from qmr_core.quant.rtn import RTNSpec, choose_group_size

    if method == "rtn":
        assert bits is not None  # _check_method requires --bits with rtn
        return sens.RTNQuantizer(RTNSpec(bits, group_size if group_size is not None else choose_group_size(model), not asym))
    assert source is not None  # _check_method requires --from with gptq
    q = sens.checkpoint_quantizer(source, method)
    if bits is not None and q.bits is not None and bits != q.bits:
        raise QmrError(f"--bits {bits} but the checkpoint {source} has {q.bits}-bit weights")
    return q


def _check_metric(metric: str) -> None:
    from qmr_core.sensitivity.table import METRICS

    if metric not in METRICS:
        raise QmrError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")


def _print_grid(store, sens_id: str | None, metric: str) -> None:
    from qmr_core.sensitivity.grid import load_grid
    from qmr_core.sensitivity.table import METRICS, extremes, grid_table

    _check_metric(metric)
    grid = load_grid(store, sens_id)
    info = grid.info
    group = info["group_size"]
    quant = f"{info['method']} w{info['bits']}" + (f" g{group}" if group and group > 0 else " per-channel" if group == -1 else "")
    title = f"{escape(info['model_id'])}, {quant}: {METRICS[metric]}"
    console.print(f"[bold]{title}[/]")
    console.print(grid_table(grid, metric))
    console.print(
        f"analysis {info['sens_id']}: {info['n_traces']} correct traces of run {info['trace_run_id']}, "
        f"{info['n_tokens']} output tokens; full-precision NLL {info['baseline_nll']:.3f}"
        + (f", accuracy {info['baseline_acc']:.0%} on {info['n_acc_problems']} problems" if info["baseline_acc"] is not None else "")
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
    from qmr_core.sensitivity.grid import list_analyses

    if list_all:
        store = open_store(db)
        table = Table(title="sensitivity analyses", header_style="bold")
        for col in ("id", "model", "method", "bits", "group", "traces", "tokens", "fp NLL", "configs", "max ΔNLL"):
            table.add_column(col)
        for r in list_analyses(store):
            table.add_row(r["sens_id"], escape(r["model_id"]), r["method"], str(r["bits"]), str(r["group_size"]),
                          str(r["n_traces"]), str(r["n_tokens"]), f"{r['baseline_nll']:.3f}", str(r["n_configs"]),
                          "-" if r["max_delta_nll"] is None else f"{r['max_delta_nll']:.3f}")
        console.print(table)
        return
    if show is not None:
        _print_grid(open_store(db), None if show == "latest" else show, metric)
        return
    if model is None:
        raise QmrError("pass --model to measure, or --show ID / --list to read stored analyses")
    if "@" in model:
        raise QmrError(f"--model takes the full-precision model; the quantizer comes from --method/--bits, not '{model}'")
    if traces < 1 or max_tokens < 1 or batch_size < 1 or accuracy < 0 or acc_tokens < 1:
        raise QmrError("--traces, --max-tokens, --batch-size and --acc-max-new-tokens must be positive, --accuracy >= 0")
    scopes = [s.strip() for s in scope.split(",") if s.strip()]
    bad = sorted(set(scopes) - set(SCOPES))
    if bad or not scopes:
        raise QmrError(f"unknown scope '{','.join(bad)}'; choose from {', '.join(SCOPES)}")
    _check_method(method, bits, group_size, source)
    _check_metric(metric)
    store = open_store(db)
    from qmr_core.sensitivity import layers as sens
    from qmr_core.engines import build_engine, model_ref_for
    from qmr_core.engines.base import Decoding
    from qmr_core.generate.evaluate import register_model
    from qmr_core.benchmarks.prompts import get_template
    from qmr_core.benchmarks.registry import Problem
    from qmr_core.store.queries import run_problem_rows

    ref = model_ref_for("hf", model)
    if ref.adapter is not None:
        raise QmrError(f"--model takes the full-precision model, not a recovery adapter ('{ref.name}')")
    run_id = resolve_run(store, run) if run else sens.pick_trace_run(store, ref.model_id)
    with console.status(f"loading {escape(ref.name)} ..."):
        engine = cast("HFEngine", build_engine("hf", ref, device=device))
    register_model(store, ref)
    quantizer = _quantizer(method, bits, group_size, asym, source, engine.model)
    acc_problems, template, decoding = [], None, None
    if accuracy:
        prompt = store.query("SELECT prompt_template FROM runs WHERE run_id = ?", [run_id])[0][0]
        template, decoding = get_template(prompt), Decoding(max_new_tokens=acc_tokens)
        acc_problems = [Problem.from_row(r) for r in run_problem_rows(store, run_id)[:accuracy]]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("measuring", total=None)

        def on_row(cfg, row, k, total) -> None:
            progress.update(task, total=total, completed=k, description=f"{cfg.label()}: ΔNLL {row.delta_nll:+.3f}")

        result = sens.analyze(store, engine, ref.model_id, quantizer, run_id, traces, max_tokens, scopes,
                              acc_problems, template, decoding, batch_size, on_row)
    if not result.replay:
        console.print("[yellow]note[/]: layer replay did not reproduce this model's logits; every configuration ran the full model")
    console.print(f"{len(result.rows) - result.reused} configurations measured in {result.seconds:.0f} s"
                  + (f" ({result.reused} already stored)" if result.reused else ""))
    _print_grid(store, result.sens_id, metric)
