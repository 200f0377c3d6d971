"""The qmr browser App: owns the store handle and shared state; screens do the rest.

State flow (Harlequin's rule): every store query runs in a thread worker that posts a message; the
handlers, on the UI thread, change state and widgets. Store reads use short read-only connections
(qmr_core.store.Store), so a running `qmr eval` and the browser take turns on the file.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from qmr_core.review.annotations import AnnotationStore, default_author
from qmr_core.browse import Comparison, FailureFilters, RunInfo
from qmr_core.errors import QmrError
from qmr_core.review.store import ReviewStore
from qmr_core.store import READER_WARM_HOLD_S, Store
from qmr_tui.messages import LoadFailed, StoreOpened
from qmr_tui.screens.dialogs import ErrorScreen, HelpScreen
from qmr_tui.screens.failures import FailuresScreen
from qmr_tui.screens.runs import RunsScreen


class QmrApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "qmr"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(self, db_path: str | Path, run: str | None = None, store: Store | None = None,
                 review: str | None = None, annotator: str | None = None) -> None:
        """`store`: an already opened (checked and migrated) Store for db_path, as the CLI has one.
        `review`: open this review set in blind review mode, labelling as `annotator` (default $QMR_ANNOTATOR / $USER)."""
        super().__init__()
        self.db_path = Path(db_path).expanduser()
        self.start_run = run
        self._given_store = store
        self.store: Store | None = None
        self.annotations = AnnotationStore.for_store(self.db_path)
        self.review_store = ReviewStore.for_store(self.db_path)
        self.review_set = review
        self.annotator = (annotator or default_author()).strip() or "unknown"
        self.runs: list[RunInfo] = []
        self.comparison: Comparison | None = None
        self.judge: str | None = None
        self.judges: list[tuple[str, int]] = []
        self.labels: dict[str, str] = {}
        self.filters = FailureFilters()
        self.nav_keys: list[tuple[str, str]] = []
        self.sub_title = self.db_path.name

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

    def settle_heap(self) -> None:
        """Once a comparison has loaded: collect, then keep what is left out of later collections.

        A full collection walks every live object; with a 100k-sample comparison in memory it takes
        ~0.1 s, which would otherwise land on some later key press. Frozen objects are still freed by
        reference counting; unfreezing first lets what an earlier comparison left be collected.
        """
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def on_store_opened(self, message: StoreOpened) -> None:
        self.store = message.store
        for screen in self.screen_stack:
            if isinstance(screen, RunsScreen):
                screen.load()
        if self.review_set is not None and not any(s.id == "review" for s in self.screen_stack):
            from qmr_tui.screens.review import ReviewScreen

            self.push_screen(ReviewScreen(self.review_set, self.annotator))

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.what == "store":
            self.push_screen(ErrorScreen(message.error))
        else:
            self.notify(message.error, title=f"cannot load {message.what}", severity="error")

    def open_comparison(self, comparison: Comparison) -> None:
        if comparison != self.comparison:
            self.comparison = comparison
            self.judge = None
            self.filters = FailureFilters()
        self.push_screen(FailuresScreen(comparison))

    def run_label(self, run_id: str) -> str:
        run = next((r for r in self.runs if r.run_id == run_id), None)
        return run.short_quant if run else run_id[:8]

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
