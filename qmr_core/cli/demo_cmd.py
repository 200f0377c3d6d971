"""`qmr demo`: the whole loop on the bundled SmolLM2, on a laptop CPU, in minutes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from qmr_core.cli.common import app, cli_errors, console
from qmr_core.cli.eval_cmds import evaluate_model, load_selection, runs_table
from qmr_core.engines.base import Decoding
from qmr_core.store import Store

DEMO_MODELS = ("smollm2-135m", "smollm2-135m@rtn-w4g64", "smollm2-135m@rtn-w3g64")


@app.command("demo")
@cli_errors
def demo_command(
    db: Annotated[Path, typer.Option("--db", help="Store to write.")] = Path("qmr-demo.duckdb"),
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Use only the first N bundled problems.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-t", help="Generation budget per sample.")] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size", "-k")] = 16,
) -> None:
    """Evaluate SmolLM2-135M at full precision and as 4- and 3-bit RTN copies on qmr's own problem set.

    Writes qmr-demo.duckdb, prints the accuracy table and the command that opens the TUI.
    Re-running resumes: finished samples are not generated again.

    Example: qmr demo --db qmr-demo.duckdb
    """
    started = time.perf_counter()
    store = Store(db, create=True)
    name, problems = load_selection("sample", limit=limit)
    console.print(f"[bold]qmr demo[/]: {len(problems)} problems x {len(DEMO_MODELS)} models -> {db}")
    decoding = Decoding(max_new_tokens=max_new_tokens)
    for model in DEMO_MODELS:
        evaluate_model(store, model, name, problems, "steps", decoding, batch_size)
    console.print(runs_table(store, title="accuracy on the bundled problem set"))
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s")
    console.print(f"look at a sample:  [bold]qmr show RUN PROBLEM --db {db}[/]   query:  [bold]qmr sql \"SELECT ...\" --db {db}[/]")
