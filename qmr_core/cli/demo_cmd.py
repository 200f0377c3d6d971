"""`qmr demo`: the whole loop on the bundled SmolLM2, on a laptop CPU, in minutes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from qmr_core.api.analysis import compare, diagnose
from qmr_core.api.evaluate import evaluate, load_selection
from qmr_core.cli.common import app, cli_errors, console
from qmr_core.cli.eval_cmds import runs_table
from qmr_core.cli.progress import RichProgress
from qmr_core.store import Store

DEMO_MODELS = ("smollm2-135m", "smollm2-135m@rtn-w4g64", "smollm2-135m@rtn-w3g64")


@app.command("demo")
@cli_errors
def demo_command(
    db: Annotated[Path, typer.Option("--db", help="Store to write.")] = Path("qmr-demo.duckdb"),
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Use only the first N bundled problems.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-t", help="Generation budget per sample (the full-precision model's correct answers take under 60 tokens).")] = 96,
    batch_size: Annotated[int, typer.Option("--batch-size", "-k")] = 16,
) -> None:
    """Evaluate SmolLM2-135M (fp32, dequantized from the package's Q4_1 GGUF) and 4- and 3-bit RTN copies of it.

    Then pairs each quantized run with the full-precision one (lost / gained problems), checks the
    arithmetic of every lost problem's trace with the symbolic step checker, and finds the first token where
    the quantized model's greedy choice departs from the full-precision trace (teacher forcing); `qmr diagnose`
    does the same for every failing sample.
    Writes qmr-demo.duckdb, prints the accuracy table and the command that opens the TUI.
    Re-running resumes: finished samples are not generated again.

    Example: qmr demo --db qmr-demo.duckdb
    """
    started = time.perf_counter()
    store = Store(db, create=True)
    with RichProgress() as progress:
        chosen = load_selection("sample", limit=limit, progress=progress)
        console.print(f"[bold]qmr demo[/]: {len(chosen.problems)} problems x {len(DEMO_MODELS)} models -> {db}")
        run_ids = [evaluate(store, model, chosen.benchmark, problems=chosen.problems, max_new_tokens=max_new_tokens,
                            batch_size=batch_size, progress=progress).run_id for model in DEMO_MODELS]
    console.print(runs_table(store, title="accuracy on the bundled problem set"))
    base, quants = run_ids[0], run_ids[1:]
    for quant in quants:
        summary = compare(store, quant, base)[0]
        console.print(
            f"compare {base} -> {quant}: lost {summary.counts.get('lost', 0)}, gained {summary.counts.get('gained', 0)}, "
            f"accuracy {summary.acc_base:.1%} -> {summary.acc_quant:.1%}"
        )
        with console.status(f"diagnosing {quant}: symbolic step checker and teacher forcing ..."):
            diagnose(store, quant, base, ("symbolic",), only_lost=True, batch_size=batch_size)
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s")
    console.print(f"browse the failures:   [bold]qmr tui --db {db}[/]")
    console.print(f"error types:           [bold]qmr errors --db {db}[/]")
    console.print(f"an LLM judge as well:  [bold]qmr diagnose --run {quants[-1]} --judge hf:smollm2-135m --db {db}[/]")
