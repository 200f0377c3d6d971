"""Trace screen: problem and gold on top, both traces as aligned step rows, diagnosis and verdicts."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from qmr_core.review.annotations import Annotation
from qmr_core.browse import TraceDetail, load_trace
from qmr_core.browse.trace import Side, describe_annotation, sample_markdown
from qmr_tui.messages import AnnotationSaved, AnnotationsChanged, FiltersChanged, LoadFailed, OpenFilters, OpenSummary, TraceLoaded
from qmr_tui.screens.dialogs import CorrectScreen, DetailScreen, NoteScreen, SearchScreen
from qmr_tui.widgets import divergence_shade
from qmr_tui.widgets.trace_keys import TraceKeys, problem_and_answers, traces_and_footer
from qmr_tui.widgets.trace_text import active_side_text, answers_text, diagnosis_text, side_head
from qmr_tui.widgets.trace_view import GUTTER, NUM, TraceView

if TYPE_CHECKING:
    from qmr_tui.host import BrowserApp

CACHE_SIZE = 64


class TraceScreen(TraceKeys, Screen[None]):
    BINDINGS = [
        Binding("n", "next", "Next", tooltip="Next failure"),
        Binding("p", "prev", "Prev", tooltip="Previous failure"),
        Binding("j,down", "step(1)", "Step down", show=False, tooltip="Next step"),
        Binding("k,up", "step(-1)", "Step up", show=False, tooltip="Previous step"),
        Binding("tab", "switch_pane", "Pane", priority=True, tooltip="Switch between base and quantized trace"),
        Binding("a", "accept", "Accept", tooltip="Accept the judge's diagnosis of this trace"),
        Binding("c", "correct", "Correct", tooltip="Correct the diagnosis: choose the faulty step and error type"),
        Binding("e", "note", "Note", tooltip="Write a note on this sample"),
        Binding("y", "copy_step", "Copy", tooltip="Copy the current step (OSC 52)"),
        Binding("Y", "copy_sample", "Copy sample", show=False, tooltip="Copy problem and both traces as Markdown"),
        Binding("slash", "search", "Search", show=False, key_display="/", tooltip="Search problems and traces"),
        Binding("f", "filters", "Filters", show=False, tooltip="Filter the failure list"),
        Binding("enter", "detail", "Detail", show=False, tooltip="Full text of the current step, all judges"),
        Binding("v", "layout", "Layout", show=False, tooltip="Cycle layout: auto, side by side, stacked"),
        Binding("d", "shade", "Divergence", show=False, tooltip="Shade tokens by divergence from the full-precision model"),
        Binding("g,home", "edge(0)", "First step", show=False),
        Binding("G,end", "edge(1)", "Last step", show=False),
        Binding("s", "summary", "Summary", show=False, tooltip="Summary of the comparison"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Reload this problem from the store"),
        Binding("q,escape", "back", "Back", tooltip="Back to the failure list"),
    ]

    app: BrowserApp

    def __init__(self, base_run_id: str, index: int) -> None:
        super().__init__(id="trace")
        self.base_run_id = base_run_id
        self.index = index
        self.key: tuple[str, str] | None = None
        self.detail: TraceDetail | None = None
        self.cache: OrderedDict[tuple[str, str], TraceDetail] = OrderedDict()
        self._positions: tuple[int, dict[tuple[str, str], int]] = (0, {})

    def compose(self) -> ComposeResult:
        yield Static("", id="trace-title", classes="title")
        yield from problem_and_answers()
        with Vertical(id="diagnosis"):
            yield Static("", id="diag-main", classes="one-line")
            yield Static("", id="diag-verdict", classes="one-line")
            yield Static("", id="diag-why")
            yield Static("", id="diag-markers", classes="one-line")
        yield from traces_and_footer()

    def on_mount(self) -> None:
        self.show_index(self.index)
        self.view.focus()

    # -- navigation ---------------------------------------------------------------------------

    def _position(self) -> int:
        """Where the shown problem sits in the (possibly re-filtered) failure list."""
        keys = self.app.state.nav_keys
        if self._positions[0] != id(keys):
            self._positions = (id(keys), {k: i for i, k in enumerate(keys)})
        if self.key is not None and self.key in self._positions[1]:
            return self._positions[1][self.key]
        return self.index

    def show_index(self, index: int) -> None:
        keys = self.app.state.nav_keys
        if not keys:
            self.query_one("#trace-title", Static).update("no failures match the filters (f to change them)")
            return
        self.index = max(0, min(index, len(keys) - 1))
        self.key = keys[self.index]
        cached = self.cache.get(self.key)
        if cached is not None:
            self._display(cached)
            self.call_after_refresh(self._prefetch)  # after the paint: the loads would compete with it for the GIL
        else:
            self.query_one("#trace-title", Static).update(f"loading {self.key[1]} …")
            self._load(self.key)

    def _judge(self) -> str | None:
        return self.app.state.judge

    def _read(self, key: tuple[str, str]) -> TraceDetail:
        return load_trace(self.app.store, self.base_run_id, key[0], key[1], self._judge(),  # type: ignore[arg-type]
                          self.app.annotations, self.app.state.labels)

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def _load(self, key: tuple[str, str]) -> None:
        self._post_trace(lambda: self._read(key))

    def _prefetch(self) -> None:
        keys = self.app.state.nav_keys
        wanted = [keys[i] for i in (self.index + 1, self.index - 1, self.index + 2) if 0 <= i < len(keys)]
        missing = [k for k in wanted if k not in self.cache]
        if missing:
            self._prefetch_worker(missing)

    @work(thread=True, exclusive=True, group="prefetch", exit_on_error=False)
    def _prefetch_worker(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            if not self._post_trace(lambda: self._read(key), prefetch=True):
                return  # the real load will report it when the user gets there

    def on_trace_loaded(self, message: TraceLoaded) -> None:
        detail = message.detail
        self.cache[detail.key] = detail
        self.cache.move_to_end(detail.key)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        if not message.prefetch and detail.key == self.key:
            self._display(detail)
            self.call_after_refresh(self._prefetch)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#trace-title", Static).update(Text(f"error: {message.error}", style="bold red"))

    # -- display ------------------------------------------------------------------------------

    def _display(self, detail: TraceDetail, keep_cursor: bool = False) -> None:
        self.view.set_reactive(TraceView.highlight, self.app.state.filters.search)
        self._show_in_view(detail, self._judge(), keep_cursor)
        self._update_title()
        self.query_one("#problem", Static).update(Text(detail.problem))
        self.query_one("#answers", Static).update(answers_text(detail))
        self._update_diagnosis()
        self._update_head()

    def _update_title(self) -> None:
        d = self.detail
        if d is None:
            return
        total = len(self.app.state.nav_keys)
        pos = self._position() + 1
        where = " · ".join(x for x in (d.subject, f"level {d.level}" if d.level else None) if x)
        outcome = {"lost": "LOST", "gained": "GAINED", "both_wrong": "BOTH WRONG", "both_right": "BOTH RIGHT"}[d.outcome]
        style = {"LOST": "bold red", "GAINED": "bold green"}.get(outcome, "bold yellow")
        self.query_one("#trace-title", Static).update(
            Text.assemble((outcome, style), f"  {d.problem_id}", (f"  {where}" if where else "", "dim"),
                          (f"  ·  {pos}/{total}", "bold"))
        )

    def _update_diagnosis(self) -> None:
        d = self.detail
        if d is None:
            return
        text = diagnosis_text(d, self.view.active, self._judge(), self.view.shade)
        self.query_one("#diag-main", Static).update(text.main)
        boxes = (("#diag-verdict", Text(text.verdict, style="bold cyan"), bool(text.verdict)), ("#diag-why", text.why, bool(text.why)),
                 ("#diag-markers", Text("  ".join(text.markers), style="dim"), bool(text.markers)))
        for box_id, content, shown in boxes:
            box = self.query_one(box_id, Static)
            box.update(content)
            box.display = shown

    def _update_head(self) -> None:
        d = self.detail
        if d is None:
            return
        view = self.view
        active = view.active
        if view.shade:
            self.query_one("#trace-head", Static).update(
                Text.assemble(" " * GUTTER, divergence_shade.legend(lambda n: view.get_component_rich_style(n, partial=True))))
        elif view.split:
            width = view.scrollable_content_region.width or view.size.width
            text_w = max(8, (width - GUTTER - 2 * NUM - 3) // 2)
            left = side_head(d, "base", active == "base")
            right = side_head(d, "quant", active == "quant")
            left.truncate(text_w + NUM, pad=True)
            self.query_one("#trace-head", Static).update(Text.assemble(" " * GUTTER, left, " │ ", right))
        else:
            self.query_one("#trace-head", Static).update(
                Text.assemble(
                    " " * GUTTER, ("B", "bold"), f" = {d.base.label}  ", ("Q", "bold"), f" = {d.quant.label}  ",
                    ("=", "bold"), " same step  ·  tab: ", active_side_text(active),
                )
            )

    def on_trace_view_cursor_moved(self, _message: TraceView.CursorMoved) -> None:
        self._update_diagnosis()
        self._update_head()

    def on_resize(self) -> None:
        self._update_head()

    # -- actions ------------------------------------------------------------------------------

    def action_next(self) -> None:
        if self.app.state.nav_keys:
            pos = self._position()
            if pos + 1 >= len(self.app.state.nav_keys):
                self.notify("last failure in the list", timeout=2)
                return
            self.show_index(pos + 1)

    def action_prev(self) -> None:
        if self.app.state.nav_keys:
            pos = self._position()
            if pos <= 0:
                self.notify("first failure in the list", timeout=2)
                return
            self.show_index(pos - 1)

    def action_shade(self) -> None:
        self.view.shade = not self.view.shade
        self._update_head()
        self._update_diagnosis()
        if self.view.shade and self.detail is not None and self.detail.divergence is None:
            self.notify("no divergence stored for this problem: `qmr diagnose` with a base run scores the lost and "
                        "both-right problems", severity="warning", timeout=4)

    def action_layout(self) -> None:
        self.notify(f"layout: {self.next_layout()}", timeout=2)

    def _failing(self) -> tuple[Side, tuple[str, str, int]] | None:
        if self.detail is None:
            return None
        side = self.view.active
        return side, (self.detail.side(side).run_id, self.detail.problem_id, 0)

    def action_accept(self) -> None:
        target = self._failing()
        if target is None or self.detail is None:
            return
        side, key = target
        diag = self.detail.side(side).diagnosis(self._judge())
        if diag is None:
            self.notify("nothing to accept: this trace has no diagnosis; press c to record the faulty step", severity="warning")
            return
        self._save("accept", key, diag.judge, diag.first_error_step, diag.error_type)

    def action_correct(self) -> None:
        target = self._failing()
        if target is None or self.detail is None:
            return
        side, key = target
        trace = self.detail.side(side)
        diag = trace.diagnosis(self._judge())
        step = self.view.current_step(side)
        if step is None:
            step = diag.first_error_step if diag else None
        default_type = (trace.annotation.error_type if trace.annotation and trace.annotation.error_type else None) or (
            diag.error_type if diag else None
        )
        extra_types = [d.error_type for d in trace.diagnoses if d.error_type]

        def done(result: tuple[int | None, str] | None) -> None:
            if result is not None:
                self._save("correct", key, diag.judge if diag else self._judge(), result[0], result[1])

        self.app.push_screen(CorrectScreen(trace.label, trace.steps, step, default_type, extra_types), done)

    def action_note(self) -> None:
        target = self._failing()
        if target is None or self.detail is None:
            return
        side, key = target
        ann = self.detail.side(side).annotation

        def done(note: str | None) -> None:
            if note is not None:
                self._save("note", key, None, None, None, note)

        self.app.push_screen(NoteScreen(self.detail.side(side).label, ann.note if ann and ann.note else ""), done)

    @work(thread=True, group="annotate", exit_on_error=False)
    def _save(self, action: str, key: tuple[str, str, int], judge: str | None, step: int | None,
              error_type: str | None, note: str | None = None) -> None:
        store = self.app.annotations
        try:
            if action == "accept":
                ann = store.accept(key, judge or "", step, error_type)
            elif action == "correct":
                ann = store.correct(key, judge, step, error_type)
            else:
                ann = store.set_note(key, note or "")
        except Exception as exc:
            self.post_message(LoadFailed("annotation", str(exc)))
            return
        self.post_message(AnnotationSaved(ann, action))

    def on_annotation_saved(self, message: AnnotationSaved) -> None:
        ann: Annotation = message.annotation
        for detail in self.cache.values():
            if detail.problem_id != ann.problem_id:
                continue
            for side in (detail.base, detail.quant):
                if side.run_id == ann.run_id:
                    side.annotation = ann
        if self.detail is not None:
            self._display(self.detail, keep_cursor=True)
        self.app.post_message(AnnotationsChanged())
        what = {"accept": "accepted", "correct": "corrected", "note": "note saved"}[message.action]
        self.notify(f"{what}: {describe_annotation(ann) or 'note cleared'} (saved in {self.app.annotations.path.name})", timeout=4)

    def action_copy_step(self) -> None:
        d = self.detail
        if d is None or not d.rows:
            return
        side = self.view.active
        step = self.view.current_step(side)
        if step is None:
            side = "base" if side == "quant" else "quant"
            step = self.view.current_step(side)
        if step is None:
            return
        trace = d.side(side)
        self.app.copy_to_clipboard(trace.steps[step])
        self.notify(f"copied step {step + 1} of {trace.label} (OSC 52; in tmux set `set-clipboard on`)", timeout=3)

    def action_copy_sample(self) -> None:
        if self.detail is not None:
            self.app.copy_to_clipboard(sample_markdown(self.detail))
            self.notify("copied the problem and both traces as Markdown (OSC 52)", timeout=3)

    def action_detail(self) -> None:
        if self.detail is not None and self.detail.rows:
            self.app.push_screen(DetailScreen(self.detail, self.view.cursor, self._judge()))

    def action_search(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            self.app.post_message(FiltersChanged(self.app.state.filters.with_value("search", text.strip())))
            self.view.highlight = text.strip()

        self.app.push_screen(SearchScreen(self.app.state.filters.search), done)

    def action_filters(self) -> None:
        self.app.post_message(OpenFilters())

    def action_summary(self) -> None:
        self.app.post_message(OpenSummary(self.app.state.comparison))

    def action_refresh(self) -> None:
        self.cache.clear()
        if self.key is not None:
            self.query_one("#trace-title", Static).update(f"reloading {self.key[1]} …")
            self._load(self.key)

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_screen_resume(self) -> None:
        if self.detail is not None and self.detail.judge != self._judge():
            self.action_refresh()  # the judge was changed in the filters: diagnoses differ
        elif self.detail is not None:
            self._update_title()

    def palette_commands(self) -> list[SystemCommand]:
        return [
            SystemCommand("Layout: side by side", "two columns (needs about 100 columns)", self._layout("split")),
            SystemCommand("Layout: stacked", "unified view, one trace under the other", self._layout("unified")),
            SystemCommand("Layout: automatic", "side by side from 100 columns", self._layout("auto")),
        ]

    def _layout(self, mode: str):  # noqa: ANN202
        def apply() -> None:
            self.view.layout_mode = mode  # type: ignore[assignment]
            self._update_head()

        return apply
