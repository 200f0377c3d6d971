"""The failure list: textual-fastdatatable over an Arrow table (renders only what is on screen).

fastdatatable has no way to swap data in place, so each new filter result mounts a fresh table
(as Harlequin does) and the cursor is put back on the row it was on, when that row is still shown.
"""

from __future__ import annotations

import pyarrow as pa
from textual.containers import Container
from textual.message import Message
from textual_fastdatatable import ArrowBackend, DataTable


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

    def show(self, data: pa.Table, cursor_row: int = 0, focus: bool = True) -> None:
        old = self.table
        table = DataTable(
            backend=ArrowBackend(data),
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
