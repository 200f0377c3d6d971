"""A titled table with typed columns: what reports, the CLI and the TUI render (Markdown, LaTeX, CSV, HTML)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Column kinds: how a raw value is shown (CSV keeps raw values: fractions stay fractions).
TEXT, INT, PCT, PP, P, FLOAT, NUM = "text", "int", "pct", "pp", "p", "float", "num"


@dataclass
class ReportTable:
    name: str  # file-safe key
    title: str
    columns: list[str]
    kinds: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""

    def cell(self, value: Any, kind: str) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if kind == PCT:
            return f"{100 * value:.1f}"
        if kind == PP:
            return f"{100 * value:+.1f}" if value else "0.0"
        if kind == P:
            return f"{value:.2g}" if value >= 0.001 else "<0.001"
        if kind == FLOAT:
            return f"{value:.2f}"
        if kind == NUM:
            return f"{value:.1f}"
        return str(value)

    def text_rows(self) -> list[list[str]]:
        return [[self.cell(v, k) for v, k in zip(row, self.kinds, strict=True)] for row in self.rows]

    @property
    def align(self) -> str:
        return "".join("l" if k == TEXT else "r" for k in self.kinds)
