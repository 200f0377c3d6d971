"""Shared CLI plumbing: the Typer app, one-line errors, store options, rich console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import duckdb
import typer
from rich.console import Console

from qmr_core.api.stores import resolve_run
from qmr_core.errors import QmrError
from qmr_core.store import Store

app = typer.Typer(
    name="qmr",
    help="qmr - Quantization Meets Reasoning: where and why low-bit quantization breaks LLM math reasoning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB store file.", envvar="QMR_DB")]
DEFAULT_DB = Path("qmr.duckdb")


__all__ = ["app", "cli_errors", "console", "err_console", "fail", "lazy_store", "open_store", "resolve_run", "DbOption", "DEFAULT_DB"]


def fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def cli_errors(fn: F) -> F:
    """Turn expected failures into one clear line and exit code 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QmrError as exc:
            fail(str(exc))
        except duckdb.Error as exc:
            fail(f"database: {str(exc).splitlines()[0]}")
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: finished batches are stored; run the same command to resume")
            raise typer.Exit(130) from None
        except MemoryError:
            fail("out of memory; try a smaller --batch-size")

    return wrapper  # type: ignore[return-value]


def open_store(db: Path, create: bool = False, write: bool = True) -> Store:
    """`write=False` for commands that only read: no write access needed, no migration (see Store)."""
    return Store(db, create=create, write=write, on_wait=_say_waiting)


def lazy_store(db: Path, create: bool = False, write: bool = True) -> Callable[[], Store]:
    """For a library call: opens the store when the call first needs it (after it checked its arguments), and
    gives the same store to every later call."""
    opened: list[Store] = []

    def get() -> Store:
        if not opened:
            opened.append(open_store(db, create=create, write=write))
        return opened[0]

    return get


def _say_waiting(seconds: float) -> None:
    err_console.print(
        f"[yellow]waiting[/] {seconds:.0f} s for the store lock (another process holds it); "
        "nothing is lost while waiting, Ctrl-C to stop", highlight=False)


def is_interactive() -> bool:
    return sys.stderr.isatty()
