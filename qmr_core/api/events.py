"""What a long library call reports while it works, as typed events passed to one callback.

Every call of `qmr_core.api` that takes time accepts `progress: Callable[[Event], None] | None`. A notebook can
pass `print` (each event reads as a plain line); the CLI renders the same events with rich (`cli/progress.py`).
Events carry facts, never formatting, and nothing waits on the callback's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qmr_core.generate.evaluate import BatchStats


@dataclass(frozen=True)
class Event:
    """Base of every event; `str(event)` is a line for people."""

    def __str__(self) -> str:
        return type(self).__name__


# -- evaluate --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowsSkipped(Event):
    benchmark: str
    lines: tuple[str, ...]  # one per bad row of the benchmark file

    def __str__(self) -> str:
        return f"{self.benchmark}: skipped {len(self.lines)} bad row(s)"


@dataclass(frozen=True)
class AllStored(Event):
    run_id: str
    label: str
    n_samples: int

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.label}): all {self.n_samples} samples already stored; nothing to generate"


@dataclass(frozen=True)
class Loading(Event):
    """A model is being loaded (or, for `engine == "vllm"`, its servers started; their logs at `log_stem`-*.log)."""

    name: str
    engine: str = "hf"
    log_stem: str | None = None

    def __str__(self) -> str:
        return f"loading {self.name} ..."


@dataclass(frozen=True)
class Loaded(Event):
    name: str

    def __str__(self) -> str:
        return f"loaded {self.name}"


@dataclass(frozen=True)
class Generating(Event):
    run_id: str
    model: str
    label: str
    pending: int
    done_before: int

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.label}, {self.pending} samples to generate ({self.done_before} already stored)"


@dataclass(frozen=True)
class BatchDone(Event):
    run_id: str
    stats: BatchStats

    def __str__(self) -> str:
        s = self.stats
        return f"run {self.run_id}: {s.done}/{s.total}, accuracy {s.accuracy:.1%}, {s.tokens_per_s:.0f} tok/s"


@dataclass(frozen=True)
class GenerationEnded(Event):
    run_id: str
    status: str  # done | interrupted | failed

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.status}"


# -- quantize and sweep ----------------------------------------------------------------------


@dataclass(frozen=True)
class HoldoutMissing(Event):
    """Benchmarks meant to be kept out of calibration that are not on this machine (nothing excluded for them)."""

    benchmarks: tuple[str, ...]

    def __str__(self) -> str:
        return f"note: {', '.join(self.benchmarks)} not found; nothing excluded for it from calibration"


@dataclass(frozen=True)
class QuantizeStarted(Event):
    """Library output goes to `log_path` until QuantizeEnded; `terminal` (a rich Console) still reaches the terminal."""

    label: str
    log_path: Path
    terminal: Any = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"quantizing {self.label} (library output: {self.log_path})"


@dataclass(frozen=True)
class QuantizeStage(Event):
    label: str
    text: str

    def __str__(self) -> str:
        return f"{self.label}: {self.text}"


@dataclass(frozen=True)
class LayersDone(Event):
    done: int
    total: int

    def __str__(self) -> str:
        return f"layers {self.done}/{self.total}"


@dataclass(frozen=True)
class QuantizeEnded(Event):
    pass


@dataclass(frozen=True)
class SweepStarted(Event):
    model: str
    n_methods: int
    n_bits: int
    benchmark: str
    n_problems: int

    def __str__(self) -> str:
        return (f"sweep {self.model}: {self.n_methods} methods x {self.n_bits} bit widths on {self.benchmark} "
                f"({self.n_problems} problems)")


@dataclass(frozen=True)
class CellUnavailable(Event):
    method: str
    bits: int
    reason: str

    def __str__(self) -> str:
        return f"{self.method} w{self.bits}: n/a ({self.reason})"


@dataclass(frozen=True)
class CellQuantizing(Event):
    tag: str
    backend: str
    out_dir: Path

    def __str__(self) -> str:
        return f"{self.tag}: quantizing with {self.backend} -> {self.out_dir}"


@dataclass(frozen=True)
class CellQuantized(Event):
    description: str

    def __str__(self) -> str:
        return f"  {self.description}"


@dataclass(frozen=True)
class CellReused(Event):
    tag: str

    def __str__(self) -> str:
        return f"{self.tag}: checkpoint with this recipe exists, not quantized again"


@dataclass(frozen=True)
class CellFailed(Event):
    method: str
    bits: int
    error: str

    def __str__(self) -> str:
        return f"error: {self.method} w{self.bits}: {self.error}"


# -- stages with a count: diagnose, sensitivity, recovery training ----------------------------


@dataclass(frozen=True)
class StageProgress(Event):
    """`done` of `total` in a named stage (diagnose: one bar per stage)."""

    stage: str
    done: int
    total: int

    def __str__(self) -> str:
        return f"{self.stage}: {self.done}/{self.total}"


@dataclass(frozen=True)
class ConfigMeasured(Event):
    """Sensitivity: configuration `index` of `total` measured."""

    label: str
    delta_nll: float
    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.label}: ΔNLL {self.delta_nll:+.3f} ({self.index}/{self.total})"


@dataclass(frozen=True)
class TrainStep(Event):
    step: int
    loss: float

    def __str__(self) -> str:
        return f"step {self.step}: loss {self.loss:.4f}"


@dataclass(frozen=True)
class RecoveryEvalStarted(Event):
    n_problems: int
    parent_run_id: str
    n_excluded: int

    def __str__(self) -> str:
        return (f"evaluating on {self.n_problems} problems of run {self.parent_run_id} "
                f"({self.n_excluded} training problems excluded)")


Progress = Callable[[Event], None]


def emit(progress: Progress | None, event: Event) -> None:
    if progress is not None:
        progress(event)
