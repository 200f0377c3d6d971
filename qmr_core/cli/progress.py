"""The library's progress events (`qmr_core.api.events`) drawn with rich: lines, a spinner, progress bars.

Use it around a library call: `with RichProgress() as progress: api.evaluate(..., progress=progress)`. At most one
live display (a spinner or a bar) runs at a time; the next one, or leaving the block, ends it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from qmr_core.api import events as ev
from qmr_core.cli.common import console, err_console

MAX_SKIPPED_LINES = 20


class RichProgress:
    def __init__(self, term: Console = console) -> None:
        self.term = term
        self.live: Any = None  # a rich Status or Progress
        self.tasks: dict[str, TaskID] = {}
        self.family: str | None = None  # which kind of bar `live` is

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
        self.live, self.tasks, self.family = None, {}, None

    def _start(self, live: Any) -> Any:
        self.stop()
        live.start()
        self.live = live
        return live

    def _progress(self, family: str, make: Any) -> Progress:
        """The running bar of this family (diagnose stages, sensitivity configurations), started on first use."""
        if self.family != family:
            self._start(make())
            self.family = family
        return self.live

    def __call__(self, event: ev.Event) -> None:
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event)

    # -- evaluate
    def _on_RowsSkipped(self, e: ev.RowsSkipped) -> None:
        for line in e.lines[:MAX_SKIPPED_LINES]:
            err_console.print(f"[yellow]skipped[/] {escape(line)}", highlight=False)
        if len(e.lines) > MAX_SKIPPED_LINES:
            err_console.print(f"[yellow]skipped[/] ... and {len(e.lines) - MAX_SKIPPED_LINES} more rows")

    def _on_AllStored(self, e: ev.AllStored) -> None:
        self.term.print(f"run [bold]{e.run_id}[/] ({escape(e.label)}): all {e.n_samples} samples already stored; "
                        "nothing to generate")

    def _on_Loading(self, e: ev.Loading) -> None:
        text = f"loading {escape(e.name)} ..."
        if e.engine == "vllm":
            text = f"starting vLLM for {escape(e.name)} (minutes on CPU; log: {escape(str(e.log_stem))}-*.log) ..."
        self._start(self.term.status(text, spinner="dots"))

    def _on_Loaded(self, e: ev.Loaded) -> None:
        self.stop()

    def _on_Generating(self, e: ev.Generating) -> None:
        self.stop()
        self.term.print(f"run [bold]{e.run_id}[/]: {escape(e.label)}, {e.pending} samples to generate"
                        + (f" ({e.done_before} already stored)" if e.done_before else ""))
        bar = self._start(Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}"), TextColumn("{task.fields[tps]} tok/s"), TimeElapsedColumn(),
            TimeRemainingColumn(), console=self.term, transient=False))
        self.tasks = {"eval": bar.add_task(e.model[:32], total=e.pending, acc="-", tps="-")}

    def _on_BatchDone(self, e: ev.BatchDone) -> None:
        if isinstance(self.live, Progress) and "eval" in self.tasks:
            s = e.stats
            self.live.update(self.tasks["eval"], completed=s.done, acc=f"{s.accuracy:.1%}", tps=f"{s.tokens_per_s:.0f}")

    def _on_GenerationEnded(self, e: ev.GenerationEnded) -> None:
        self.stop()

    # -- quantize and sweep
    def _on_HoldoutMissing(self, e: ev.HoldoutMissing) -> None:
        err_console.print(f"[yellow]note[/]: {', '.join(e.benchmarks)} not found; nothing excluded for it from calibration")

    def _on_QuantizeStarted(self, e: ev.QuantizeStarted) -> None:
        bar = self._start(Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                   MofNCompleteColumn(), TextColumn("layers"), TimeElapsedColumn(),
                                   console=e.terminal, transient=True))
        self.tasks = {"quantize": bar.add_task(e.label, total=None)}

    def _on_QuantizeStage(self, e: ev.QuantizeStage) -> None:
        if "quantize" in self.tasks:
            self.live.update(self.tasks["quantize"], description=f"{e.label}: {e.text}")

    def _on_QuantizeEnded(self, e: ev.QuantizeEnded) -> None:
        self.stop()

    def _on_SweepStarted(self, e: ev.SweepStarted) -> None:
        self.term.print(f"[bold]sweep[/] {escape(e.model)}: {e.n_methods} methods x {e.n_bits} bit widths on "
                        f"{e.benchmark} ({e.n_problems} problems)")

    def _on_CellNotRun(self, e: ev.CellNotRun) -> None:
        if e.status == "failed":
            err_console.print(f"[bold red]error:[/] {e.method} w{e.bits}: {escape(e.reason)}")
        else:
            self.term.print(f"[dim]{e.method} w{e.bits}: n/a ({escape(e.reason)})[/]")

    def _on_CellQuantizing(self, e: ev.CellQuantizing) -> None:
        self.term.print(f"[bold]{e.tag}[/]: quantizing with {e.backend} -> {escape(str(e.out_dir))}")

    def _on_CellQuantized(self, e: ev.CellQuantized) -> None:
        self.term.print(f"  {escape(e.description)}")

    def _on_CellReused(self, e: ev.CellReused) -> None:
        self.term.print(f"[bold]{e.tag}[/]: checkpoint with this recipe exists, not quantized again")

    # -- counted stages
    def _on_StageProgress(self, e: ev.StageProgress) -> None:
        if e.stage == "layers" and "quantize" in self.tasks:  # layers quantized so far
            self.live.update(self.tasks["quantize"], completed=e.done, total=e.total)
            return
        bar = self._progress("stages", lambda: Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.term, transient=True))
        if e.stage not in self.tasks:
            self.tasks[e.stage] = bar.add_task(e.stage, total=e.total)
        bar.update(self.tasks[e.stage], completed=e.done)

    def _on_ConfigMeasured(self, e: ev.ConfigMeasured) -> None:
        bar = self._progress("configs", lambda: Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.term, transient=True))
        if "measuring" not in self.tasks:
            self.tasks["measuring"] = bar.add_task("measuring", total=None)
        bar.update(self.tasks["measuring"], total=e.total, completed=e.index,
                   description=f"{e.label}: ΔNLL {e.delta_nll:+.3f}")

    def _on_TrainStep(self, e: ev.TrainStep) -> None:
        self.term.print(f"[dim]step {e.step}: loss {e.loss:.4f}[/]", highlight=False)

    def _on_RecoveryEvalStarted(self, e: ev.RecoveryEvalStarted) -> None:
        self.term.print(f"evaluating on {e.n_problems} problems of run {e.parent_run_id} "
                        f"({e.n_excluded} training problems excluded)")
