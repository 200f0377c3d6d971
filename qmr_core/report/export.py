"""Query results to files: CSV / Parquet / JSON via DuckDB's own writers; Markdown and LaTeX rendered here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from qmr_core.errors import QmrError
from qmr_core.report.output_path import atomic_output, check_output, store_companions
from qmr_core.store import Store
from qmr_core.store.sandbox import check_read_only_sql

FORMATS = ("csv", "parquet", "json", "jsonl", "md", "latex")


def format_cell(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def to_markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub table; ``align`` is one letter per column, "l" or "r" (default: no alignment marks)."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align) if align else "|" + "---|" * len(columns)
    lines = ["| " + " | ".join(esc(c) for c in columns) + " |", rule]
    lines += ["| " + " | ".join(esc(format_cell(v)) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                   "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                   "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None, label: str | None = None,
             align: str | None = None) -> str:
    """A booktabs table that compiles as-is inside a paper (needs \\usepackage{booktabs}).

    ``align``: one of l/r/c per column; by default numeric columns are right-aligned."""
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and rows for i in range(len(columns))]
    spec = align or "".join("r" if n else "l" for n in numeric)
    out = ["\\begin{table}[t]", "\\centering", f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    out.append(" & ".join(latex_escape(c) for c in columns) + " \\\\")
    out.append("\\midrule")
    for row in rows:
        out.append(" & ".join(latex_escape(format_cell(v)) for v in row) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    if caption:
        out.append(f"\\caption{{{latex_escape(caption)}}}")
    if label:
        out.append(f"\\label{{{label}}}")
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


def export_query(store: Store, sql: str, fmt: str, out: Path, force: bool = False) -> int:
    """Write a query's result to `out` (checked by check_output, written whole or not at all); returns the row count."""
    if fmt not in FORMATS:
        raise QmrError(f"unknown format '{fmt}' (one of {', '.join(FORMATS)})")
    from qmr_core.review.annotations import annotations_path

    notes = annotations_path(store.path)
    out = check_output(out, [*store_companions(store.path), notes, notes.with_name(notes.name + ".wal")], force)
    with store.connect(read_only=True) as con:
        check_read_only_sql(con, sql)
        table = con.sql(sql).to_arrow_table()
    with atomic_output(out) as tmp:
        if fmt in ("md", "latex"):
            rows = [tuple(r.values()) for r in table.to_pylist()]
            text = to_markdown(table.column_names, rows) if fmt == "md" else to_latex(table.column_names, rows)
            tmp.write_text(text, encoding="utf-8")
        else:
            _copy_arrow(table, fmt, tmp)
    return table.num_rows


def _copy_arrow(table: pa.Table, fmt: str, target: Path) -> None:
    """DuckDB's own CSV / Parquet / JSON writers, on an in-memory database that sees only `table`."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("result", table)
        options = {"csv": "FORMAT csv, HEADER", "parquet": "FORMAT parquet", "json": "FORMAT json, ARRAY true",
                   "jsonl": "FORMAT json"}[fmt]
        quoted = str(target).replace("'", "''")
        con.execute(f"COPY result TO '{quoted}' ({options})")
    finally:
        con.close()
