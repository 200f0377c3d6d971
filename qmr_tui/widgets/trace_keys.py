"""What every screen that shows a TraceView shares: walk the steps, jump to either end, switch side, layout,
and putting a TraceDetail into the view."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from qmr_core.browse import TraceDetail
from qmr_core.browse.trace import Side
from qmr_tui.messages import LoadFailed, TraceLoaded
from qmr_tui.widgets.trace_view import TraceView

LAYOUTS = ("auto", "split", "unified")


def problem_and_answers() -> ComposeResult:
    """The top of a trace screen: the problem (scrolls when long), then gold and both answers."""
    with VerticalScroll(id="problem-box"):
        yield Static("", id="problem")
    yield Static("", id="answers")


def traces_and_footer() -> ComposeResult:
    """The bottom of a trace screen: the traces' header line, the TraceView, the key footer."""
    yield Static("", id="trace-head")
    yield TraceView(id="trace-view")
    yield Footer(compact=True)


class TraceKeys:
    """Mixed into a Screen that composes a TraceView and has `detail` (the trace shown) and `_update_head()`."""

    detail: TraceDetail | None

    @property
    def view(self) -> TraceView:
        return self.query_one(TraceView)  # type: ignore[attr-defined]

    def _update_head(self) -> None:
        raise NotImplementedError  # the screen's header shows the layout

    def action_step(self, delta: int) -> None:
        self.view.move(delta)

    def action_edge(self, end: int) -> None:
        if self.detail and self.detail.rows:
            self.view.cursor = len(self.detail.rows) - 1 if end else 0

    def action_switch_pane(self) -> None:
        self.view.toggle_side()

    def next_layout(self) -> str:
        self.view.layout_mode = LAYOUTS[(LAYOUTS.index(self.view.layout_mode) + 1) % len(LAYOUTS)]  # type: ignore[assignment]
        self._update_head()
        return self.view.layout_mode

    def _show_in_view(self, detail: TraceDetail, judge: str | None, keep_cursor: bool, active: Side | None = None) -> None:
        """Show `detail`; `keep_cursor`: stay on the row and side of the problem already shown (a reload)."""
        keep = keep_cursor and self.detail is not None and self.detail.key == detail.key
        self.detail = detail
        view = self.view
        view.show(detail, judge, view.cursor if keep else None, view.active if keep else active)

    def _post_trace(self, read: Callable[[], TraceDetail], prefetch: bool = False) -> bool:
        """In a worker: post the TraceDetail `read` returns; False when it failed (a prefetch stays quiet:
        the real load reports the error when the user gets there)."""
        try:
            detail = read()
        except Exception as exc:
            if not prefetch:
                self.post_message(LoadFailed("trace", str(exc)))  # type: ignore[attr-defined]
            return False
        self.post_message(TraceLoaded(detail, prefetch=prefetch))  # type: ignore[attr-defined]
        return True
