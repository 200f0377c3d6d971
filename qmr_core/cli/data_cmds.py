"""`qmr sql` and `qmr export`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, open_store
from qmr_core.errors import QmrError
from qmr_core.report.export import FORMATS, export_query, format_cell
from qmr_core.store import SCHEMA_VERSION, Store
from qmr_core.store.sandbox import check_read_only_sql

SQL_EXIT_AFTER_S = 5.0  # a read the interrupt cannot stop (a blocking file read) ends the process this much later


@app.command("sql")
@cli_errors
def sql_command(
    query: Annotated[str, typer.Argument(help="A DuckDB SQL statement.")],
    db: DbOption = DEFAULT_DB,
    write: Annotated[bool, typer.Option("--write", help="A full DuckDB session on the store: writes, ATTACH, COPY, files, extensions, network. No sandbox.")] = False,
    read_dir: Annotated[list[Path] | None, typer.Option("--read-dir", help="Let read_csv/read_parquet/read_json/glob read files in this folder (repeatable); nothing else outside the store is reachable.")] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows to print (the query itself is not limited).")] = 200,
) -> None:
    """Run SQL against the store and print the result.

    Read-only by default, in a sandbox: only the store is reachable (no other file, no network, no
    extensions), ATTACH/COPY/EXPORT/INSTALL/LOAD and writes are refused, and a query that holds up a
    waiting `qmr eval` is interrupted (README: Security model). --write gives a full DuckDB session.

    Example: qmr sql "SELECT run_id, avg(correct::INT) FROM samples GROUP BY 1" --db qmr-demo.duckdb
    """
    if max_rows < 0:
        raise QmrError("--max-rows must be >= 0")
    if write and read_dir:
        raise QmrError("--read-dir is for the read-only sandbox; --write already reaches every file")
    store = open_store(db, write=write)
    if write:
        err_console.print("[yellow]note[/] --write: a full DuckDB session on the store, with no sandbox", highlight=False)
        columns, rows = _run_sql(store, query, max_rows, read_only=False)
    else:
        columns, rows = _run_sql(store, query, max_rows, read_only=True, read_dirs=read_dir or ())
    if columns is None:
        console.print("ok")
        return
    table = Table(header_style="bold")
    for col in columns:
        table.add_column(escape(col))
    for row in rows[:max_rows]:
        table.add_row(*(escape(format_cell(v)) for v in row))
    console.print(table)
    if len(rows) > max_rows:
        console.print(f"[dim]first {max_rows} rows shown; use `qmr export` for all[/]")


def _run_sql(store: Store, query: str, max_rows: int, read_only: bool,
             read_dirs: Sequence[Path] = ()) -> tuple[list[str] | None, list[tuple]]:
    for folder in read_dirs:
        if not folder.is_dir():
            raise QmrError(f"--read-dir {folder} is not a folder")
    with store.connect(read_only=read_only, read_dirs=read_dirs if read_only else (),
                       exit_after_s=SQL_EXIT_AFTER_S if read_only else None) as con:
        if read_only:
            check_read_only_sql(con, query)
        cur = con.execute(query)
        if cur.description is None:
            return None, []
        return [d[0] for d in cur.description], cur.fetchmany(max_rows + 1)


@app.command("export")
@cli_errors
def export_command(
    query: Annotated[str, typer.Option("--query", "-q", help="SQL whose result is exported, or a table name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")] = "csv",
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists (never the store, its annotations or any DuckDB file).")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Export a query result (or a whole table) to CSV, Parquet, JSON, Markdown or LaTeX.

    The file is written whole to a temporary name and then renamed; an existing file is replaced only
    with --force, and the store, its annotations and DuckDB files never are.

    Example: qmr export --query "SELECT * FROM samples WHERE NOT correct" --format parquet --out wrong.parquet
    """
    store = open_store(db, write=False)
    sql = query.strip()
    if sql.replace("_", "").isalnum():
        sql = f"SELECT * FROM {sql}"
    if not sql:
        raise QmrError("--query is empty")
    n = export_query(store, sql, fmt, out, force=force)
    console.print(f"wrote {n} rows to {out}")


@app.command("migrate")
@cli_errors
def migrate_command(db: DbOption = DEFAULT_DB) -> None:
    """Bring a store from an older qmr up to this qmr's schema (read-only commands never migrate).

    Also writes back a lost schema-version row when that migration's tables are already there.

    Example: qmr migrate --db qmr-demo.duckdb
    """
    store = open_store(db)  # a write open migrates
    applied, repaired = store.migrated
    if not applied and not repaired:
        console.print(f"{db} is at schema v{SCHEMA_VERSION}; nothing to do")
        return
    if applied:
        console.print(f"applied schema version {', '.join(map(str, applied))}")
    if repaired:
        console.print(f"repaired the lost version row of schema version {', '.join(map(str, repaired))} (its tables were there)")
    console.print(f"{db} is at schema v{SCHEMA_VERSION}")
