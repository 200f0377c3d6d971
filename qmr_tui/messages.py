"""Messages: what workers post back to the UI thread (workers never touch widgets), and what screens ask the App.

The requests at the end go to the App (`self.app.post_message`): it changes the BrowserState and routes
between the screens, so a screen never writes to the App's state, to another screen, or searches the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
from textual.message import Message

from qmr_core.review.annotations import Annotation
from qmr_core.browse import Comparison, FailureFilters, FilterResult, RunInfo, TraceDetail
from qmr_core.browse.summary import Summary
from qmr_core.store import Store

if TYPE_CHECKING:  # loaded by the screens that need them, not at startup
    from qmr_core.review.accuracy import AccuracyResult
    from qmr_core.review.store import BlindLabel, ReviewItem, ReviewSet


@dataclass
class StoreOpened(Message):
    store: Store


@dataclass
class LoadFailed(Message):
    """A worker met an error; `what` says which load, for the message shown."""

    what: str
    error: str


@dataclass
class RunsLoaded(Message):
    runs: list[RunInfo]


@dataclass
class RowsLoaded(Message):
    rows: pa.Table
    judges: list[tuple[str, int]]
    labels: dict[str, str]
    judge: str | None
    seconds: float
    partial: bool = False  # a first page only; the whole comparison follows
    page: FilterResult | None = None  # the first page, ready to show, for `filters`
    filters: FailureFilters | None = None
    page_widths: list[int] | None = None  # measure_columns(page.table)


@dataclass
class SearchDone(Message):
    text: str
    matches: pa.Table | None


@dataclass
class FiltersApplied(Message):
    result: FilterResult
    filters: FailureFilters
    widths: list[int]  # measure_columns(result.table), measured in the worker


@dataclass
class TraceLoaded(Message):
    detail: TraceDetail
    prefetch: bool = False


@dataclass
class SummaryLoaded(Message):
    summary: Summary
    blind: AccuracyResult | None = None  # judge accuracy against blind labels
    blind_error: str | None = None


@dataclass
class AnnotationSaved(Message):
    annotation: Annotation
    action: str


@dataclass
class ReviewLoaded(Message):
    review_set: ReviewSet
    items: list[ReviewItem]
    labels: dict[tuple[str, str, int], BlindLabel]  # this annotator's blind labels


@dataclass
class BlindLabelSaved(Message):
    label: BlindLabel


# -- requests to the App: state changes ---------------------------------------------------------


@dataclass
class RunsListed(Message):
    """The runs screen listed the store's runs: the labels every screen shows come from them."""

    runs: list[RunInfo]


@dataclass
class FiltersChanged(Message):
    filters: FailureFilters


@dataclass
class JudgeChosen(Message):
    judge: str


@dataclass
class ComparisonLoaded(Message):
    """The failure list loaded its comparison: the judge shown, every judge with its count, the runs' labels."""

    judge: str | None
    judges: list[tuple[str, int]]
    labels: dict[str, str]


@dataclass
class FailuresShown(Message):
    """The failure list shows `result` (n/p walk its keys); `partial`: only the first page so far."""

    result: FilterResult
    partial: bool


class AnnotationsChanged(Message):
    """A verdict or note was saved: the failure list reloads when it is shown again."""


# -- requests to the App: navigation ------------------------------------------------------------


@dataclass
class OpenComparison(Message):
    comparison: Comparison


@dataclass
class OpenTrace(Message):
    base_run_id: str
    index: int  # the row of the failure list


@dataclass
class OpenSummary(Message):
    comparison: Comparison | None


class OpenFilters(Message):
    """The failure list's filter dialog, asked for from a screen above the list."""
