"""`qmr tui` and `qmr serve-tui`: the Textual browser (imported only inside the commands)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console
from qmr_core.errors import QmrError
from qmr_core.store import READER_WARM_HOLD_S, Store


def _check_store(db: Path) -> Store:
    """Fail with one line before the full-screen app starts: missing, foreign or newer stores."""
    if not db.exists():
        raise QmrError(f"no qmr store at {db} (run `qmr eval` or `qmr demo --db {db}` to create one)")
    return Store(db, create=False, write=False, keep_warm_s=READER_WARM_HOLD_S)


@app.command("tui")
@cli_errors
def tui_command(
    db: DbOption = DEFAULT_DB,
    run: Annotated[str | None, typer.Option("--run", help="Open this run's comparison at once (a quantized run, or a base run with all its quantized copies).")] = None,
) -> None:
    """Browse full-precision vs quantized traces side by side, error steps highlighted (Textual).

    Runs -> failures -> trace; press ? in the app for keys. Works from 80x24; verdicts are saved
    next to the store in <store>.annotations.duckdb.

    Example: qmr tui --db qmr-demo.duckdb
    """
    store = _check_store(db)
    from qmr_tui.app import QmrApp

    QmrApp(db, run=run, store=store).run()


@app.command("serve-tui")
@cli_errors
def serve_tui_command(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (keep localhost and tunnel over SSH).")] = "localhost",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    run: Annotated[str | None, typer.Option("--run", help="Open this run's comparison at once.")] = None,
) -> None:
    """Serve the browser to a web browser with textual-serve (one app process per browser tab).

    Needs the optional package: pip install textual-serve. Over SSH: ssh -L 8000:localhost:8000 HOST.

    Example: qmr serve-tui --db qmr-demo.duckdb --port 8000
    """
    _check_store(db)
    try:
        from textual_serve.server import Server
    except ImportError as exc:
        raise QmrError("qmr serve-tui needs textual-serve: pip install textual-serve (or run: textual serve \"qmr tui --db ...\")") from exc
    command = [sys.executable, "-m", "qmr_core.cli", "tui", "--db", str(db.resolve())]
    if run:
        command += ["--run", run]
    console.print(f"serving qmr tui for {db} on http://{host}:{port}")
    Server(shlex.join(command), host=host, port=port, title="qmr").serve()
