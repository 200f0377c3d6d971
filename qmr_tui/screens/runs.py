"""Runs screen: every run in the store; pick a full-precision base and the quantized runs to compare."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from qmr_core.browse import Comparison, RunInfo, comparison_for_run, default_comparison, list_runs
from qmr_core.errors import QmrError
from qmr_tui.messages import LoadFailed, OpenComparison, OpenSummary, RunsListed, RunsLoaded
from qmr_tui.state import run_label

if TYPE_CHECKING:
    from qmr_tui.host import BrowserApp

COLUMNS = ("role", "model", "quantization", "benchmark", "n", "accuracy", "status", "run")
HELP_LINE = "b: base  ·  space: add/remove quantized run  ·  enter: open comparison  ·  s: summary  ·  ?: help"


class RunsScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Compare", priority=True),
        Binding("b", "set_base", "Set base"),
        Binding("space", "toggle_quant", "Add/remove quant"),
        Binding("s", "summary", "Summary"),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "quit", "Quit"),
    ]

    app: BrowserApp

    def __init__(self) -> None:
        super().__init__(id="runs")
        self.base: str | None = None
        self.quants: list[str] = []
        self.runs: list[RunInfo] = []  # as listed last; the App's state holds the same list
        self._started = False

    def compose(self) -> ComposeResult:
        yield Static("qmr · runs", id="runs-title", classes="title")
        yield Static("opening store …", id="runs-selection", classes="status")
        table: DataTable[str | Text] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(HELP_LINE, id="runs-help", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#runs-title", Static).update(f"qmr · runs in {self.app.db_path.name}")
        if self.app.store is not None:
            self.load()

    def load(self) -> None:
        self.query_one("#runs-selection", Static).update("loading runs …")
        self._load_runs()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def _load_runs(self) -> None:
        try:
            runs = list_runs(self.app.store)  # type: ignore[arg-type]
        except Exception as exc:
            self.post_message(LoadFailed("runs", str(exc)))
            return
        self.post_message(RunsLoaded(runs))

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#runs-selection", Static).update(Text(f"error: {message.error}", style="bold red"))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.runs = message.runs
        self.app.post_message(RunsListed(message.runs))
        if self.base is None or self.base not in {r.run_id for r in message.runs}:
            default = default_comparison(message.runs)
            if default is not None:
                self.base, self.quants = default.base_run_id, list(default.quant_run_ids)
        self._fill()
        if not self._started:
            self._started = True
            if self.app.start_run:
                try:
                    comparison = comparison_for_run(message.runs, self.app.start_run)
                except QmrError as exc:
                    self.notify(str(exc), severity="error", timeout=8)
                else:
                    self.base, self.quants = comparison.base_run_id, list(comparison.quant_run_ids)
                    self._fill()
                    self.app.post_message(OpenComparison(comparison))

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        row_key = None
        if table.row_count:
            row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        rows = [self._cells(r) for r in self.runs]
        table.clear(columns=True)
        for k, label in enumerate(COLUMNS):
            # a fixed width: DataTable sizes an automatic column only when next idle, and a paint before
            # that stays cached with the headers' widths (the runs then showed truncated until a key press)
            table.add_column(label, key=label, width=max([len(label)] + [row[k].cell_len for row in rows]))
        for r, cells in zip(self.runs, rows):
            table.add_row(*cells, key=r.run_id)
        if row_key is not None and row_key in {r.run_id for r in self.runs}:
            table.move_cursor(row=table.get_row_index(row_key))
        elif self.base is not None:
            table.move_cursor(row=table.get_row_index(self.base))
        self._describe()
        table.focus()

    def _cells(self, r: RunInfo) -> list[Text]:
        role = "BASE" if r.run_id == self.base else ("+ quant" if r.run_id in self.quants else "")
        acc = f"{r.accuracy:.1%}" if r.accuracy is not None else "-"
        return [Text(role, style="bold"), *(Text(x) for x in (r.model, r.quant, r.benchmark, str(r.n), acc, r.status, r.run_id))]

    def _describe(self) -> None:
        status = self.query_one("#runs-selection", Static)
        if not self.runs:
            status.update("no runs in this store yet: run `qmr eval` or `qmr demo`, then press r")
            return
        if self.base is None:
            status.update("no base chosen: move to a full-precision run and press b")
            return
        names = ", ".join(run_label(self.runs, q) for q in self.quants) or "nothing yet (space adds a run)"
        base = next(r for r in self.runs if r.run_id == self.base)
        status.update(
            Text.assemble(("base ", "bold"), f"{base.model} ({base.short_quant})", ("  vs  ", "bold"), names,
                          ("  ·  enter opens the comparison" if self.quants else "", "dim"))
        )

    def _cursor_run(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # a click selects; enter opens (a double click opens too, via the binding below)

    def action_set_base(self) -> None:
        run = self._cursor_run()
        if run is None:
            return
        self.base = run
        if run in self.quants:
            self.quants.remove(run)
        self._fill()

    def action_toggle_quant(self) -> None:
        run = self._cursor_run()
        if run is None or run == self.base:
            return
        if run in self.quants:
            self.quants.remove(run)
        else:
            self.quants.append(run)
        self._fill()

    def action_open(self) -> None:
        if not self._started:
            self.notify("still loading the runs …", timeout=2)
            return
        if self.base is None or not self.quants:
            self.notify("choose a base run (b) and at least one quantized run (space) first", severity="warning")
            return
        self.app.post_message(OpenComparison(Comparison(self.base, tuple(self.quants))))

    def action_summary(self) -> None:
        if self.app.store is not None:
            comparison = Comparison(self.base, tuple(self.quants)) if self.base and self.quants else None
            self.app.post_message(OpenSummary(comparison))

    def action_refresh(self) -> None:
        if self.app.store is not None:
            self.load()

    async def action_quit(self) -> None:
        self.app.exit()
