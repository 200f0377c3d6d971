"""`qmr sql` and `qmr export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, open_store
from qmr_core.errors import QmrError
from qmr_core.export import FORMATS, export_query, format_cell


@app.command("sql")
@cli_errors
def sql_command(
    query: Annotated[str, typer.Argument(help="A DuckDB SQL statement.")],
    db: DbOption = DEFAULT_DB,
    write: Annotated[bool, typer.Option("--write", help="Allow statements that modify the store.")] = False,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows to print (the query itself is not limited).")] = 200,
) -> None:
    """Run SQL against the store (read-only unless --write) and print the result.

    Example: qmr sql "SELECT run_id, avg(correct::INT) FROM samples GROUP BY 1" --db qmr-demo.duckdb
    """
    store = open_store(db)
    with store.connect(read_only=not write) as con:
        cur = con.execute(query)
        if cur.description is None:
            console.print("ok")
            return
        columns = [d[0] for d in cur.description]
        rows = cur.fetchmany(max_rows + 1)
    table = Table(header_style="bold")
    for col in columns:
        table.add_column(escape(col))
    for row in rows[:max_rows]:
        table.add_row(*(escape(format_cell(v)) for v in row))
    console.print(table)
    if len(rows) > max_rows:
        console.print(f"[dim]first {max_rows} rows shown; use `qmr export` for all[/]")


@app.command("export")
@cli_errors
def export_command(
    query: Annotated[str, typer.Option("--query", "-q", help="SQL whose result is exported, or a table name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")] = "csv",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Export a query result (or a whole table) to CSV, Parquet, JSON, Markdown or LaTeX.

    Example: qmr export --query "SELECT * FROM samples WHERE NOT correct" --format parquet --out wrong.parquet
    """
    store = open_store(db)
    sql = query.strip()
    if sql.replace("_", "").isalnum():
        sql = f"SELECT * FROM {sql}"
    if not sql:
        raise QmrError("--query is empty")
    n = export_query(store, sql, fmt, out)
    console.print(f"wrote {n} rows to {out}")
