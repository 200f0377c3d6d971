"""The keys every screen that shows a TraceView shares: walk the steps, jump to either end, switch side, layout."""

from __future__ import annotations

from qmr_core.browse import TraceDetail
from qmr_tui.widgets.trace_view import TraceView

LAYOUTS = ("auto", "split", "unified")


class TraceKeys:
    """Mixed into a Screen that has `view` (its TraceView), `detail` (the trace shown) and `_update_head()`."""

    view: TraceView
    detail: TraceDetail | None

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
