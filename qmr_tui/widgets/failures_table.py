"""The failure list: textual-fastdatatable over an Arrow table (renders only what is on screen).

fastdatatable has no way to swap data in place, so each new filter result mounts a fresh table
(as Harlequin does) and the cursor is put back on the row it was on, when that row is still shown.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from textual.containers import Container
from textual.message import Message
from textual_fastdatatable import ArrowBackend, DataTable
from textual_fastdatatable.format import measure_width


def measure_columns(data: pa.Table) -> list[int]:
    """Each column's widest cell, in terminal cells, as fastdatatable measures it; run in a worker.

    fastdatatable measures on the UI thread, and its measuring converts a Python value to Arrow,
    which makes pyarrow import pandas (~0.3 s) the first time: that import would land on the
    first paint. Here single-line ASCII cells are measured by Arrow (one cell per character) and
    the rest value by value with fastdatatable's own measure (wide characters, a line break).
    """
    widths = []
    for column in data.columns:
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = column.cast(pa.string())
        plain = pc.and_(
            pc.string_is_ascii(column),
            pc.invert(pc.or_(pc.match_substring(column, "\n"), pc.match_substring(column, "\r"))),
        )
        width = pc.max(pc.utf8_length(column.filter(plain))).as_py() or 0
        for value in column.filter(pc.invert(plain)).to_pylist():
            width = max(width, measure_width(value, render_markup=False))
        widths.append(width)
    return widths


class MeasuredArrowBackend(ArrowBackend):
    """An ArrowBackend whose column widths were measured beforehand (measure_columns)."""

    def __init__(self, data: pa.Table, widths: list[int]) -> None:
        super().__init__(data)
        self._widths = list(widths)

    @property
    def column_content_widths(self) -> list[int]:
        return self._widths


class FailuresTable(Container):
    """Holds one fastdatatable at a time; posts Opened(index) on enter or click."""

    class Opened(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class HeaderClicked(Message):
        def __init__(self, label: str) -> None:
            super().__init__()
            self.label = label

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.table: DataTable | None = None

    @property
    def cursor_row(self) -> int:
        return self.table.cursor_row if self.table is not None else 0

    def show(self, data: pa.Table, widths: list[int] | None = None, cursor_row: int = 0, focus: bool = True) -> None:
        """`widths`: measure_columns(data), measured in the worker that made `data`."""
        old = self.table
        table = DataTable(
            backend=MeasuredArrowBackend(data, widths) if widths is not None else ArrowBackend(data),
            cursor_type="row",
            max_column_content_width=40,
            show_row_labels=False,
            zebra_stripes=True,
            render_markup=False,
            null_rep="",
        )
        self.table = table
        had_focus = old is not None and old.has_focus
        if old is not None:
            old.remove()
        self.mount(table)
        if data.num_rows:
            table.move_cursor(row=min(cursor_row, data.num_rows - 1), animate=False)
        if focus or had_focus:
            table.focus()

    def move(self, row: int) -> None:
        if self.table is not None and self.table.row_count:
            self.table.move_cursor(row=max(0, min(row, self.table.row_count - 1)), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Opened(event.cursor_row))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.post_message(self.HeaderClicked(str(event.label)))
