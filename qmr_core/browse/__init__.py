"""Headless queries behind the `qmr tui` browser (no Textual import here: the CLI and scripts use them too)."""

from qmr_core.browse.failures import FailureFilters, FilterResult, apply_filters, default_judge, list_judges, load_rows, search_keys
from qmr_core.browse.runs import Comparison, RunInfo, comparison_for_run, default_comparison, list_runs
from qmr_core.store.records import RunSummary
from qmr_core.browse.trace import TraceDetail, load_trace

__all__ = [
    "Comparison",
    "FailureFilters",
    "FilterResult",
    "RunInfo",
    "RunSummary",
    "TraceDetail",
    "apply_filters",
    "comparison_for_run",
    "default_comparison",
    "default_judge",
    "list_judges",
    "list_runs",
    "load_rows",
    "load_trace",
    "search_keys",
]
