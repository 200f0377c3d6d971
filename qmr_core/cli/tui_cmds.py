"""`qmr tui` and `qmr serve-tui`: the Textual browser (imported only inside the commands)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, err_console
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
    review: Annotated[str | None, typer.Option("--review", help="Review this set (`qmr review sample`) blind: verdicts stay hidden until you label each sample.")] = None,
    annotator: Annotated[str | None, typer.Option("--annotator", help="Your name on blind labels (default: $QMR_ANNOTATOR, else your user name).")] = None,
) -> None:
    """Browse full-precision vs quantized traces side by side, error steps highlighted (Textual).

    Runs -> failures -> trace; press ? in the app for keys. Works from 80x24; verdicts are saved
    next to the store in <store>.annotations.duckdb.

    Example: qmr tui --db qmr-demo.duckdb   ·   blind review: qmr tui --db qmr-demo.duckdb --review error_type-n40-s0
    """
    store = _check_store(db)
    if review is not None:
        from qmr_core.review.store import ReviewStore

        ReviewStore.for_store(db).require_set(review)
    from qmr_tui.app import QmrApp

    QmrApp(db, run=run, store=store, review=review, annotator=annotator).run()


@app.command("serve-tui")
@cli_errors
def serve_tui_command(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (keep localhost and tunnel over SSH).")] = "localhost",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    run: Annotated[str | None, typer.Option("--run", help="Open this run's comparison at once.")] = None,
    max_sessions: Annotated[int, typer.Option("--max-sessions", help="Browser tabs served at once (each is one TUI process).")] = 4,
) -> None:
    """Serve the browser to a web browser with textual-serve (one app process per browser tab).

    It prints a URL with a random token: only that URL opens the TUI, websockets from other
    sites' pages are refused (Origin check), and at most --max-sessions tabs run at once.
    From another machine, tunnel over SSH instead of listening on a public address:
    ssh -N -L 8000:localhost:8000 HOST, then open the printed URL locally.
    Needs the optional package: pip install textual-serve.

    Example: qmr serve-tui --db qmr-demo.duckdb --port 8000
    """
    _check_store(db)
    if max_sessions < 1:
        raise QmrError("--max-sessions must be >= 1")
    if not 0 < port < 65536:
        raise QmrError("--port must be between 1 and 65535")
    try:
        from qmr_tui.serve import LOOPBACK_NAMES, GuardedServer
    except ImportError as exc:
        raise QmrError("qmr serve-tui needs textual-serve: pip install textual-serve") from exc
    command = [sys.executable, "-m", "qmr_core.cli", "tui", "--db", str(db.resolve())]
    if run:
        command += ["--run", run]
    if host not in LOOPBACK_NAMES:
        err_console.print(f"[yellow]note[/] listening on {host}: anyone who can reach it and has the token can "
                          "read every trace and write verdicts; prefer localhost and an SSH tunnel", highlight=False)
    try:
        GuardedServer(shlex.join(command), host=host, port=port, title="qmr", max_sessions=max_sessions).serve()
    except OSError as exc:  # the port is taken (another server, e.g. vLLM on 8000) or the address is not ours
        raise QmrError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port)") from None
