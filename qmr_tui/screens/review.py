"""Blind review: walk a review set; every verdict stays hidden until the researcher's own label.

Hidden while blind: every judge's and the combined step and type, agreement, rationales, the
[E:...] [SYM] [DIV] [FLIP] markers, the researcher's earlier accept/correct verdicts and the step
detail; the view opens at the first step, not at a judged one. `l` records the first faulty step
and type (or "no error") as a blind label with the annotator's name and a timestamp; only then are
the verdicts shown beside it. A blind label is final (qmr_core.review.store).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from qmr_core.browse import TraceDetail, load_trace
from qmr_core.browse.trace import Diagnosis
from qmr_core.review.store import BlindLabel, ReviewItem, ReviewSet
from qmr_tui.messages import BlindLabelSaved, LoadFailed, OpenSummary, ReviewLoaded, TraceLoaded
from qmr_tui.screens.dialogs import CorrectScreen, DetailScreen
from qmr_tui.widgets.trace_keys import TraceKeys, problem_and_answers, traces_and_footer
from qmr_tui.widgets.trace_text import active_side_text, answers_text, side_head
from qmr_tui.widgets.trace_view import GUTTER, TraceView

if TYPE_CHECKING:
    from qmr_tui.host import BrowserApp

MAX_JUDGE_LINES = 4


def _step(idx: int | None) -> str:
    return "none" if idx is None else str(idx + 1)


def _mark(ok: bool) -> tuple[str, str]:
    return ("✓", "green") if ok else ("✗", "red")


def verdict_lines(label: BlindLabel, diagnoses: list[Diagnosis], judge: str) -> list[Text]:
    """The revealed panel: the blind label, then each verdict (shown judge first) scored against it."""
    located = [d for d in diagnoses if d.first_error_step is not None]
    same = sum(d.first_error_step == label.first_error_step for d in located)
    head = Text.assemble(("you (blind, ", "bold cyan"), (label.annotator, "bold cyan"), ("): ", "bold cyan"),
                         (label.describe(), "bold cyan"))
    if diagnoses:
        agree = f"{same} of {len(located)} judges that located a step agree" if located else "no judge located a step"
        head.append(f"  ·  {agree}", style="dim")
    lines = [head]
    ordered = sorted(diagnoses, key=lambda d: (d.judge != judge, d.judge))
    why = next((d.rationale for d in ordered if d.judge == judge and d.rationale), None)
    for d in ordered[:MAX_JUDGE_LINES]:
        step_ok = d.first_error_step == label.first_error_step
        type_ok = (d.error_type or None) == label.error_type
        line = Text.assemble((f"{d.judge:<12} ", "bold"), f"step {_step(d.first_error_step):>4} ", (d.tag, "red"), "  ")
        line.append_text(Text.assemble(_mark(step_ok), " step  ", _mark(type_ok), " type"))
        lines.append(line)
    if len(ordered) > MAX_JUDGE_LINES:
        lines.append(Text(f"… {len(ordered) - MAX_JUDGE_LINES} more judges: enter shows all", style="dim"))
    if not diagnoses:
        lines.append(Text("no diagnoses of this trace", style="yellow"))
    if why:
        lines.append(Text(f"{judge}: " + " ".join(why.split()), style="italic dim"))
    return lines


class ReviewScreen(TraceKeys, Screen[None]):
    BINDINGS = [
        Binding("l", "label", "Label", tooltip="Record the first faulty step and error type (or no error), blind"),
        Binding("n", "next", "Next", tooltip="Next sample of the review set"),
        Binding("p", "prev", "Prev", tooltip="Previous sample of the review set"),
        Binding("j,down", "step(1)", "Step down", show=False),
        Binding("k,up", "step(-1)", "Step up", show=False),
        Binding("g,home", "edge(0)", "First step", show=False),
        Binding("G,end", "edge(1)", "Last step", show=False),
        Binding("tab", "switch_pane", "Pane", priority=True, tooltip="Switch between base and quantized trace"),
        Binding("v", "layout", "Layout", show=False, tooltip="Cycle layout: auto, side by side, stacked"),
        Binding("enter", "detail", "Detail", show=False, tooltip="Every judge's verdict (after your label)"),
        Binding("s", "summary", "Summary", show=False, tooltip="Summary, with judge accuracy against blind labels"),
        Binding("q,escape", "back", "Back"),
    ]

    app: BrowserApp

    def __init__(self, set_name: str, annotator: str) -> None:
        super().__init__(id="review")
        self.set_name = set_name
        self.annotator = annotator
        self.review_set: ReviewSet | None = None
        self.items: list[ReviewItem] = []
        self.labels: dict[tuple[str, str, int], BlindLabel] = {}
        self.index = 0
        self.detail: TraceDetail | None = None
        self.cache: dict[tuple[str, str], TraceDetail] = {}
        self._shown_at = time.monotonic()

    def compose(self) -> ComposeResult:
        yield Static(f"blind review · {self.set_name} · loading …", id="review-title", classes="title")
        yield from problem_and_answers()
        yield Static("", id="review-panel")
        yield from traces_and_footer()

    @property
    def item(self) -> ReviewItem | None:
        return self.items[self.index] if self.items else None

    @property
    def revealed(self) -> bool:
        return self.item is not None and self.item.key in self.labels

    def on_mount(self) -> None:
        self.view.set_blind(True)
        self.view.focus()
        self._load_set()

    def _judge(self) -> str:
        return self.review_set.judge if self.review_set else "combined"

    # -- loading ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="review-set", exit_on_error=False)
    def _load_set(self) -> None:
        review = self.app.review_store
        try:
            review_set, items = review.require_set(self.set_name)
            labels = {lab.key: lab for lab in review.blind_labels(annotator=self.annotator)}
        except Exception as exc:
            self.post_message(LoadFailed("review set", str(exc)))
            return
        self.post_message(ReviewLoaded(review_set, items, labels))

    def on_review_loaded(self, message: ReviewLoaded) -> None:
        self.review_set, self.items, self.labels = message.review_set, message.items, message.labels
        if not self.items:
            self.query_one("#review-title", Static).update(f"review set {self.set_name} has no samples")
            return
        first = next((k for k, i in enumerate(self.items) if i.key not in self.labels), 0)
        self.show_index(first)

    def show_index(self, index: int) -> None:
        self.index = max(0, min(index, len(self.items) - 1))
        item = self.items[self.index]
        cached = self.cache.get((item.run_id, item.problem_id))
        if cached is not None:
            self._display(cached)
        else:
            self.query_one("#review-title", Static).update(f"blind review · loading {item.problem_id} …")
            self._load(item)

    def _read(self, item: ReviewItem) -> TraceDetail:
        if item.base_run_id is None:
            raise ValueError(f"{item.problem_id}: its run has no base run to show beside it")
        labels = {r.run_id: r.short_quant for r in self.app.state.runs}
        # annotations=None: the researcher's earlier accept/correct verdicts would show a judge's answer
        return load_trace(self.app.store, item.base_run_id, item.run_id, item.problem_id, self._judge(), None, labels)  # type: ignore[arg-type]

    @work(thread=True, exclusive=True, group="review-trace", exit_on_error=False)
    def _load(self, item: ReviewItem) -> None:
        self._post_trace(lambda: self._read(item))

    @work(thread=True, exclusive=True, group="review-prefetch", exit_on_error=False)
    def _prefetch(self, item: ReviewItem) -> None:
        self._post_trace(lambda: self._read(item), prefetch=True)

    def on_trace_loaded(self, message: TraceLoaded) -> None:
        detail = message.detail
        self.cache[detail.key] = detail
        item = self.item
        shown = self.detail is not None and self.detail.key == detail.key
        if item is not None and detail.key == (item.run_id, item.problem_id) and not shown:
            self._display(detail)

    def _prefetch_next(self) -> None:
        if self.index + 1 < len(self.items):
            nxt = self.items[self.index + 1]
            if (nxt.run_id, nxt.problem_id) not in self.cache:
                self._prefetch(nxt)

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.what == "blind label":
            self.notify(message.error, title="label not saved", severity="error")
        else:
            self.query_one("#review-title", Static).update(Text(f"error: {message.error}", style="bold red"))

    # -- display ------------------------------------------------------------------------------

    def _display(self, detail: TraceDetail, keep_cursor: bool = False) -> None:
        self.view.set_blind(not self.revealed)
        self._show_in_view(detail, self._judge(), keep_cursor, "quant")
        if not keep_cursor:
            self._shown_at = time.monotonic()
        self._update_title()
        self.query_one("#problem", Static).update(Text(detail.problem))
        self.query_one("#answers", Static).update(answers_text(detail))
        self._update_panel()
        self._update_head()
        if not keep_cursor:
            self.call_after_refresh(self._prefetch_next)

    def _update_title(self) -> None:
        item = self.item
        if item is None:
            return
        done = sum(i.key in self.labels for i in self.items)
        state = ("revealed", "bold green") if self.revealed else ("BLIND", "bold reverse yellow")
        self.query_one("#review-title", Static).update(Text.assemble(
            state, f"  {item.problem_id}", (f"  ·  {self.index + 1}/{len(self.items)}", "bold"),
            (f"  ·  {done} labelled  ·  {self.annotator}  ·  set {self.set_name}", "dim"),
        ))

    def _update_panel(self) -> None:
        d, item = self.detail, self.item
        if d is None or item is None:
            return
        panel = self.query_one("#review-panel", Static)
        label = self.labels.get(item.key)
        if label is None:
            panel.update(Text.assemble(
                ("verdicts hidden", "bold yellow"), " until you label it  ·  ", ("l", "bold"),
                ": first faulty step and type, or none",
            ))
            return
        panel.update(Text("\n").join(verdict_lines(label, d.quant.diagnoses, self._judge())))

    def _update_head(self) -> None:
        d = self.detail
        if d is None:
            return
        view = self.view
        if view.split:
            width = view.scrollable_content_region.width or view.size.width
            left = side_head(d, "base", view.active == "base")
            left.truncate(max(8, (width - GUTTER) // 2 - 1), pad=True)
            right = side_head(d, "quant", view.active == "quant")
            self.query_one("#trace-head", Static).update(Text.assemble(" " * GUTTER, left, " │ ", right))
        else:
            self.query_one("#trace-head", Static).update(Text.assemble(
                " " * GUTTER, ("B", "bold"), f" = {d.base.label}  ", ("Q", "bold"), f" = {d.quant.label}  ·  tab: ",
                active_side_text(view.active),
            ))

    def on_trace_view_cursor_moved(self, _message: TraceView.CursorMoved) -> None:
        self._update_head()

    def on_resize(self) -> None:
        self._update_head()

    # -- labelling ----------------------------------------------------------------------------

    def action_label(self) -> None:
        d, item = self.detail, self.item
        if d is None or item is None or d.key != (item.run_id, item.problem_id):
            return  # still loading this sample
        if item.key in self.labels:
            self.notify(f"already labelled blind: {self.labels[item.key].describe()} (a second label would not be blind)",
                        severity="warning")
            return
        seconds = time.monotonic() - self._shown_at
        trace = d.quant
        step = self.view.current_step("quant")

        def done(result: tuple[int | None, str] | None) -> None:
            if result is not None:
                self._save(item, result[0], result[1], seconds)

        self.app.push_screen(
            CorrectScreen(trace.label, trace.steps, step, None, [],
                          title=f"Your blind label for the {trace.label} trace (none = no error)"),
            done,
        )

    @work(thread=True, group="review-save", exit_on_error=False)
    def _save(self, item: ReviewItem, step: int | None, error_type: str, seconds: float) -> None:
        try:
            label = self.app.review_store.add_blind_label(
                item.key, step, error_type if step is not None else None, self.annotator, self.set_name, round(seconds, 1)
            )
        except Exception as exc:
            self.post_message(LoadFailed("blind label", str(exc)))
            return
        self.post_message(BlindLabelSaved(label))

    def on_blind_label_saved(self, message: BlindLabelSaved) -> None:
        label = message.label
        self.labels[label.key] = label
        item = self.item
        if self.detail is not None and item is not None and item.key == label.key:
            self._display(self.detail, keep_cursor=True)
        left = sum(i.key not in self.labels for i in self.items)
        more = f"n: next ({left} left)" if left else "all labelled: s shows judge accuracy (or `qmr judge-accuracy`)"
        self.notify(f"blind label saved: {label.describe()}; verdicts revealed · {more}", timeout=4)

    # -- navigation and the rest -------------------------------------------------------------

    def action_next(self) -> None:
        if self.items:
            if self.index + 1 >= len(self.items):
                self.notify("last sample of the set", timeout=2)
                return
            self.show_index(self.index + 1)

    def action_prev(self) -> None:
        if self.items:
            if self.index <= 0:
                self.notify("first sample of the set", timeout=2)
                return
            self.show_index(self.index - 1)

    def action_layout(self) -> None:
        self.next_layout()

    def action_detail(self) -> None:
        if self.detail is None or not self.detail.rows:
            return
        if not self.revealed:
            self.notify("verdicts stay hidden until you label this sample (l)", severity="warning", timeout=3)
            return
        self.app.push_screen(DetailScreen(self.detail, self.view.cursor, self._judge()))

    def action_summary(self) -> None:
        self.app.post_message(OpenSummary(None))

    def action_back(self) -> None:
        self.app.pop_screen()
