"""Shading tokens by fp-referenced divergence: levels, styles by level, and the legend line.

Base (full-precision) trace: KL(fp || quant) per token; quantized trace: the fp model's surprisal
per token. Fixed levels in nats (not per-trace quantiles), so shades compare across problems; the
middle quantized level, 3 nats (p_fp about 5%), is the locator's threshold.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from qmr_core.browse.divergence import TokenValue

LEVELS = {"base": (0.1, 0.5, 2.0), "quant": (1.0, 3.0, 6.0)}
CLASSES = ("trace--shade1", "trace--shade2", "trace--shade3")


def level(value: float, bounds: tuple[float, float, float]) -> int:
    """0 (unshaded) to 3."""
    return sum(value >= b for b in bounds)


def shade(text: Text, offset: int, tokens: list[TokenValue], bounds: tuple[float, float, float],
          style_of: Callable[[str], Style]) -> None:
    """Stylize each token range of a step's text (which starts at ``offset`` in ``text``) by its level."""
    plain = text.plain
    for tok in tokens:
        k = level(tok.value, bounds)
        start, end = offset + tok.start, offset + tok.end
        while start < end and plain[start].isspace():  # a token's leading space stays unshaded: words stay apart
            start += 1
        if k and start < end:
            text.stylize(style_of(CLASSES[k - 1]), start, end)


def _fmt(x: float) -> str:
    return f"{x:g}".removeprefix("0")


def legend(style_of: Callable[[str], Style]) -> Text:
    """One line, under 80 columns: what each shade means on each side."""
    text = Text()
    for side, label in (("base", "B KL(fp‖q)"), ("quant", "Q fp surprisal")):
        text.append(f"{label} ")
        for k, bound in enumerate(LEVELS[side]):
            text.append(f"≥{_fmt(bound)}", style_of(CLASSES[k]))
            text.append(" ")
        text.append("· " if side == "base" else "nats · ")
    text.append("[FP] fp wouldn't write", style="bold")
    return text
