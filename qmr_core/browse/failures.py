"""The failure table of a comparison: one row per (quantized run, problem), filters, facets, search.

`load_comparison` reads the comparison once from the store (one short read-only connection) into
Arrow, display columns included; filtering, facet counts and sorting then run on that Arrow table
with Arrow compute, so changing a filter never touches the store file (nor waits for a running eval). Free-text search over
problem texts and both traces is a store query that returns matching keys.

Outcomes are computed from the samples' `correct` flags (sample 0 of each run, the trace that is
shown), so the table works before `qmr compare` has run; the first divergent step and similarity
come from `pairs` when it has the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from qmr_core.review.annotations import empty_annotations
from qmr_core.browse.runs import Comparison
from qmr_core.store import Store
from qmr_core.store.failure_rows import DISPLAY_NAMES, comparison_rows, judge_counts, search_matches
from qmr_core.store.runs import run_labels

OUTCOMES = ("lost", "gained", "both_wrong", "both_right")
FACETS = ("outcome", "quant", "subject", "level", "error_type")
SORTS = {  # a column of the loaded rows; "default" is the order store.failure_rows returns them in
    "default": "",
    "outcome": "outcome_rank",
    "subject": "subject",
    "level": "level",
    "error_type": "error_type",
    "step": "first_error_step",
    "similarity": "similarity",
    "problem": "problem_id",
    "quant": "quant",
}
PREFERRED_JUDGES = ("combined", "vote", "majority", "ensemble", "consensus")  # qmr diagnose writes "combined"

@dataclass(frozen=True)
class FailureFilters:
    """What the failure table shows. None means 'any'."""

    outcome: str | None = "lost"
    quant: str | None = None  # a quantized run's short label, when the comparison has several
    subject: str | None = None
    level: int | None = None
    error_type: str | None = None
    search: str = ""
    sort: str = "default"
    descending: bool = False

    def value(self, facet: str) -> Any:
        return getattr(self, facet)

    def with_value(self, facet: str, value: Any) -> FailureFilters:
        return replace(self, **{facet: value})

    def describe(self) -> str:
        parts = [f"{f.replace('_', ' ')}: {self.value(f)}" for f in FACETS if self.value(f) is not None]
        if self.search:
            parts.append(f"search: {self.search!r}")
        if self.sort != "default":
            parts.append(f"sort: {self.sort}{' desc' if self.descending else ''}")
        return " · ".join(parts) or "all rows"


@dataclass
class FilterResult:
    table: pa.Table  # display columns, in display order
    keys: list[tuple[str, str]]  # (quant_run_id, problem_id) per displayed row
    total: int  # rows in the whole comparison
    facets: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)

    @property
    def shown(self) -> int:
        return len(self.keys)


def list_judges(store: Store, comparison: Comparison) -> list[tuple[str, int]]:
    with store.connect(read_only=True) as con:
        return judge_counts(con, comparison.run_ids)


def default_judge(judges: list[tuple[str, int]]) -> str | None:
    """The combined (vote) verdict when there is one, else the judge with the most diagnoses."""
    for preferred in PREFERRED_JUDGES:
        for name, _ in judges:
            if preferred in name.lower():
                return name
    return judges[0][0] if judges else None


def _labels(con: duckdb.DuckDBPyConnection, comparison: Comparison) -> dict[str, str]:
    labels = run_labels(con, list(comparison.quant_run_ids))
    plain = [labels.get(r, r[:8]) for r in comparison.quant_run_ids]
    return {
        run_id: f"{label} {run_id[:6]}" if plain.count(label) > 1 else label
        for run_id, label in zip(comparison.quant_run_ids, plain)
    }


def quant_labels(store: Store, comparison: Comparison) -> dict[str, str]:
    """run id -> a short, unique label for each quantized run ('rtn w4g64')."""
    with store.connect(read_only=True) as con:
        return _labels(con, comparison)


@dataclass
class ComparisonRows:
    rows: pa.Table  # every row of the comparison, all outcomes
    judges: list[tuple[str, int]]
    judge: str | None  # the judge whose diagnoses fill the rows
    labels: dict[str, str]  # quantized run id -> short label

    @property
    def several_quants(self) -> bool:
        """The comparison has more than one quantized run: the table names the run on each row."""
        return len(self.labels) > 1


def load_comparison(
    store: Store,
    comparison: Comparison,
    judge: str | None,
    annotations: pa.Table | None = None,
    outcome: str | None = None,
    limit: int | None = None,
) -> ComparisonRows:
    """Judges, run labels and every row of the comparison, in one short read-only connection.

    `outcome` and `limit` ask for a first page only (the rows of one outcome, in display order),
    which paints a large comparison sooner; the browser loads the whole comparison next.
    """
    ann = annotations if annotations is not None else empty_annotations()
    with store.connect(read_only=True) as con:
        judges = judge_counts(con, comparison.run_ids)
        chosen = judge if judge in {j for j, _ in judges} else default_judge(judges)
        labels = _labels(con, comparison)
        rows = comparison_rows(con, comparison.base_run_id, comparison.quant_run_ids, chosen, labels, ann,
                               outcome, limit)
    return ComparisonRows(rows, judges, chosen, labels)


def load_rows(store: Store, comparison: Comparison, judge: str | None, annotations: pa.Table | None = None) -> pa.Table:
    """Every row of the comparison (all outcomes), as Arrow."""
    return load_comparison(store, comparison, judge, annotations).rows


def search_keys(store: Store, comparison: Comparison, text: str) -> pa.Table:
    """(quant_run_id, problem_id) of the rows whose problem or either trace contains `text` (any case)."""
    with store.connect(read_only=True) as con:
        return search_matches(con, comparison.base_run_id, comparison.quant_run_ids, text)


def _mask(rows: pa.Table, facet: str, value: Any) -> pa.ChunkedArray:
    column = rows.column(facet)
    if value == "(none)":
        return pc.is_null(column)
    return pc.fill_null(pc.equal(column, pa.scalar(value, column.type)), False)


def _all(masks: list[pa.ChunkedArray], n: int) -> pa.ChunkedArray | pa.Array:
    if not masks:
        return pa.array([True] * n, pa.bool_())
    out = masks[0]
    for m in masks[1:]:
        out = pc.and_(out, m)
    return out


def _facet_counts(rows: pa.Table, facet: str, mask: Any) -> list[tuple[Any, int]]:
    values = pc.filter(rows.column(facet), mask)
    counts = [(v["values"], int(v["counts"])) for v in pc.value_counts(values).to_pylist()]
    if facet == "outcome":
        return sorted(counts, key=lambda vc: OUTCOMES.index(vc[0]) if vc[0] in OUTCOMES else 99)
    return sorted(((v if v is not None else "(none)", n) for v, n in counts), key=lambda vc: (vc[0] == "(none)", str(vc[0]) if not isinstance(vc[0], int) else f"{vc[0]:09d}"))


def _sort(table: pa.Table, keys: list[tuple[str, str]]) -> pa.Table:
    """Nulls last in every direction (per-key placement needs pyarrow >= 25; older ones take it per call)."""
    try:
        return table.sort_by([(c, order, "at_end") for c, order in keys])
    except (TypeError, ValueError):
        return table.sort_by(keys, null_placement="at_end")


def apply_filters(
    rows: pa.Table, filters: FailureFilters, matches: pa.Table | None = None, quant_column: bool | None = None
) -> FilterResult:
    """Filter, count facets and sort `rows` (from load_rows) in memory, with Arrow compute.

    `quant_column`: show the quantized run's label (as when the comparison has several runs);
    None decides from the rows.
    """
    n = rows.num_rows
    masks: dict[str, Any] = {}
    for facet in FACETS:
        value = filters.value(facet)
        if value is not None:
            masks[facet] = _mask(rows, facet, value)
    if filters.search and matches is not None:
        wanted = pc.binary_join_element_wise(matches.column("quant_run_id"), matches.column("problem_id"), chr(31))
        masks["search"] = pc.is_in(rows.column("row_key"), value_set=pc.unique(wanted))
    facets = {f: _facet_counts(rows, f, _all([m for k, m in masks.items() if k != f], n)) for f in FACETS}
    names = _display_names(quant_column if quant_column is not None else _several_quants(rows))
    sort_column = SORTS.get(filters.sort, SORTS["default"])
    needed = ["quant_run_id", "problem_id", *(f"d_{name}" for name in names)]
    if filters.sort != "default":
        needed.append(sort_column)
    shown = rows.select(needed)  # rows arrive in the default order (comparison_rows); narrow before copying
    if masks:
        shown = shown.filter(_all(list(masks.values()), n))
    order = "descending" if filters.descending else "ascending"
    if filters.sort != "default":
        shown = _sort(shown, [(sort_column, order)])  # a stable sort: ties keep the default order
    elif filters.descending:
        shown = shown.take(pa.array(range(shown.num_rows - 1, -1, -1), pa.int64()))
    return _result(shown, names, n, facets)


def page_result(first: ComparisonRows) -> FilterResult:
    """A first page as load_comparison returns it (one outcome, default order), shown as it is.

    No masks or sorting: apply_filters converts Python values to Arrow, and the first such
    conversion makes pyarrow import pandas (~0.3 s) before the table could paint.
    """
    return _result(first.rows, _display_names(first.several_quants), first.rows.num_rows, {})


def _several_quants(rows: pa.Table) -> bool:
    return rows.num_rows > 0 and len(rows.column("quant").unique()) > 1


def _display_names(quant_column: bool) -> list[str]:
    return [name for name in DISPLAY_NAMES if quant_column or name != "quant"]


def _result(shown: pa.Table, names: list[str], total: int, facets: dict[str, list[tuple[Any, int]]]) -> FilterResult:
    display = pa.table({name: shown.column(f"d_{name}") for name in names})
    keys = list(zip(shown.column("quant_run_id").to_pylist(), shown.column("problem_id").to_pylist()))
    return FilterResult(display, keys, total, facets)
