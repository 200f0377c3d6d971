"""The browser's shared state: one `BrowserState`, owned by the App and changed only by its message handlers.

Screens read it (`self.app.state`) and ask for changes by posting the messages of qmr_tui.messages; the App
applies them here and tells the screens that must react. So no screen writes to another screen or to the App.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qmr_core.browse import Comparison, FailureFilters, RunInfo

Key = tuple[str, str]  # (quantized run id, problem id): one row of the failure list


def run_label(runs: list[RunInfo], run_id: str) -> str:
    """The short name a run goes by in titles and tables: its quantization, or its id's start."""
    run = next((r for r in runs if r.run_id == run_id), None)
    return run.short_quant if run else run_id[:8]


@dataclass
class BrowserState:
    runs: list[RunInfo] = field(default_factory=list)  # every run of the store, as the runs screen last listed them
    comparison: Comparison | None = None  # the comparison last opened
    judge: str | None = None  # whose diagnoses are shown; None until the comparison's default is known
    judges: list[tuple[str, int]] = field(default_factory=list)  # (judge, diagnoses) of the comparison
    labels: dict[str, str] = field(default_factory=dict)  # run id -> the label the traces show
    filters: FailureFilters = field(default_factory=FailureFilters)
    nav_keys: list[Key] = field(default_factory=list)  # the failure list as shown: n/p walk it

    def run_label(self, run_id: str) -> str:
        return run_label(self.runs, run_id)

    def open_comparison(self, comparison: Comparison) -> None:
        """A different comparison starts with its default judge and filters; reopening one keeps them."""
        if comparison != self.comparison:
            self.comparison = comparison
            self.judge = None
            self.filters = FailureFilters()
