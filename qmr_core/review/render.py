"""Judge accuracy against blind labels as Rich renderables (the TUI summary and `qmr judge-accuracy`
in a terminal): rate and Wilson interval share a cell, so the table fits 80 columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from qmr_core.review.accuracy import AccuracyResult
    from qmr_core.review.stats import Proportion

HOW = "no blind labels yet: `qmr review sample --n N`, then `qmr tui --review SET` (verdicts hidden until you label)"


def _cell(p: Proportion) -> str:
    """'80.0 [37.6–96.4]': one space, so a narrow column wraps between the rate and its interval."""
    ci = p.interval
    if p.rate is None or ci is None:
        return "-"
    return f"{100 * p.rate:.1f} [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]"


def render_blind_accuracy(result: AccuracyResult | None, error: str | None = None, both: bool = False,
                          scope: str = "") -> RenderableType:
    """`both`: a column for step and type both right (the terminal; the summary screen leaves it out)."""
    title = Text("Judge accuracy against blind labels" + (f" ({scope})" if scope else ""), style="bold")
    if error:
        return Group(title, Text(f"cannot read the blind labels: {error}", style="red"), Text())
    if result is None or result.n_labels == 0 or not result.judges:
        return Group(title, Text(HOW, style="dim"), Text())
    from qmr_core.review.accuracy import accuracy_tables

    table = Table(title=f"{title.plain}: {result.n_labels} samples, % [Wilson 95%]", title_justify="left",
                  header_style="bold", box=box.SIMPLE_HEAD if both else box.HEAVY_HEAD)
    cols = ("judge", "n", "step right", "type right", *(("both right",) if both else ()), "missing")
    widest = max(len(j.judge) for j in result.judges)
    for col in cols:
        if col == "judge":
            table.add_column(col, min_width=min(widest, 16), overflow="fold")
        else:  # a rate and its interval wrap onto two lines when the terminal is narrow
            table.add_column(col, justify="right", no_wrap=col in ("n", "missing"))
    for j in result.judges:
        table.add_row(j.judge, str(j.step.n), _cell(j.step), _cell(j.type), *((_cell(j.both),) if both else ()), str(j.missing))
    parts: list[RenderableType] = [table]
    for t in accuracy_tables(result)[1:]:  # the confusion matrix, then agreement between annotators
        extra = Table(title=t.title, title_justify="left", header_style="bold")
        for col, kind in zip(t.columns, t.kinds, strict=True):
            extra.add_column(col, justify="left" if kind == "text" else "right")
        for row in t.text_rows():
            extra.add_row(*row)
        parts.append(extra)
    who = ", ".join(result.annotators)
    from qmr_core.review.accuracy import NOTE

    parts += [Text(f"Labelled blind by {who}. {NOTE}", style="dim"), Text()]
    return Group(*parts)
