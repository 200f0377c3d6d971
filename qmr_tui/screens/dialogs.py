"""Modal screens: help, errors, filters (with live counts), search, correct, note, step detail."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, OptionList, Select, Static
from textual.widgets.option_list import Option

from qmr_core.review.annotations import ERROR_TYPES
from qmr_core.browse import FailureFilters, FilterResult, TraceDetail
from qmr_core.browse.failures import FACETS
from qmr_core.browse.trace import describe_annotation
from qmr_tui.messages import FiltersChanged, JudgeChosen

if TYPE_CHECKING:
    from qmr_tui.host import BrowserApp

ANY = "*"


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,enter", "close", "Close")]

    def compose(self) -> ComposeResult:
        text = resources.files("qmr_tui").joinpath("help.md").read_text(encoding="utf-8")
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Markdown(text)
        yield Static("escape / q / ? closes", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class ErrorScreen(ModalScreen[None]):
    """A store that cannot be opened: one clear message, q quits."""

    BINDINGS = [Binding("q,escape,enter", "quit", "Quit")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box", classes="dialog"):
            yield Static(Text("qmr cannot open this store", style="bold red"))
            yield Static(Text(self.message))
            yield Static("press q to quit", classes="hint")

    def action_quit(self) -> None:
        self.app.exit(return_code=1, message=f"error: {self.message}")


class InputScreen(ModalScreen[str | None]):
    """One line of text: enter returns it, escape returns None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, kind: str, prompt: str, current: str, hint: str, placeholder: str = "") -> None:
        super().__init__()
        self.kind = kind  # the ids: `{kind}-box`, `{kind}-input`
        self.prompt = prompt
        self.current = current
        self.hint = hint
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id=f"{self.kind}-box", classes="dialog"):
            yield Label(self.prompt)
            yield Input(self.current, placeholder=self.placeholder, id=f"{self.kind}-input")
            yield Static(self.hint, classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SearchScreen(InputScreen):
    def __init__(self, current: str) -> None:
        super().__init__("search", "Search problem texts and both traces (any case; empty clears):", current,
                         "enter: search  ·  escape: cancel", placeholder="e.g. sqrt, 7 * 7, remainder")


class NoteScreen(InputScreen):
    def __init__(self, label: str, current: str) -> None:
        super().__init__("note", f"Note on the {label} trace (empty clears it):", current, "enter: save  ·  escape: cancel")
        self.label = label


class CorrectScreen(ModalScreen[tuple[int | None, str] | None]):
    """Choose the first faulty step (or none) and the error type."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, label: str, steps: list[str], step: int | None, error_type: str | None, extra_types: list[str],
                 title: str | None = None) -> None:
        super().__init__()
        self.label = label
        self.heading = title or f"Correct the diagnosis of the {label} trace"
        self.steps = steps
        self.step = step
        types = list(ERROR_TYPES) + [t for t in extra_types if t not in ERROR_TYPES]
        self.types = types
        self.error_type = error_type if error_type in types else types[0]

    def compose(self) -> ComposeResult:
        options: list[tuple[str, int]] = [("none: no faulty step", -1)]
        for k, text in enumerate(self.steps):
            short = " ".join(text.split())
            options.append((f"{k + 1}: {short[:48]}{'…' if len(short) > 48 else ''}", k))
        with Vertical(id="correct-box", classes="dialog"):
            yield Label(self.heading)
            yield Label("First faulty step:")
            yield Select(options, value=self.step if self.step is not None else -1, allow_blank=False, id="correct-step")
            yield Label("Error type:")
            yield OptionList(*[Option(t, id=t) for t in self.types], id="correct-type")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="correct-save")
                yield Button("Cancel", id="correct-cancel")
            yield Static("tab: next field · enter on a type or ctrl+s: save · escape: cancel", classes="hint")

    def on_mount(self) -> None:
        types = self.query_one(OptionList)
        types.highlighted = self.types.index(self.error_type)
        types.focus()

    def _result(self) -> tuple[int | None, str]:
        step = self.query_one(Select).value
        types = self.query_one(OptionList)
        chosen = self.types[types.highlighted or 0]
        return (None if step == -1 or step is Select.BLANK else int(step)), chosen  # type: ignore[arg-type]

    def on_option_list_option_selected(self, _event: OptionList.OptionSelected) -> None:
        self.dismiss(self._result())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "correct-save":
            self.dismiss(self._result())
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        self.dismiss(self._result())

    def action_cancel(self) -> None:
        self.dismiss(None)


class FiltersScreen(ModalScreen[None]):
    """Facet filters with live counts; every change applies at once to the failure list."""

    BINDINGS = [Binding("escape,enter,f", "close", "Close"), Binding("x", "reset", "Reset")]

    app: BrowserApp

    def __init__(self, result: FilterResult) -> None:
        super().__init__()
        self.result = result
        self._updating = False

    def compose(self) -> ComposeResult:
        with Vertical(id="filters-box", classes="dialog"):
            yield Static("", id="filters-count")
            for facet in FACETS:
                if facet == "quant" and len(self.result.facets.get("quant", [])) < 2 and self.app.state.filters.quant is None:
                    continue
                with Horizontal(classes="filter-row"):
                    yield Label(facet.replace("_", " "), classes="filter-label")
                    yield Select(self._options(facet), value=self._value(facet), allow_blank=False, id=f"filter-{facet}", compact=True)
            with Horizontal(classes="filter-row"):
                yield Label("judge", classes="filter-label")
                state = self.app.state
                judges = [(f"{j} ({n})", j) for j, n in state.judges] or [("(no diagnoses yet)", ANY)]
                yield Select(judges, value=state.judge if state.judge else ANY, allow_blank=False, id="filter-judge", compact=True)
            yield Static("counts update live · x: reset · escape/enter: close", classes="hint")

    def on_mount(self) -> None:
        self._show_count()

    def _value(self, facet: str) -> Any:
        value = self.app.state.filters.value(facet)
        return ANY if value is None else value

    def _options(self, facet: str) -> list[tuple[str, Any]]:
        counts = self.result.facets.get(facet, [])
        total = sum(n for _, n in counts)
        options: list[tuple[str, Any]] = [(f"any ({total})", ANY)]
        values = {v for v, _ in counts}
        options += [(f"{v} ({n})", v) for v, n in counts]
        current = self.app.state.filters.value(facet)
        if current is not None and current not in values:
            options.append((f"{current} (0)", current))
        return options

    def _show_count(self) -> None:
        r = self.result
        self.query_one("#filters-count", Static).update(
            Text.assemble(("Filters", "bold"), f"  ·  {r.shown} of {r.total} rows match")
        )

    def update_counts(self, result: FilterResult) -> None:
        self.result = result
        self._updating = True
        try:
            for facet in FACETS:
                for select in self.query(f"#filter-{facet}").results(Select):
                    with select.prevent(Select.Changed):
                        select.set_options(self._options(facet))
                        select.value = self._value(facet)
        finally:
            self._updating = False
        self._show_count()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self._updating or event.select.id is None:
            return
        facet = event.select.id.removeprefix("filter-")
        if facet == "judge":
            if event.value != ANY:
                self.app.post_message(JudgeChosen(str(event.value)))
            return
        value = None if event.value == ANY else event.value
        filters = self.app.state.filters
        if filters.value(facet) != value:
            self.app.post_message(FiltersChanged(filters.with_value(facet, value)))

    def action_reset(self) -> None:
        self.app.post_message(FiltersChanged(FailureFilters()))

    def action_close(self) -> None:
        self.dismiss(None)


class DetailScreen(ModalScreen[None]):
    """Everything about the current aligned row: full step texts, every judge, flags, verdicts."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, detail: TraceDetail, row: int, judge: str | None) -> None:
        super().__init__()
        self.detail = detail
        self.row = row
        self.judge = judge

    def compose(self) -> ComposeResult:
        d = self.detail
        r = d.rows[self.row]
        text = Text()
        text.append(f"{d.problem_id}  ·  aligned row {self.row + 1} ({r.kind.replace('_', ' ')})\n\n", style="bold")
        for side_name, step in (("base", r.base), ("quant", r.quant)):
            side = d.side(side_name)  # type: ignore[arg-type]
            text.append(f"{side.label} ({side.run_id})\n", style="bold underline")
            if step is None:
                text.append("  no matching step\n\n", style="dim")
            else:
                text.append(f"  step {step + 1}: ", style="bold")
                text.append(side.steps[step] + "\n")
                for f in side.flags:
                    if f.step_idx == step:
                        text.append(f"  [SYM] {f.text}\n", style="magenta")
                if side_name == "base" and d.flip is not None and d.flip_step == step:
                    text.append(f"  {d.flip.describe()} (teacher-forced: the base trace fed to the quantized model)\n", style="yellow")
                text.append("\n")
            for diag in side.diagnoses:
                at = "none" if diag.first_error_step is None else str(diag.first_error_step + 1)
                mine = " (shown)" if diag.judge == self.judge else ""
                text.append(f"  judge {diag.judge}{mine}: step {at} {diag.tag} {diag.capability or ''}\n", style="bold")
                if diag.rationale:
                    text.append(f"    {diag.rationale}\n", style="italic")
            verdict = describe_annotation(side.annotation)
            if verdict:
                text.append(f"  {verdict}\n", style="cyan")
            text.append("\n")
        if d.similarity is not None:
            text.append(f"trace similarity (qmr compare): {d.similarity:.2f}\n", style="dim")
        with VerticalScroll(id="detail-box", classes="dialog"):
            yield Static(text)
        yield Static("escape / enter closes", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
