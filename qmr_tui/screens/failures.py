"""Failures screen: one row per problem of the comparison, filtered, searched and sorted in workers."""

from __future__ import annotations

import gc
import threading
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from qmr_core.browse import Comparison, FailureFilters, FilterResult, apply_filters, search_keys
from qmr_core.browse.failures import SORTS, load_comparison, page_result
from qmr_tui.messages import (
    ComparisonLoaded,
    FailuresShown,
    FiltersApplied,
    FiltersChanged,
    JudgeChosen,
    LoadFailed,
    OpenSummary,
    OpenTrace,
    RowsLoaded,
    SearchDone,
)
from qmr_tui.screens.dialogs import FiltersScreen, SearchScreen
from qmr_tui.widgets.failures_table import FailuresTable, measure_columns

if TYPE_CHECKING:
    from qmr_tui.host import BrowserApp

FIRST_PAGE = 500  # rows painted before the whole comparison has loaded
FIRST_PAINT_WAIT_S = 1.0
SORT_CYCLE = ("default", "error_type", "step", "level", "subject", "similarity", "problem")
HEADER_SORTS = {"outcome": "outcome", "quant": "quant", "subject": "subject", "lvl": "level", "error": "error_type",
                "step": "step", "problem": "problem"}


class FailuresScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("f", "filters", "Filters"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("o", "sort", "Sort"),
        Binding("O", "reverse", "Reverse", show=False),
        Binding("x", "reset", "Reset filters", show=False),
        Binding("s", "summary", "Summary"),
        Binding("r", "refresh", "Refresh"),
        Binding("q,escape", "back", "Back"),
    ]

    app: BrowserApp

    def __init__(self, comparison: Comparison) -> None:
        super().__init__(id="failures")
        self.comparison = comparison
        self.rows: pa.Table | None = None
        self.matches: pa.Table | None = None
        self.result: FilterResult | None = None
        self.stale = False
        self.loaded_at = 0.0
        self.load_seconds = 0.0
        self.partial = False  # only the first page of the comparison is loaded so far
        self._first_painted = threading.Event()
        self.several_quants = len(comparison.quant_run_ids) > 1  # the table names the run on each row
        self._settled = False  # the heap was settled after the whole comparison's first paint
        self._pending_key: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(self.app.state.judge), id="failures-title", classes="title")
        yield Static("loading the comparison …", id="failures-status", classes="status")
        yield FailuresTable(id="failures-table")
        yield Footer(compact=True)

    def _title(self, judge: str | None) -> Text:
        state = self.app.state
        base = state.run_label(self.comparison.base_run_id)
        quants = ", ".join(state.run_label(q) for q in self.comparison.quant_run_ids)
        judge = f"  ·  judge: {judge}" if judge else ""
        return Text.assemble(("qmr · ", "bold"), f"{base} vs {quants}", (judge, "dim"))

    def on_mount(self) -> None:
        self.reload()

    def on_unmount(self) -> None:
        gc.unfreeze()  # this screen's tables were frozen with the heap: let them be collected

    def on_screen_resume(self) -> None:
        if self.stale:
            self.stale = False
            self.reload(keep_cursor=True)

    # -- loading ------------------------------------------------------------------------------

    def reload(self, keep_cursor: bool = True) -> None:
        self._set_status("loading the comparison …")
        if keep_cursor and self.result is not None and self.result.keys:
            self._pending_key = self.result.keys[min(self.table.cursor_row, len(self.result.keys) - 1)]
        self._load_rows(self.app.state.judge)

    @property
    def table(self) -> FailuresTable:
        return self.query_one(FailuresTable)

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def _load_rows(self, judge: str | None) -> None:
        started = time.perf_counter()
        store = self.app.store
        assert store is not None
        filters = self.app.state.filters
        try:
            if self.rows is None and filters.outcome is not None and not filters.search:
                # First visit: paint the first page of the shown outcome, then load everything.
                first = load_comparison(store, self.comparison, judge, self.app.annotations.arrow_or_empty(),
                                        outcome=filters.outcome, limit=FIRST_PAGE)
                # shown as loaded when only the outcome filters it; other filters go through apply_filters
                page = page_result(first) if filters == FailureFilters(outcome=filters.outcome) else None
                self._first_painted.clear()
                self.post_message(RowsLoaded(first.rows, first.judges, first.labels, first.judge,
                                             time.perf_counter() - started, partial=True, page=page, filters=filters,
                                             page_widths=measure_columns(page.table) if page is not None else None))
                judge = first.judge
                # the rest waits for the first page to paint: both need the GIL on a small machine
                self._first_painted.wait(FIRST_PAINT_WAIT_S)
            loaded = load_comparison(store, self.comparison, judge, self.app.annotations.arrow_or_empty())
        except Exception as exc:
            self.post_message(LoadFailed("failures", str(exc)))
            return
        if problem := self.app.annotations.problem:
            self.app.call_from_thread(self.notify, problem, severity="warning", timeout=8)
        self.post_message(RowsLoaded(loaded.rows, loaded.judges, loaded.labels, loaded.judge, time.perf_counter() - started))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        if message.partial and self.rows is not None:
            return  # the whole comparison is already here
        self.partial = message.partial
        self.rows = message.rows
        base = self.comparison.base_run_id
        labels = message.labels | {base: "base " + self.app.state.run_label(base)}
        self.app.post_message(ComparisonLoaded(message.judge, message.judges, labels))
        self.loaded_at = time.monotonic()
        self.load_seconds = message.seconds
        self.query_one("#failures-title", Static).update(self._title(message.judge))
        filters = self.app.state.filters
        if message.page is not None and message.page_widths is not None and message.filters == filters:
            self._show(message.page, message.page_widths)
        elif filters.search and self.matches is None:
            self._search(filters.search)
        else:
            self.refilter()

    def on_load_failed(self, message: LoadFailed) -> None:
        self._set_status(Text(f"error: {message.error}", style="bold red"))

    def refilter(self) -> None:
        if self.rows is not None:
            self._filter(self.rows, self.app.state.filters, self.matches)

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _filter(self, rows: pa.Table, filters: FailureFilters, matches: pa.Table | None) -> None:
        try:
            result = apply_filters(rows, filters, matches if filters.search else None, quant_column=self.several_quants)
        except Exception as exc:
            self.post_message(LoadFailed("filters", str(exc)))
            return
        self.post_message(FiltersApplied(result, filters, measure_columns(result.table)))

    def on_filters_applied(self, message: FiltersApplied) -> None:
        if message.filters != self.app.state.filters:
            return  # an older request finished after a newer one was made
        self._show(message.result, message.widths)

    def _show(self, result: FilterResult, widths: list[int]) -> None:
        old = self.result
        self.result = result
        self.app.post_message(FailuresShown(result, self.partial))
        cursor = 0
        key = self._pending_key
        if key is None and old is not None and old.keys:
            key = old.keys[min(self.table.cursor_row, len(old.keys) - 1)]
        if key is not None:
            index = {k: i for i, k in enumerate(result.keys)}.get(key)
            cursor = index if index is not None else 0
        self._pending_key = None
        focus = self.app.screen is self
        self.table.show(result.table, widths, cursor, focus=focus)
        self._update_status()
        if self.partial:
            self.call_after_refresh(self._first_painted.set)
            return
        if not self._settled:  # once: a reload's garbage is the ordinary collector's
            self._settled = True
            self.call_after_refresh(self.app.settle_heap)

    def _update_status(self) -> None:
        result = self.result
        if result is None:
            return
        f = self.app.state.filters
        if self.partial:
            text = Text.assemble((f"first {result.shown} rows", "bold"), f" · {f.describe()}",
                                 ("  ·  loading the whole comparison …", "dim"))
        elif not result.total:
            text = Text("no problem has a sample in both runs yet (press r after the eval has written some)", style="yellow")
        elif not result.shown:
            text = Text.assemble((f"0 of {result.total} rows", "bold"), f" · {f.describe()}", ("  ·  f: filters  x: reset", "dim"))
        else:
            text = Text.assemble((f"{result.shown} of {result.total} rows", "bold"), f" · {f.describe()}",
                                 ("  ·  enter: open  f: filters  /: search", "dim"))
        self._set_status(text)

    def _set_status(self, text: str | Text) -> None:
        self.query_one("#failures-status", Static).update(text)

    # -- filters and search -------------------------------------------------------------------

    def set_filters(self, filters: FailureFilters) -> None:
        self.app.post_message(FiltersChanged(filters))

    def filters_changed(self, old: FailureFilters, new: FailureFilters) -> None:
        """The App changed the filters from `old` to `new` (its state holds `new`): search or filter again."""
        if new.search != old.search and new.search:
            self._set_status(f"searching problems and traces for {new.search!r} …")
            self._search(new.search)
        else:
            if not new.search:
                self.matches = None
            self.refilter()

    def set_judge(self, judge: str) -> None:
        self.app.post_message(JudgeChosen(judge))

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, text: str) -> None:
        try:
            matches = search_keys(self.app.store, self.comparison, text)  # type: ignore[arg-type]
        except Exception as exc:
            self.post_message(LoadFailed("search", str(exc)))
            return
        self.post_message(SearchDone(text, matches))

    def on_search_done(self, message: SearchDone) -> None:
        if message.text == self.app.state.filters.search:
            self.matches = message.matches
            self.refilter()

    # -- actions ------------------------------------------------------------------------------

    def on_failures_table_opened(self, message: FailuresTable.Opened) -> None:
        self.open_index(message.index)

    def on_failures_table_header_clicked(self, message: FailuresTable.HeaderClicked) -> None:
        sort = HEADER_SORTS.get(message.label)
        if sort is None:
            return
        f = self.app.state.filters
        descending = not f.descending if f.sort == sort else False
        self.set_filters(FailureFilters(**{**f.__dict__, "sort": sort, "descending": descending}))

    def on_click(self, event: events.Click) -> None:
        if event.chain >= 2 and self.result and self.result.keys:
            self.open_index(self.table.cursor_row)

    def open_index(self, index: int) -> None:
        if self.result is None or not self.result.keys:
            self.notify("no rows to open: change the filters (f) or reset them (x)", severity="warning")
            return
        self.app.post_message(OpenTrace(self.comparison.base_run_id, index))

    def action_open(self) -> None:
        self.open_index(self.table.cursor_row)

    def action_filters(self) -> None:
        if self.result is None or self.partial:
            self.notify("still loading the comparison …", timeout=2)
            return
        self.app.push_screen(FiltersScreen(self.result))

    def action_search(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.set_filters(self.app.state.filters.with_value("search", text.strip()))

        self.app.push_screen(SearchScreen(self.app.state.filters.search), done)

    def action_sort(self) -> None:
        f = self.app.state.filters
        nxt = SORT_CYCLE[(SORT_CYCLE.index(f.sort) + 1) % len(SORT_CYCLE)] if f.sort in SORT_CYCLE else "default"
        self.set_filters(FailureFilters(**{**f.__dict__, "sort": nxt, "descending": False}))

    def action_reverse(self) -> None:
        f = self.app.state.filters
        self.set_filters(FailureFilters(**{**f.__dict__, "descending": not f.descending}))

    def action_reset(self) -> None:
        self.set_filters(FailureFilters())

    def action_summary(self) -> None:
        self.app.post_message(OpenSummary(self.comparison))

    def action_refresh(self) -> None:
        self.matches = None
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def palette_commands(self) -> list[SystemCommand]:
        commands: list[SystemCommand] = []
        for sort in SORTS:
            commands.append(SystemCommand(f"Sort by {sort.replace('_', ' ')}", "order the failure list", self._sorter(sort)))
        for outcome in ("lost", "gained", "both_wrong", "both_right", None):
            label = outcome or "any outcome"
            commands.append(SystemCommand(f"Show {label}", "filter the failure list by outcome", self._outcome(outcome)))
        for judge, n in self.app.state.judges:
            commands.append(SystemCommand(f"Judge: {judge}", f"show {judge}'s diagnoses ({n})", self._judge(judge)))
        return commands

    def _sorter(self, sort: str) -> Any:
        return lambda: self.set_filters(FailureFilters(**{**self.app.state.filters.__dict__, "sort": sort, "descending": False}))

    def _outcome(self, outcome: str | None) -> Any:
        return lambda: self.set_filters(self.app.state.filters.with_value("outcome", outcome))

    def _judge(self, judge: str) -> Any:
        return lambda: self.set_judge(judge)
