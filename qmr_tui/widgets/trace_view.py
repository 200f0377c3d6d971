"""Two traces as aligned step rows: side by side when wide, stacked (unified) when narrow.

A line-API widget: every aligned row is wrapped once per width into Strips, and only visible
lines are drawn, so long traces scroll without building widgets per step. Markers are text labels
as well as colours ([DIV] first divergence, [FLIP] teacher-forced flip, [SYM] symbolic flag,
[E:type] the judged first error step, [YOU:...] the researcher's verdict), so they survive
monochrome terminals and screenshots. A blind view (`blind = True`, the blind review screen)
shows none of them and opens at the top, so no verdict shows before the researcher's own label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from qmr_core.compare.align import AlignedRow
from qmr_core.browse.trace import Side, TraceDetail
from qmr_tui.widgets import divergence_shade

Layout = Literal["auto", "split", "unified"]
SPLIT_MIN_WIDTH = 100
GUTTER = 2
NUM = 4
UNIFIED_LABEL = 7
SEP = " │ "


@dataclass(frozen=True)
class _Line:
    row: int
    side: Side | None  # None: a line that shows both sides (split view, or an equal row stacked)
    strip: Strip


class TraceView(ScrollView, can_focus=True):
    """Aligned steps of a TraceDetail with a row cursor and an active side (tab switches it)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "trace--cursor",
        "trace--active",
        "trace--error",
        "trace--flag",
        "trace--divergent",
        "trace--flip",
        "trace--you",
        "trace--gap",
        "trace--del",
        "trace--ins",
        "trace--num",
        "trace--match",
        "trace--dim",
        *divergence_shade.CLASSES,
    }

    cursor: reactive[int] = reactive(0, always_update=True)
    active: reactive[Side] = reactive("quant")
    layout_mode: reactive[Layout] = reactive("auto")
    highlight: reactive[str] = reactive("")
    shade: reactive[bool] = reactive(False)  # tokens shaded by fp-referenced divergence (d)

    class CursorMoved(Message):
        def __init__(self, view: TraceView, row: int) -> None:
            super().__init__()
            self.view = view
            self.row = row

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.detail: TraceDetail | None = None
        self.judge: str | None = None
        self._lines: list[_Line] = []
        self._row_start: list[int] = []
        self._row_height: list[int] = []
        self._built_for: tuple | None = None
        self._mid = 0
        self.blind = False

    # -- public API ---------------------------------------------------------------------------

    def show(self, detail: TraceDetail, judge: str | None, cursor: int | None = None, active: Side | None = None) -> None:
        self.detail = detail
        self.judge = judge
        self._built_for = None
        self.set_reactive(TraceView.active, active or detail.failing_side)
        self._rebuild()
        start = cursor if cursor is not None else self.interesting_row()
        self.cursor = max(0, min(start, len(detail.rows) - 1)) if detail.rows else 0
        self.scroll_to(y=0, animate=False)
        self._scroll_cursor_into_view()

    def interesting_row(self) -> int:
        """The judged error step of the failing side, else the first divergence, else the top."""
        d = self.detail
        if d is None or self.blind:
            return 0
        diag = d.side(d.failing_side).diagnosis(self.judge)
        row = d.row_of(d.failing_side, diag.first_error_step) if diag else None
        if row is None:
            row = d.divergent_row
        return row or 0

    @property
    def split(self) -> bool:
        if self.layout_mode == "auto":
            return self.app.size.width >= SPLIT_MIN_WIDTH
        return self.layout_mode == "split"

    def row(self) -> AlignedRow | None:
        if self.detail is None or not self.detail.rows:
            return None
        return self.detail.rows[self.cursor]

    def current_step(self, side: Side | None = None) -> int | None:
        row = self.row()
        if row is None:
            return None
        return row.base if (side or self.active) == "base" else row.quant

    def move(self, delta: int) -> None:
        if self.detail and self.detail.rows:
            self.cursor = max(0, min(self.cursor + delta, len(self.detail.rows) - 1))

    @property
    def shading(self) -> bool:
        """Divergence shading shows where the fp model parts from the trace: a locator, hidden in a blind view."""
        return self.shade and not self.blind

    def set_blind(self, blind: bool) -> None:
        """Hide (True) or show every marker; the rows are rebuilt at once."""
        if blind != self.blind:
            self.blind = blind
            self._rebuild()

    def toggle_side(self) -> None:
        self.active = "base" if self.active == "quant" else "quant"

    # -- reactives ----------------------------------------------------------------------------

    def watch_cursor(self, _old: int, _new: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor))

    def watch_active(self) -> None:
        self._rebuild()
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor))

    def watch_layout_mode(self) -> None:
        self._built_for = None
        self._rebuild()

    def watch_highlight(self) -> None:
        self._built_for = None
        self._rebuild()

    def watch_shade(self) -> None:
        self._built_for = None
        self._rebuild()

    def on_resize(self, _event: events.Resize) -> None:
        self._rebuild()
        self._scroll_cursor_into_view()

    # -- building lines -----------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _rebuild(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        # shaded, an equal row stacked shows the active side's tokens: tab rebuilds
        shaded_side = self.active if self.shading and not self.split else None
        key = (id(self.detail), width, self.split, self.highlight, self.judge, self.blind, self.shading, shaded_side)
        if self.detail is None or width <= 0 or key == self._built_for:
            return
        self._built_for = key
        lines: list[_Line] = []
        self._row_start, self._row_height = [], []
        for k, row in enumerate(self.detail.rows):
            self._row_start.append(len(lines))
            built = self._split_row(k, row, width) if self.split else self._unified_row(k, row, width)
            lines.extend(built)
            self._row_height.append(len(built))
        if not self.detail.rows:
            msg = Text("(both traces are empty: no steps were stored)", style=self._style("trace--dim"))
            lines.append(_Line(0, None, self._pad(msg, width)))
        self._lines = lines
        self.virtual_size = Size(width, len(lines))
        self.refresh()

    def _markers(self, k: int, row: AlignedRow, side: Side) -> tuple[list[tuple[str, str]], str | None]:
        """Text labels for one side of a row, and the cell style name (error beats flag)."""
        d = self.detail
        assert d is not None
        trace = d.side(side)
        step = row.base if side == "base" else row.quant
        labels: list[tuple[str, str]] = []
        cell: str | None = None
        if self.blind:
            return labels, cell
        if k == d.divergent_row:
            labels.append(("[DIV]", "trace--divergent"))
        if side == "base" and step is not None and step == d.flip_step:
            labels.append(("[FLIP]", "trace--flip"))
        div = d.divergence if self.shading else None
        if side == "quant" and div is not None and step is not None and step == div.locator_step:
            labels.append(("[FP]", "trace--flip"))
        if step is not None and any(f.step_idx == step for f in trace.flags):
            labels.append(("[SYM]", "trace--flag"))
            cell = "trace--flag"
        diag = trace.diagnosis(self.judge)
        if diag is not None and step is not None and diag.first_error_step == step:
            labels.append((diag.tag, "trace--error"))
            cell = "trace--error"
        ann = trace.annotation
        if ann is not None and ann.verdict == "corrected" and step is not None and ann.first_error_step == step:
            labels.append((f"[YOU:E:{ann.error_type or '?'}]", "trace--you"))
            cell = cell or "trace--you"
        return labels, cell

    def _cell_text(self, k: int, row: AlignedRow, side: Side) -> tuple[Text, Style]:
        d = self.detail
        assert d is not None
        step = row.base if side == "base" else row.quant
        if step is None:
            return Text("·· no matching step ··", style=self._style("trace--gap")), Style()
        labels, cell = self._markers(k, row, side)
        base_style = self._style(cell) if cell else Style()
        text = Text(overflow="fold", no_wrap=False)
        for label, style in labels:
            text.append(label, self._style(style) + Style(bold=True))
            text.append(" ")
        start = len(text)
        diff = d.diffs.get(k)
        if diff is not None:
            parts = diff[0] if side == "base" else diff[1]
            for chunk, tag in parts:
                text.append(chunk, self._style(f"trace--{tag}") if tag in ("del", "ins") else None)
        else:
            text.append(d.side(side).steps[step])
        if self.shading and d.divergence is not None:
            divergence_shade.shade(text, start, d.divergence.side(side).get(step, []), divergence_shade.LEVELS[side],
                                   self._style)
        if self.highlight:
            text.highlight_words([self.highlight], self._style("trace--match"), case_sensitive=False)
        text.style = base_style  # underneath the diff and marker styles
        return text, base_style

    def _wrap(self, text: Text, width: int, style: Style) -> list[list[Segment]]:
        console = self.app.console
        out = []
        for line in text.wrap(console, max(1, width), overflow="fold"):
            segs = list(line.render(console))
            pad = width - line.cell_len
            if pad > 0:
                segs.append(Segment(" " * pad, style))
            out.append(segs)
        return out or [[Segment(" " * width, style)]]

    def _num(self, step: int | None, style: Style) -> Segment:
        label = "" if step is None else str(step + 1)
        return Segment(f"{label:>{NUM - 1}} ", style)

    def _split_row(self, k: int, row: AlignedRow, width: int) -> list[_Line]:
        text_w = max(8, (width - GUTTER - 2 * NUM - len(SEP)) // 2)
        self._mid = GUTTER + NUM + text_w
        num_style = self._style("trace--num")
        left, lstyle = self._cell_text(k, row, "base")
        right, rstyle = self._cell_text(k, row, "quant")
        lw, rw = self._wrap(left, text_w, lstyle), self._wrap(right, text_w, rstyle)
        height = max(len(lw), len(rw))
        lines = []
        for i in range(height):
            segs = [Segment(" " * GUTTER)]
            segs.append(self._num(row.base if i == 0 else None, num_style))
            segs += lw[i] if i < len(lw) else [Segment(" " * text_w, lstyle)]
            segs.append(Segment(SEP, num_style))
            segs.append(self._num(row.quant if i == 0 else None, num_style))
            segs += rw[i] if i < len(rw) else [Segment(" " * text_w, rstyle)]
            lines.append(_Line(k, None, Strip(segs)))
        return lines

    def _unified_row(self, k: int, row: AlignedRow, width: int) -> list[_Line]:
        text_w = max(8, width - GUTTER - UNIFIED_LABEL)
        num_style = self._style("trace--num")
        lines: list[_Line] = []
        if row.kind == "equal":
            same = row.base == row.quant
            label = f"={row.base + 1}" if same else f"={row.base + 1}/{row.quant + 1}"  # type: ignore[operator]
            base_labels, _ = self._markers(k, row, "base")
            quant_labels, _ = self._markers(k, row, "quant")
            if base_labels != quant_labels:  # a marker on one side only: show both lines
                return self._unified_sides(k, row, text_w, num_style)
            text, style = self._cell_text(k, row, self.active if self.shading else "quant")
            for i, segs in enumerate(self._wrap(text, text_w, style)):
                head = Segment(f"{label if i == 0 else '':<{UNIFIED_LABEL}}", num_style)
                lines.append(_Line(k, None, Strip([Segment(" " * GUTTER), head, *segs])))
            return lines
        return self._unified_sides(k, row, text_w, num_style)

    def _unified_sides(self, k: int, row: AlignedRow, text_w: int, num_style: Style) -> list[_Line]:
        lines: list[_Line] = []
        for side, letter in (("base", "B"), ("quant", "Q")):
            step = row.base if side == "base" else row.quant
            if step is None:
                continue
            text, style = self._cell_text(k, row, side)  # type: ignore[arg-type]
            for i, segs in enumerate(self._wrap(text, text_w, style)):
                head = Segment(f"{f'{letter}{step + 1}' if i == 0 else '':<{UNIFIED_LABEL}}", num_style)
                lines.append(_Line(k, side, Strip([Segment(" " * GUTTER), head, *segs])))  # type: ignore[arg-type]
        return lines

    def _pad(self, text: Text, width: int) -> Strip:
        return Strip(self._wrap(text, width, Style())[0])

    # -- drawing ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width or self.size.width
        base = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        line = self._lines[index]
        strip = line.strip
        if line.row == self.cursor and self.detail and self.detail.rows:
            cursor = self._style("trace--cursor")
            active = self._style("trace--active")
            first = index == self._row_start[line.row]
            marker = Strip([Segment("▶ " if first else "  ", cursor + Style(bold=True))])
            body = strip.crop(GUTTER)
            if self.split:
                mid = self._mid - GUTTER
                left, right = body.crop(0, mid), body.crop(mid)
                if self.active == "base":
                    left = left.apply_style(active)
                    right = right.apply_style(cursor)
                else:
                    left = left.apply_style(cursor)
                    right = right.apply_style(active)
                strip = Strip.join([marker, left, right])
            else:
                style = active if line.side in (None, self.active) else cursor
                strip = Strip.join([marker, body.apply_style(style)])
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_style(base)

    def _scroll_cursor_into_view(self) -> None:
        if not self._row_start or self.cursor >= len(self._row_start):
            return
        start, height = self._row_start[self.cursor], self._row_height[self.cursor]
        self.scroll_to_region(Region(0, start, 1, height), animate=False, immediate=True)

    # -- mouse --------------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y
        if not (0 <= index < len(self._lines)) or not self.detail or not self.detail.rows:
            return
        line = self._lines[index]
        if self.split:
            self.active = "base" if event.x < self._mid else "quant"
        elif line.side is not None:
            self.active = line.side
        self.cursor = line.row
        self.focus()
