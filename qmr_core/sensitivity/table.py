"""A stored sensitivity analysis as a layer x module table with heat shading (CLI and TUI)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from qmr_core.sensitivity.grid import ALL, EVERY_LAYER, HIGHER_IS_BETTER, Grid, damage

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
    levels: list[int | None] = []
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

    def cell(layer: int, module: str, level: int | None) -> Text:
        style = f"on {SHADES[level]}" if level is not None else "dim"
        if not significant(grid, layer, module, metric):
            style += " dim"
        return Text(_fmt(grid.value(layer, module, metric), metric), style=style)

    for i in range(grid.n_layers):
        table.add_row(str(i), *[cell(i, k, cell_levels[(i, k)]) for k in grid.kinds], cell(i, ALL, layer_levels[i]))
    table.add_section()
    table.add_row("every", *[cell(EVERY_LAYER, k, kind_levels[k]) for k in grid.kinds], cell(EVERY_LAYER, ALL, None))
    return table


def extremes(grid: Grid, metric: str = "delta_nll", k: int = 3) -> str:
    """One line naming the most and least damaging layers and their ratio."""
    ranked = grid.ranked_layers(metric)
    if len(ranked) < 2:
        return "fewer than two layers measured"
    top, bottom = ranked[:k], ranked[-k:]
    most, least = ranked[0][1], ranked[-1][1]
    se = {i: grid.cells[(i, ALL)].delta_nll_se for i, _ in ranked} if metric == "delta_nll" else {}

    def fmt(items) -> str:
        return ", ".join(f"{i} ({v:.3f}" + (f" ± {se[i]:.3f})" if se.get(i) is not None else ")") for i, v in items)

    if metric in HIGHER_IS_BETTER:
        gap = f"gap {least - most:.3f}"
    else:
        gap = f"gap {most - least:.3f}" + (f", ratio {most / least:.1f}x" if least > 0 else "")
        se_most, se_least = se.get(ranked[0][0]), se.get(ranked[-1][0])
        if se_most is not None and se_least is not None:
            z = (most - least) / max((se_most ** 2 + se_least ** 2) ** 0.5, 1e-12)
            gap += f" ({z:.1f} standard errors)"
    return f"most damaging layers: {fmt(top)}; least: {fmt(reversed(bottom))}; {gap}"


def significant(grid: Grid, layer: int, module: str, metric: str) -> bool:
    """False where a delta_nll lies within two (trace-clustered) standard errors of zero."""
    row = grid.cells.get((layer, module))
    if metric != "delta_nll" or row is None or row.delta_nll_se is None:
        return True
    return abs(row.delta_nll) > 2 * row.delta_nll_se
