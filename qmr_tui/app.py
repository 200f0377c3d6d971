"""The qmr browser App: owns the store handle and the BrowserState, and routes between the screens.

State flow (Harlequin's rule): every store query runs in a thread worker that posts a message; the
handlers, on the UI thread, change state and widgets. Store reads use short read-only connections
(qmr_core.store.Store), so a running `qmr eval` and the browser take turns on the file.

Screens never import each other nor write to the App: they post the requests of qmr_tui.messages, and
the handlers below change `self.state` (qmr_tui.state.BrowserState) and tell the screens that must react.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from functools import partial
from typing import Any, TypeVar

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from qmr_core.browse import Comparison, FailureFilters, RunInfo
from qmr_core.errors import QmrError
from qmr_core.store import READER_WARM_HOLD_S, Store
from qmr_tui.host import BrowserApp
from qmr_tui.messages import (
    AnnotationsChanged,
    ComparisonLoaded,
    FailuresShown,
    FiltersChanged,
    JudgeChosen,
    LoadFailed,
    OpenComparison,
    OpenFilters,
    OpenSummary,
    OpenTrace,
    RunsListed,
    StoreOpened,
)
from qmr_tui.screens.dialogs import ErrorScreen, FiltersScreen, HelpScreen
from qmr_tui.screens.failures import FailuresScreen
from qmr_tui.screens.runs import RunsScreen

S = TypeVar("S", bound="Screen[Any]")


class QmrApp(BrowserApp):
    CSS_PATH = "app.tcss"
    TITLE = "qmr"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    # -- read-only views of the state (tests and scripts read these) -------------------------------

    @property
    def runs(self) -> list[RunInfo]:
        return self.state.runs

    @property
    def comparison(self) -> Comparison | None:
        return self.state.comparison

    @property
    def judge(self) -> str | None:
        return self.state.judge

    @property
    def judges(self) -> list[tuple[str, int]]:
        return self.state.judges

    @property
    def labels(self) -> dict[str, str]:
        return self.state.labels

    @property
    def filters(self) -> FailureFilters:
        return self.state.filters

    @property
    def nav_keys(self) -> list[tuple[str, str]]:
        return self.state.nav_keys

    def run_label(self, run_id: str) -> str:
        return self.state.run_label(run_id)

    # -- the store ---------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        if self._given_store is not None:
            self.post_message(StoreOpened(self._given_store))
        else:
            self.open_store()

    @work(thread=True, exclusive=True, group="store", exit_on_error=False)
    def open_store(self) -> None:
        try:
            store = Store(self.db_path, create=False, write=False, keep_warm_s=READER_WARM_HOLD_S)
        except QmrError as exc:
            self.post_message(LoadFailed("store", str(exc)))
            return
        except Exception as exc:  # a corrupt file or an unexpected DuckDB error: still one clear line
            self.post_message(LoadFailed("store", f"cannot open store {self.db_path}: {exc}"))
            return
        self.post_message(StoreOpened(store))

    def on_unmount(self) -> None:
        gc.unfreeze()
        if self.store is not None:
            self.store.close()

    def on_store_opened(self, message: StoreOpened) -> None:
        self.store = message.store
        runs = self._screen(RunsScreen)
        if runs is not None:
            runs.load()
        if self.review_set is not None and self._screen_id("review") is None:
            from qmr_tui.screens.review import ReviewScreen

            self.push_screen(ReviewScreen(self.review_set, self.annotator))

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.what == "store":
            self.push_screen(ErrorScreen(message.error))
        else:
            self.notify(message.error, title=f"cannot load {message.what}", severity="error")

    # -- routing: the screens' requests ------------------------------------------------------------

    def _screen(self, kind: type[S]) -> S | None:
        return next((s for s in self.screen_stack if isinstance(s, kind)), None)

    def _screen_id(self, screen_id: str) -> Screen[Any] | None:
        return next((s for s in self.screen_stack if s.id == screen_id), None)

    def on_runs_listed(self, message: RunsListed) -> None:
        self.state.runs = message.runs

    def on_open_comparison(self, message: OpenComparison) -> None:
        self.open_comparison(message.comparison)

    def open_comparison(self, comparison: Comparison) -> None:
        self.state.open_comparison(comparison)
        self.push_screen(FailuresScreen(comparison))

    def on_open_trace(self, message: OpenTrace) -> None:
        from qmr_tui.screens.trace import TraceScreen

        self.push_screen(TraceScreen(message.base_run_id, message.index))

    def on_open_summary(self, message: OpenSummary) -> None:
        from qmr_tui.screens.summary import SummaryScreen

        self.push_screen(SummaryScreen(message.comparison))

    def on_open_filters(self, _message: OpenFilters) -> None:
        failures = self._screen(FailuresScreen)
        if failures is not None:
            failures.action_filters()

    def on_filters_changed(self, message: FiltersChanged) -> None:
        old, self.state.filters = self.state.filters, message.filters
        failures = self._screen(FailuresScreen)
        if failures is not None:
            failures.filters_changed(old, message.filters)

    def on_judge_chosen(self, message: JudgeChosen) -> None:
        if message.judge != self.state.judge:
            self.state.judge = message.judge
            failures = self._screen(FailuresScreen)
            if failures is not None:
                failures.reload()

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.state.judge, self.state.judges, self.state.labels = message.judge, message.judges, message.labels

    def on_failures_shown(self, message: FailuresShown) -> None:
        self.state.nav_keys = message.result.keys
        dialog = self._screen(FiltersScreen)
        if dialog is not None and not message.partial:
            dialog.update_counts(message.result)

    def on_annotations_changed(self, _message: AnnotationsChanged) -> None:
        failures = self._screen(FailuresScreen)
        if failures is not None:
            failures.stale = True

    # -- help and the command palette --------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the current screen, plus the screen's extra commands, in the palette."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or active.node not in (screen, self) or binding.action in seen:
                continue
            seen.add(binding.action)
            key = binding.key_display or binding.key
            yield SystemCommand(
                binding.tooltip or binding.description, f"key: {key}", partial(active.node.run_action, binding.action)
            )
        extra = getattr(screen, "palette_commands", None)
        if extra is not None:
            yield from extra()
