"""A stored sensitivity analysis as a layer x module table with heat shading (CLI and TUI)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from qmr_core.sensitivity_grid import ALL, EVERY_LAYER, HIGHER_IS_BETTER, Grid, damage

METRICS = {
    "delta_nll": "increase in NLL of full-precision correct traces (nats/token)",
    "out_err": "relative output error of the quantized layer",
    "weight_err": "relative weight error",
    "accuracy": "accuracy on the problem subset",
}
# Background shades from cool to hot; a cell's shade is its rank among the cells of its block.
SHADES = ("grey15", "grey30", "dark_orange3", "orange_red1", "red3")


def shade_levels(values: list[float | None], metric: str = "delta_nll") -> list[int | None]:
    """Rank-based heat level 0..4 per value, hotter = more damage (None stays None); ties share a level."""
    values = [None if v is None else damage(v, metric) for v in values]
    present = sorted(v for v in values if v is not None)
    if not present:
        return [None] * len(values)
    n = len(present)
    levels = []
    for v in values:
        if v is None:
            levels.append(None)
            continue
        below = sum(1 for p in present if p < v)
        levels.append(min(len(SHADES) - 1, below * len(SHADES) // n))
    return levels


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "·"
    if metric == "accuracy":
        return f"{value:.0%}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def grid_table(grid: Grid, metric: str = "delta_nll", title: str | None = None) -> Table:
    """Rows: decoder layers, then 'every layer'; columns: module kinds, then the whole layer."""
    columns = grid.kinds + [ALL]
    table = Table(title=title, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("layer", justify="right")
    for kind in columns:
        table.add_column("whole layer" if kind == ALL else kind.removesuffix("_proj"), justify="right")
    cell_vals = [grid.value(i, k, metric) for i in range(grid.n_layers) for k in grid.kinds]
    cell_levels = dict(zip([(i, k) for i in range(grid.n_layers) for k in grid.kinds], shade_levels(cell_vals, metric)))
    layer_levels = dict(zip(range(grid.n_layers), shade_levels([grid.value(i, ALL, metric) for i in range(grid.n_layers)], metric)))
    kind_levels = dict(zip(grid.kinds, shade_levels([grid.value(EVERY_LAYER, k, metric) for k in grid.kinds], metric)))

    def cell(value: float | None, level: int | None) -> Text:
        style = f"on {SHADES[level]}" if level is not None else "dim"
        return Text(_fmt(value, metric), style=style)

    for i in range(grid.n_layers):
        table.add_row(
            str(i),
            *[cell(grid.value(i, k, metric), cell_levels[(i, k)]) for k in grid.kinds],
            cell(grid.value(i, ALL, metric), layer_levels[i]),
        )
    table.add_section()
    table.add_row(
        "every",
        *[cell(grid.value(EVERY_LAYER, k, metric), kind_levels[k]) for k in grid.kinds],
        cell(grid.value(EVERY_LAYER, ALL, metric), None),
    )
    return table


def extremes(grid: Grid, metric: str = "delta_nll", k: int = 3) -> str:
    """One line naming the most and least damaging layers and their ratio."""
    ranked = grid.ranked_layers(metric)
    if len(ranked) < 2:
        return "fewer than two layers measured"
    top, bottom = ranked[:k], ranked[-k:]
    most, least = ranked[0][1], ranked[-1][1]
    if metric in HIGHER_IS_BETTER:
        gap = f"gap {least - most:.3f}"
    else:
        gap = f"most/least {metric}: " + (f"{most / least:.1f}x" if least > 0 else "n/a (least is not positive)")
    fmt = lambda items: ", ".join(f"{i} ({v:.3f})" for i, v in items)  # noqa: E731
    return f"most damaging layers: {fmt(top)}; least: {fmt(reversed(bottom))}; {gap}"
