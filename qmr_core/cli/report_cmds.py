"""`qmr report`: paper tables and figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qmr_core.api.analysis import report
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, lazy_store
from qmr_core.errors import QmrError
from qmr_core.report.paper import FORMATS, TEXT, ReportTable
from qmr_core.report.render import render_csv_text, render_html, render_latex, render_markdown, write_csv

def rich_table(t: ReportTable) -> Table:
    table = Table(title=t.title, header_style="bold", title_justify="left")
    for col, kind in zip(t.columns, t.kinds, strict=True):
        table.add_column(col, justify="left" if kind == TEXT else "right")
    for row in t.text_rows():
        table.add_row(*(escape(c) for c in row))
    if t.note:
        table.caption = t.note
        table.caption_justify = "left"
    return table


@app.command("report")
@cli_errors
def report_command(
    fmt: Annotated[str | None, typer.Option("--format", "-f", help=f"Output format: {' | '.join(FORMATS)} (csv writes one file per table into --out, a folder).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report here (without it, --format prints to stdout).")] = None,
    plots: Annotated[Path | None, typer.Option("--plots", help="Folder for PNG figures: accuracy vs bits, error-type stacks, first-error positions.")] = None,
    benchmark: Annotated[list[str] | None, typer.Option("--benchmark", "-b", help="Only runs on this benchmark (repeatable).")] = None,
    run: Annotated[list[str] | None, typer.Option("--run", "-r", help="Only this run id or prefix (repeatable).")] = None,
    judge: Annotated[str | None, typer.Option("--judge", "-j", help="Diagnoses of this judge (default: 'combined', else the judges' majority).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Paper tables from a store: accuracy by model x method x bits x benchmark with absolute and relative
    degradation, by subject and level, lost/gained, format and truncation, error types, capabilities and
    first-error positions. Prints them to the terminal; --format/--out write Markdown, LaTeX, CSV or HTML.

    Example: qmr report --db qmr-demo.duckdb --format latex --out tables.tex --plots figures/
    """
    if fmt is None and out is not None:
        fmt = {".md": "md", ".tex": "latex", ".html": "html", ".htm": "html"}.get(out.suffix.lower(), "csv" if not out.suffix else None)
        if fmt is None:
            raise QmrError(f"cannot tell the format from '{out.name}'; pass --format ({', '.join(FORMATS)})")
    if fmt is not None and fmt not in FORMATS:
        raise QmrError(f"unknown format '{fmt}' (one of {', '.join(FORMATS)})")
    if out is not None and fmt != "csv" and not out.parent.exists():
        raise QmrError(f"output folder {out.parent} does not exist")
    rep = report(lazy_store(db, write=False), benchmark or (), run or (), judge, plots)
    tables, images = rep.tables, rep.figures
    for name in rep.missing_figures:
        err_console.print(f"[yellow]note[/] no data for the {name} figure (it needs quantized runs with bits, or `qmr diagnose` results)")

    if fmt is not None and out is None:
        render = {"md": render_markdown, "latex": render_latex, "csv": render_csv_text}.get(fmt)
        typer.echo(render(tables) if render else render_html(tables, [str(p) for p in images]), nl=False)
        return
    for t in tables:
        console.print(rich_table(t))
        console.print()
    if fmt is not None and out is not None:
        if fmt == "csv":
            try:
                written = write_csv(tables, out)
            except OSError as exc:
                raise QmrError(f"cannot write CSV files to {out}: {exc.strerror or exc}") from exc
            console.print(f"wrote {len(written)} CSV files to {out}/")
        else:
            if fmt == "html":
                text = render_html(tables, [os.path.relpath(p, out.parent) for p in images])
            else:
                text = render_markdown(tables) if fmt == "md" else render_latex(tables)
            out.write_text(text, encoding="utf-8")
            console.print(f"wrote {fmt} report to {out}" + (" (needs \\usepackage{booktabs,graphicx})" if fmt == "latex" else ""))
    for p in images:
        console.print(f"wrote figure {p}")
