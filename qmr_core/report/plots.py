"""Figures for a report (matplotlib, Agg backend: no display needed). Each returns the PNG it wrote, or
None when the store has nothing to draw."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from qmr_core.errors import QmrError
from qmr_core.report.paper import CAPABILITY_ORDER, ERROR_TYPE_ORDER, ReportData, ReportTable, first_error_positions

FP_BITS = 16  # where full precision sits on the bits axis
COLORS = {  # error types and capabilities, colour-blind safe (Okabe-Ito)
    "Conceptual": "#E69F00", "Method": "#56B4E9", "Execution": "#D55E00", "Reasoning": "#009E73",
    "Degenerate": "#999999", "unlocated": "#DDDDDD",
    "numerical computation": "#D55E00", "reasoning planning": "#56B4E9", "problem understanding": "#E69F00",
    "degenerate output": "#999999",
}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise QmrError("--plots needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def accuracy_vs_bits(data: ReportData, out: Path) -> Path | None:
    """One panel per benchmark; a line per (model, method, prompt) over weight bits; full precision dashed."""
    series: dict[str, dict[tuple[str, str, str], dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    fp: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    best_n: dict[tuple, int] = {}
    for r in data.runs:
        if r.pass1 is None:
            continue
        if r.full_precision:
            key = (r.family_name, r.prompt_template)
            if r.n_problems >= best_n.get((r.benchmark, "fp", key), 0):
                fp[r.benchmark][key] = r.pass1
                best_n[(r.benchmark, "fp", key)] = r.n_problems
        elif r.bits:
            key3 = (r.family_name, r.method, r.prompt_template)
            if r.n_problems >= best_n.get((r.benchmark, key3, r.bits), 0):
                series[r.benchmark][key3][r.bits] = r.pass1
                best_n[(r.benchmark, key3, r.bits)] = r.n_problems
    benches = sorted(b for b in series if series[b])  # a panel needs at least one quantized series
    if not benches:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(benches), figsize=(4.2 * len(benches), 3.4), squeeze=False)
    prompts = {r.prompt_template for r in data.runs}
    for ax, bench in zip(axes[0], benches, strict=True):
        all_bits: set[int] = set()
        colors = {}
        for i, ((family, method, prompt), points) in enumerate(sorted(series[bench].items())):
            label = f"{_short(family)} {method}" + (f" ({prompt})" if len(prompts) > 1 else "")
            bits = sorted(points)
            base = fp[bench].get((family, prompt))
            xs, ys = bits + ([FP_BITS] if base is not None else []), [100 * points[b] for b in bits] + ([100 * base] if base is not None else [])
            line, = ax.plot(xs, ys, marker="o", label=label)
            colors[(family, prompt)] = line.get_color()
            all_bits |= set(xs)
        for (family, prompt), acc in fp[bench].items():
            if (family, prompt) not in colors:
                continue  # no quantized run of this model here
            ax.axhline(100 * acc, ls="--", lw=1, color=colors[(family, prompt)],
                       label=f"{_short(family)} fp" + (f" ({prompt})" if len(prompts) > 1 else ""))
            all_bits.add(FP_BITS)
        ticks = sorted(all_bits)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [("fp" if t == FP_BITS else str(t)) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("weight bits")
        ax.set_ylabel("pass@1 (%)")
        ax.set_ylim(bottom=0)
        ax.set_title(bench)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    path = out / "accuracy_vs_bits.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def error_stacks(tables: list[ReportTable], out: Path) -> Path | None:
    """Stacked bars per run: error types and capabilities as shares of the diagnosed wrong samples."""
    found = {t.name: t for t in tables if t.name in ("error_types", "capabilities")}
    if not found:
        return None
    plt = _pyplot()
    panels = [(found[n], order) for n, order in (("error_types", ERROR_TYPE_ORDER), ("capabilities", CAPABILITY_ORDER)) if n in found]
    n_runs = max(len(t.rows) for t, _ in panels)
    height = 0.9 + 0.32 * n_runs
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, max(1.9, height) * len(panels)), squeeze=False)
    for ax, (t, order) in zip(axes[:, 0], panels, strict=True):
        cats = list(order) + ["unlocated"]
        first = t.columns.index("diagnosed") + 1
        labels = [f"{row[0]} {row[1]} ({row[2]}, n={row[first - 1]})" for row in t.rows]
        left = [0.0] * len(t.rows)
        for j, cat in enumerate(cats):
            vals = [100 * (row[first + j] or 0) for row in t.rows]
            ax.barh(labels, vals, left=left, color=COLORS.get(cat), label=cat, edgecolor="white", linewidth=0.5, height=0.7)
            left = [a + b for a, b in zip(left, vals, strict=True)]
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of diagnosed wrong samples")
        ax.set_title(t.title.split(",")[0], loc="left")
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path = out / "error_types.png"
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def first_error_histogram(data: ReportData, out: Path, judge: str | None = None) -> Path | None:
    """Histogram of the relative first-error position per run: mass on the left = failures emerge early."""
    positions = first_error_positions(data, judge)
    if not positions:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    n_bins = 10
    labels = {r.run_id: f"{_short(r.label, 40)} ({r.benchmark})" for r in data.runs}
    ordered = sorted(positions.items(), key=lambda kv: labels.get(kv[0], kv[0]))
    width = 1 / n_bins / (len(ordered) + 1)  # bars side by side within each bin, so none hides another
    for k, (run_id, pos) in enumerate(ordered):
        counts = [0] * n_bins
        for x in pos:
            counts[min(int(x * n_bins), n_bins - 1)] += 1
        xs = [i / n_bins + (k + 0.5) * width + width / 2 for i in range(n_bins)]
        ax.bar(xs, [100 * c / len(pos) for c in counts], width=width, label=f"{labels.get(run_id, run_id)}, n={len(pos)}")
    ax.set_xticks([i / n_bins for i in range(n_bins + 1)])
    ax.set_xlim(0, 1)
    ax.set_xlabel("first wrong step / steps in the trace")
    ax.set_ylabel("% of located errors")
    ax.set_title("Where the first error falls")
    ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "first_error_position.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(data: ReportData, tables: list[ReportTable], out: Path, judge: str | None = None) -> tuple[list[Path], list[str]]:
    """All figures into ``out``; returns (written files, notes on figures skipped for lack of data)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QmrError(f"cannot create plot folder {out}: {exc.strerror or exc}") from exc
    written, skipped = [], []
    for name, make in (
        ("accuracy vs bits", lambda: accuracy_vs_bits(data, out)),
        ("error-type stacks", lambda: error_stacks(tables, out)),
        ("first-error-position histogram", lambda: first_error_histogram(data, out, judge)),
    ):
        path = make()
        if path is None:
            skipped.append(name)
        else:
            written.append(path)
    return written, skipped
