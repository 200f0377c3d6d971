"""What a long library call reports while it works, as typed events passed to one callback.

Every call of `qmr_core.api` that takes time accepts `progress: Callable[[Event], None] | None`. A notebook can
pass `print` (each event reads as a plain line, from its `line` template); the CLI draws the same events with
rich (`cli/progress.py`). Events carry facts, never markup, and nothing waits on the callback's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from qmr_core.generate.evaluate import BatchStats


@dataclass(frozen=True)
class Event:
    line: ClassVar[str] = "{e.__class__.__name__}"  # str.format template over the event as `e`

    def __str__(self) -> str:
        return self.line.format(e=self)


# -- evaluate: RowsSkipped? then AllStored, or Loading, Generating, BatchDone..., GenerationEnded


@dataclass(frozen=True)
class RowsSkipped(Event):
    line = "{e.benchmark}: skipped {e.count} bad row(s)"
    benchmark: str
    lines: tuple[str, ...]  # one per bad row of the benchmark file

    @property
    def count(self) -> int:
        return len(self.lines)


@dataclass(frozen=True)
class AllStored(Event):
    line = "run {e.run_id} ({e.label}): all {e.n_samples} samples already stored; nothing to generate"
    run_id: str
    label: str
    n_samples: int


@dataclass(frozen=True)
class Loading(Event):
    """A model is being loaded (for `engine == "vllm"`: its servers started, logs at `log_stem`-*.log)."""

    line = "loading {e.name} ..."
    name: str
    engine: str = "hf"
    log_stem: str | None = None


@dataclass(frozen=True)
class Loaded(Event):
    line = "loaded {e.name}"
    name: str


@dataclass(frozen=True)
class Generating(Event):
    line = "run {e.run_id}: {e.label}, {e.pending} samples to generate ({e.done_before} already stored)"
    run_id: str
    model: str
    label: str
    pending: int
    done_before: int


@dataclass(frozen=True)
class BatchDone(Event):
    line = "{e.stats.done}/{e.stats.total}, accuracy {e.stats.accuracy:.1%}, {e.stats.tokens_per_s:.0f} tok/s"
    run_id: str
    stats: BatchStats


@dataclass(frozen=True)
class GenerationEnded(Event):
    line = "run {e.run_id}: {e.status}"
    run_id: str
    status: str  # done | interrupted | failed


# -- quantize and sweep


@dataclass(frozen=True)
class HoldoutMissing(Event):
    """Benchmarks meant to be kept out of calibration that are not on this machine (nothing excluded for them)."""

    line = "note: {e.names} not found; nothing excluded for it from calibration"
    benchmarks: tuple[str, ...]

    @property
    def names(self) -> str:
        return ", ".join(self.benchmarks)


@dataclass(frozen=True)
class QuantizeStarted(Event):
    """Library output goes to `log_path` until QuantizeEnded; `terminal` (a rich Console) still reaches the terminal."""

    line = "quantizing {e.label} (library output: {e.log_path})"
    label: str
    log_path: Path
    terminal: Any = field(repr=False, compare=False)


@dataclass(frozen=True)
class QuantizeStage(Event):
    line = "{e.label}: {e.text}"
    label: str
    text: str


@dataclass(frozen=True)
class QuantizeEnded(Event):
    line = "quantization ended"


@dataclass(frozen=True)
class SweepStarted(Event):
    line = "sweep {e.model}: {e.n_methods} methods x {e.n_bits} bit widths on {e.benchmark} ({e.n_problems} problems)"
    model: str
    n_methods: int
    n_bits: int
    benchmark: str
    n_problems: int


@dataclass(frozen=True)
class CellNotRun(Event):
    """A cell the backend cannot do (status n/a) or one that failed (the sweep goes on)."""

    line = "{e.method} w{e.bits}: {e.status} ({e.reason})"
    method: str
    bits: int
    status: str  # n/a | failed
    reason: str


@dataclass(frozen=True)
class CellQuantizing(Event):
    line = "{e.tag}: quantizing with {e.backend} -> {e.out_dir}"
    tag: str
    backend: str
    out_dir: Path


@dataclass(frozen=True)
class CellQuantized(Event):
    line = "  {e.description}"
    description: str


@dataclass(frozen=True)
class CellReused(Event):
    line = "{e.tag}: checkpoint with this recipe exists, not quantized again"
    tag: str


# -- stages with a count: diagnose, sensitivity, recovery


@dataclass(frozen=True)
class StageProgress(Event):
    """`done` of `total` in a named stage (diagnose: one per stage; quantize: stage "layers")."""

    line = "{e.stage}: {e.done}/{e.total}"
    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class ConfigMeasured(Event):
    """Sensitivity: configuration `index` of `total` measured."""

    line = "{e.label}: ΔNLL {e.delta_nll:+.3f} ({e.index}/{e.total})"
    label: str
    delta_nll: float
    index: int
    total: int


@dataclass(frozen=True)
class TrainStep(Event):
    line = "step {e.step}: loss {e.loss:.4f}"
    step: int
    loss: float


@dataclass(frozen=True)
class RecoveryEvalStarted(Event):
    line = "evaluating on {e.n_problems} problems of run {e.parent_run_id} ({e.n_excluded} training problems excluded)"
    n_problems: int
    parent_run_id: str
    n_excluded: int


Progress = Callable[[Event], None]


def emit(progress: Progress | None, event: Event) -> None:
    if progress is not None:
        progress(event)
