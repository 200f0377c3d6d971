"""A horizontal bar chart drawn with eighth-block characters (deterministic, any terminal width)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    part = int(round((cells - full) * 8))
    if part == 8:
        full, part = full + 1, 0
    return ("█" * full + (EIGHTHS[part] if part and full < width else "")).ljust(width)


class BarChart:
    """Rows of (label, value) scaled to `maximum`; values are printed after the bars."""

    def __init__(self, title: str, rows: list[tuple[str, float]], maximum: float | None = None,
                 fmt: str = "{:.1%}", style: str = "cyan") -> None:
        self.title = title
        self.rows = rows
        self.maximum = maximum if maximum is not None else max((v for _, v in rows), default=0.0) or 1.0
        self.fmt = fmt
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.title, style="bold")
        if not self.rows:
            yield Text("  (nothing to chart)", style="dim")
            return
        label_w = min(28, max(len(label) for label, _ in self.rows))
        values = [self.fmt.format(v) for _, v in self.rows]
        value_w = max(len(v) for v in values)
        width = max(4, options.max_width - label_w - value_w - 4)
        for (label, value), shown in zip(self.rows, values):
            line = Text(f"{label[:label_w]:<{label_w}} ")
            line.append(bar(value / self.maximum if self.maximum else 0.0, width), style=self.style)
            line.append(f" {shown:>{value_w}}")
            yield line
