"""Summary screen: accuracy and degradation, lost/gained, error types, judge accuracy (blind labels, then your anchored verdicts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from qmr_core.browse import Comparison, list_runs
from qmr_core.browse.summary import Summary, load_summary
from qmr_core.sensitivity.grid import Grid
from qmr_core.sensitivity.table import extremes, grid_table
from qmr_tui.messages import LoadFailed, SummaryLoaded
from qmr_tui.widgets.bar_chart import BarChart

if TYPE_CHECKING:
    from qmr_tui.host import BrowserApp


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


class SummaryScreen(Screen[None]):
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("q,escape", "back", "Back"),
    ]

    app: BrowserApp

    def __init__(self, comparison: Comparison | None) -> None:
        super().__init__(id="summary")
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        yield Static("qmr · summary", classes="title")
        with VerticalScroll(id="summary-body"):
            yield Static("loading …", id="summary-content")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#summary-body").focus()
        self._load()

    @work(thread=True, exclusive=True, group="summary", exit_on_error=False)
    def _load(self) -> None:
        store = self.app.store
        try:
            runs = list_runs(store)  # type: ignore[arg-type]
            summary = load_summary(store, runs, self.comparison, self.app.state.judge, self.app.annotations.arrow_or_empty())  # type: ignore[arg-type]
        except Exception as exc:
            self.post_message(LoadFailed("summary", str(exc)))
            return
        blind, blind_error = None, None
        try:
            from qmr_core.review.accuracy import load_accuracy

            run_ids = list(self.comparison.run_ids) if self.comparison is not None else None
            blind = load_accuracy(store, runs=run_ids)  # type: ignore[arg-type]
        except Exception as exc:  # the rest of the summary still shows
            blind_error = str(exc)
        self.post_message(SummaryLoaded(summary, blind, blind_error))

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#summary-content", Static).update(Text(f"error: {message.error}", style="bold red"))

    def on_summary_loaded(self, message: SummaryLoaded) -> None:
        from qmr_core.review.render import render_blind_accuracy

        blind = render_blind_accuracy(message.blind, message.blind_error)
        self.query_one("#summary-content", Static).update(self.render_summary(message.summary, blind))

    def render_summary(self, s: Summary, blind: RenderableType | None = None) -> RenderableType:
        parts: list[RenderableType] = []
        acc = Table(title="Accuracy by model × method × bits", title_justify="left", header_style="bold", expand=False)
        for col in ("model", "quantization", "bench", "n", "acc", "Δ pp", "rel. degr."):
            acc.add_column(col, justify="right" if col in ("n", "acc", "Δ pp", "rel. degr.") else "left")
        for row in s.accuracy:
            r = row.run
            delta = "-" if row.delta is None else f"{row.delta * 100:+.1f}"
            acc.add_row(r.family, r.short_quant, r.benchmark, str(r.n), _pct(r.accuracy), delta, _pct(row.relative))
        parts += [acc, Text("rel. degr. = (acc_fp − acc_q) / acc_fp against the full-precision run of the same model, "
                            "benchmark and prompt", style="dim"), Text()]
        runs_in = [a for a in s.accuracy if self.comparison is None or a.run.run_id in self.comparison.run_ids]
        parts += [BarChart("Accuracy", [(f"{a.run.family} {a.run.short_quant}", a.run.accuracy or 0.0) for a in runs_in], 1.0), Text()]
        if s.outcomes:
            out = Table(title="Per-problem outcomes vs the base run", title_justify="left", header_style="bold")
            for col in ("quantized run", "lost", "gained", "both right", "both wrong", "net"):
                out.add_column(col, justify="left" if col == "quantized run" else "right")
            for run_id, counts in s.outcomes.items():
                out.add_row(self.app.state.run_label(run_id), str(counts["lost"]), str(counts["gained"]), str(counts["both_right"]),
                            str(counts["both_wrong"]), f"{counts['gained'] - counts['lost']:+d}")
            parts += [out, Text()]
        if s.errors:
            judge = self.app.state.judge or "?"
            for run_id, rows in s.errors.items():
                total = sum(c.n for c in rows)
                by_type: dict[str, int] = {}
                by_cap: dict[str, int] = {}
                for c in rows:
                    by_type[c.error_type] = by_type.get(c.error_type, 0) + c.n
                    by_cap[c.capability] = by_cap.get(c.capability, 0) + c.n
                label = self.app.state.run_label(run_id)
                parts.append(BarChart(f"Error types · {label} · judge {judge} · {total} diagnosed",
                                      [(f"[E:{t}]", n / total) for t, n in sorted(by_type.items(), key=lambda x: -x[1])], 1.0, style="red"))
                parts.append(BarChart(f"Capabilities · {label}",
                                      [(c, n / total) for c, n in sorted(by_cap.items(), key=lambda x: -x[1])], 1.0, style="magenta"))
                parts.append(Text())
        elif self.comparison is not None:
            parts += [Text("No diagnoses for these runs yet: run `qmr diagnose` to fill error types.", style="yellow"), Text()]
        if s.sensitivity is not None:
            parts += self.render_sensitivity(s.sensitivity)
        if blind is not None:
            parts.append(blind)
        judges = Table(title="Judges vs your accept / correct verdicts (anchored: you saw the judge first; "
                             "blind accuracy is above)", title_justify="left", header_style="bold")
        for col in ("judge", "checked", "step right", "type right", "both right"):
            judges.add_column(col, justify="left" if col == "judge" else "right")
        for j in s.judges:
            judges.add_row(j.judge, str(j.n), f"{j.step_ok} ({j.step_accuracy:.1%})", f"{j.type_ok} ({j.type_accuracy:.1%})",
                           f"{j.both_ok} ({j.both_ok / j.n:.1%})" if j.n else "-")
        parts.append(judges)
        verdicts = ", ".join(f"{v} {n}" for v, n in sorted(s.verdicts.items())) or "none yet"
        parts.append(Text(f"your verdicts: {verdicts}  (stored in {self.app.annotations.path.name})", style="dim"))
        if self.app.annotations.problem:
            parts.append(Text(f"note: {self.app.annotations.problem}", style="bold yellow"))
        return Group(*parts)

    def render_sensitivity(self, grid: Grid) -> list[RenderableType]:
        info = grid.info
        title = (f"Layer sensitivity · {info.model_id} · {info.method} w{info.bits} · "
                 f"ΔNLL of {info.n_traces} full-precision correct traces (nats/token)")
        return [Text(title, style="bold"), grid_table(grid, "delta_nll"), Text(extremes(grid, "delta_nll"), style="dim"),
                Text("hotter = more damage when only that part is quantized; dim = within two standard errors of zero; "
                     "`qmr sensitivity --show` for other metrics", style="dim"), Text()]

    def action_refresh(self) -> None:
        self.query_one("#summary-content", Static).update("loading …")
        self._load()

    def action_back(self) -> None:
        self.app.pop_screen()
