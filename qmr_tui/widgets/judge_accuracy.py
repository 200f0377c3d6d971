"""Judge accuracy against blind labels, as Rich renderables for the summary screen (fits 80 columns)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from qmr_core.review.accuracy import AccuracyResult
    from qmr_core.review.stats import Proportion

HOW = "no blind labels yet: `qmr review sample --n N`, then `qmr tui --review SET` (verdicts hidden until you label)"


def _cell(p: Proportion) -> str:
    from qmr_core.review.accuracy import ci_text

    return "-" if p.rate is None else f"{100 * p.rate:.1f} {ci_text(p)}"


def render_blind_accuracy(result: AccuracyResult | None, error: str | None = None) -> RenderableType:
    title = Text("Judge accuracy against blind labels", style="bold")
    if error:
        return Group(title, Text(f"cannot read the blind labels: {error}", style="red"), Text())
    if result is None or result.n_labels == 0 or not result.judges:
        return Group(title, Text(HOW, style="dim"), Text())
    from qmr_core.review.accuracy import accuracy_tables

    table = Table(title=f"{title.plain}: {result.n_labels} samples, % [Wilson 95%]", title_justify="left", header_style="bold")
    for col in ("judge", "n", "step right", "type right", "missing"):
        table.add_column(col, justify="left" if col == "judge" else "right")
    for j in result.judges:
        table.add_row(j.judge, str(j.step.n), _cell(j.step), _cell(j.type), str(j.missing))
    parts: list[RenderableType] = [table]
    for t in accuracy_tables(result)[1:]:  # the confusion matrix, then agreement between annotators
        extra = Table(title=t.title, title_justify="left", header_style="bold")
        for col, kind in zip(t.columns, t.kinds, strict=True):
            extra.add_column(col, justify="left" if kind == "text" else "right")
        for row in t.text_rows():
            extra.add_row(*row)
        parts.append(extra)
    who = ", ".join(result.annotators)
    parts += [Text(f"labelled blind by {who}; each sample counts once (its earliest label); `qmr judge-accuracy` for more",
                   style="dim"), Text()]
    return Group(*parts)
