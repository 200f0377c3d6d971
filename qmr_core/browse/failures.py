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
from qmr_core.store.queries import PRECISION_COLUMNS, short_quant_label

OUTCOMES = ("lost", "gained", "both_wrong", "both_right")
FACETS = ("outcome", "quant", "subject", "level", "error_type")
SORTS = {  # a column of the loaded rows; "default" is the order ROWS_SQL returns them in
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

ROWS_SQL = """
WITH q AS (
    SELECT run_id, problem_id, correct, extracted_answer FROM samples
    WHERE sample_idx = 0 AND run_id IN (SELECT unnest($quants))
), b AS (
    SELECT problem_id, correct, extracted_answer FROM samples WHERE sample_idx = 0 AND run_id = $base
), k AS (
    SELECT q.run_id AS quant_run_id, q.problem_id,
           CASE WHEN b.correct AND NOT q.correct THEN 'lost'
                WHEN NOT b.correct AND q.correct THEN 'gained'
                WHEN b.correct THEN 'both_right' ELSE 'both_wrong' END AS outcome,
           b.extracted_answer AS base_answer, q.extracted_answer AS quant_answer
    FROM q JOIN b USING (problem_id)
), kd AS (
    SELECT *, CASE WHEN outcome = 'gained' THEN $base ELSE quant_run_id END AS diag_run_id FROM k
), sel AS (
    SELECT run_id, problem_id, judge, first_error_step, error_type, capability FROM diagnoses
    WHERE sample_idx = 0 AND judge = $judge AND run_id IN (SELECT unnest($runs))
), labels AS (
    SELECT unnest($label_runs) AS run_id, unnest($label_names) AS label
), agree AS (
    -- only the other judges that located a step count (never the combined row: it is derived from them)
    SELECT d.run_id, d.problem_id,
           count(*) FILTER (WHERE d.first_error_step IS NOT NULL AND d.judge NOT IN (s.judge, 'combined')) AS n_judges,
           count(*) FILTER (WHERE d.first_error_step = s.first_error_step AND d.judge NOT IN (s.judge, 'combined')) AS n_agree,
           bool_or(s.first_error_step IS NULL) AS unlocated
    FROM diagnoses d JOIN sel s ON s.run_id = d.run_id AND s.problem_id = d.problem_id
    WHERE d.sample_idx = 0
    GROUP BY d.run_id, d.problem_id
)
SELECT kd.quant_run_id, kd.problem_id, kd.outcome, p.subject, p.level, p.answer AS gold,
       kd.base_answer, kd.quant_answer, kd.diag_run_id,
       sel.error_type, sel.first_error_step, sel.capability,
       agree.n_judges, agree.n_agree,
       pr.first_divergent_step, pr.similarity,
       a.verdict, a.note, a.first_error_step AS ann_step, a.error_type AS ann_type,
       lab.label AS quant,
       CASE kd.outcome WHEN 'lost' THEN 0 WHEN 'gained' THEN 1 WHEN 'both_wrong' THEN 2 ELSE 3 END AS outcome_rank,
       kd.quant_run_id || chr(31) || kd.problem_id AS row_key,
       {display}
FROM kd
JOIN problems p USING (problem_id)
JOIN labels lab ON lab.run_id = kd.quant_run_id
LEFT JOIN sel ON sel.run_id = kd.diag_run_id AND sel.problem_id = kd.problem_id
LEFT JOIN agree ON agree.run_id = kd.diag_run_id AND agree.problem_id = kd.problem_id
LEFT JOIN pairs pr ON pr.base_run_id = $base AND pr.quant_run_id = kd.quant_run_id AND pr.problem_id = kd.problem_id
LEFT JOIN ann a ON a.run_id = kd.diag_run_id AND a.problem_id = kd.problem_id AND a.sample_idx = 0
ORDER BY outcome_rank, p.subject, p.level, kd.problem_id, lab.label
"""

_KD_FROM = "quant_run_id END AS diag_run_id FROM k"

SEARCH_SQL = """
SELECT q.run_id AS quant_run_id, q.problem_id
FROM samples q
JOIN samples b ON b.run_id = $base AND b.problem_id = q.problem_id AND b.sample_idx = 0
JOIN problems p ON p.problem_id = q.problem_id
WHERE q.sample_idx = 0 AND q.run_id IN (SELECT unnest($quants))
  AND (contains(lower(p.problem), $needle) OR contains(lower(q.output), $needle) OR contains(lower(b.output), $needle))
"""


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


def _judges(con: duckdb.DuckDBPyConnection, comparison: Comparison) -> list[tuple[str, int]]:
    rows = con.execute(
        "SELECT judge, count(*) FROM diagnoses WHERE run_id IN (SELECT unnest(?)) GROUP BY 1 ORDER BY 2 DESC, 1",
        [list(comparison.run_ids)],
    ).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def list_judges(store: Store, comparison: Comparison) -> list[tuple[str, int]]:
    with store.connect(read_only=True) as con:
        return _judges(con, comparison)


def default_judge(judges: list[tuple[str, int]]) -> str | None:
    """The combined (vote) verdict when there is one, else the judge with the most diagnoses."""
    for preferred in PREFERRED_JUDGES:
        for name, _ in judges:
            if preferred in name.lower():
                return name
    return judges[0][0] if judges else None


def _labels(con: duckdb.DuckDBPyConnection, comparison: Comparison) -> dict[str, str]:
    rows = con.execute(
        f"""SELECT r.run_id, coalesce(m.method, 'none'), m.bits, m.group_size, m.act_bits, {PRECISION_COLUMNS}
            FROM runs r LEFT JOIN models m USING (model_id) WHERE r.run_id IN (SELECT unnest(?))""",
        [list(comparison.quant_run_ids)],
    ).fetchall()
    labels = {run_id: short_quant_label(*label) for run_id, *label in rows}
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
        judges = _judges(con, comparison)
        chosen = judge if judge in {j for j, _ in judges} else default_judge(judges)
        labels = _labels(con, comparison)
        con.register("ann", ann)
        params = {
            "base": comparison.base_run_id,
            "quants": list(comparison.quant_run_ids),
            "runs": list(comparison.run_ids),
            "judge": chosen,
            "label_runs": list(labels),
            "label_names": list(labels.values()),
        }
        sql = ROWS_SQL.replace("{display}", _display_sql())
        if outcome is not None:
            sql = sql.replace(_KD_FROM, _KD_FROM + " WHERE outcome = $outcome")
            params["outcome"] = outcome
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = con.sql(sql, params=params).to_arrow_table()
    return ComparisonRows(rows, judges, chosen, labels)


def load_rows(store: Store, comparison: Comparison, judge: str | None, annotations: pa.Table | None = None) -> pa.Table:
    """Every row of the comparison (all outcomes), as Arrow."""
    return load_comparison(store, comparison, judge, annotations).rows


def search_keys(store: Store, comparison: Comparison, text: str) -> pa.Table:
    """(quant_run_id, problem_id) of the rows whose problem or either trace contains `text` (any case)."""
    params = {"base": comparison.base_run_id, "quants": list(comparison.quant_run_ids), "needle": text.lower()}
    with store.connect(read_only=True) as con:
        return con.sql(SEARCH_SQL, params=params).to_arrow_table()


def _short(column: str, width: int) -> str:
    return f"CASE WHEN length({column}) > {width} THEN left({column}, {width - 1}) || '…' ELSE {column} END"


# The table's columns, formatted once at load time (name in the table, SQL over the joined rows).
DISPLAY = [
    ("outcome", "kd.outcome"),
    ("quant", "lab.label"),
    ("subject", _short("coalesce(p.subject, '')", 14)),
    ("lvl", "coalesce(p.level::VARCHAR, '')"),
    ("gold", _short("p.answer", 12)),
    ("base", _short("coalesce(kd.base_answer, '∅')", 12)),
    ("quantized", _short("coalesce(kd.quant_answer, '∅')", 12)),
    ("error", "coalesce(sel.error_type, '')"),
    ("step", "coalesce((sel.first_error_step + 1)::VARCHAR, '')"),
    ("agree", "CASE WHEN agree.unlocated THEN 'none' WHEN agree.n_judges > 0 "
              "THEN agree.n_agree::VARCHAR || '/' || agree.n_judges::VARCHAR ELSE '' END"),
    ("you", "coalesce(a.verdict, CASE WHEN a.note IS NOT NULL THEN 'note' END, '')"),
    ("problem", "kd.problem_id"),
]


def _display_sql() -> str:
    return ",\n       ".join(f"{sql} AS d_{name}" for name, sql in DISPLAY)


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
    shown = rows.select(needed)  # rows arrive in the default order (ROWS_SQL); narrow before copying
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
    return [name for name, _ in DISPLAY if quant_column or name != "quant"]


def _result(shown: pa.Table, names: list[str], total: int, facets: dict[str, list[tuple[Any, int]]]) -> FilterResult:
    display = pa.table({name: shown.column(f"d_{name}") for name in names})
    keys = list(zip(shown.column("quant_run_id").to_pylist(), shown.column("problem_id").to_pylist()))
    return FilterResult(display, keys, total, facets)
