"""Blind labels and review sets, kept in the annotations side file (`<store>.annotations.duckdb`).

A *blind label* is the researcher's own first faulty step and error type for a failing sample,
recorded before any verdict was shown. It is final: once recorded the verdicts are revealed, so a
second blind label by the same annotator could not be blind any more and is refused (later views go
to the ordinary accept / correct annotations, which stay separate and are never used for accuracy).

The tables are additive (CREATE IF NOT EXISTS) next to the annotation tables and carry their own
version row (`review_schema`), so an older qmr keeps reading the file and ignores them. Which error
types a label may name is the taxonomy's: qmr_core/review/store.py binds them (`error_types`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import duckdb

from qmr_core.store.annotations import AnnotationStore, SampleKey, default_author
from qmr_core.errors import QmrError
from qmr_core.store.rows import SAMPLE_KEY_DDL

REVIEW_SCHEMA_VERSION = 1

_DDL = f"""
CREATE TABLE IF NOT EXISTS review_schema (version INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS blind_labels (
{SAMPLE_KEY_DDL}
    annotator        VARCHAR NOT NULL,
    first_error_step INTEGER,            -- 0-based step_idx; NULL = no error in this trace
    error_type       VARCHAR,            -- NULL exactly when first_error_step is NULL
    review_set       VARCHAR,            -- the set it was labelled in, if any
    seconds          DOUBLE,             -- from showing the sample to the label
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, problem_id, sample_idx, annotator)
);
CREATE TABLE IF NOT EXISTS review_sets (
    name        VARCHAR PRIMARY KEY,
    by_key      VARCHAR NOT NULL,        -- error_type | run | subject | level | none
    allocation  VARCHAR NOT NULL,        -- proportional
    seed        INTEGER NOT NULL,
    n_requested INTEGER NOT NULL,
    judge       VARCHAR NOT NULL,        -- whose diagnoses define the population and the strata
    runs_json   VARCHAR NOT NULL,
    population  INTEGER NOT NULL,        -- failing samples the set was drawn from
    strata_json VARCHAR NOT NULL,        -- stratum -> [population, drawn]
    author      VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS review_items (
    set_name    VARCHAR NOT NULL,
    pos         INTEGER NOT NULL,        -- review order (shuffled, so strata do not cluster)
    run_id      VARCHAR NOT NULL,
    base_run_id VARCHAR,
    problem_id  VARCHAR NOT NULL,
    sample_idx  INTEGER NOT NULL,
    stratum     VARCHAR NOT NULL,
    PRIMARY KEY (set_name, pos)
);
"""


@dataclass(frozen=True)
class BlindLabel:
    run_id: str
    problem_id: str
    sample_idx: int
    annotator: str
    first_error_step: int | None  # None: the annotator found no error
    error_type: str | None
    review_set: str | None = None
    seconds: float | None = None
    created_at: datetime | None = None

    @property
    def key(self) -> SampleKey:
        return (self.run_id, self.problem_id, self.sample_idx)

    @property
    def no_error(self) -> bool:
        return self.first_error_step is None

    def describe(self) -> str:
        if self.no_error:
            return "no error"
        return f"step {self.first_error_step + 1} [E:{self.error_type}]"  # type: ignore[operator]


@dataclass(frozen=True)
class ReviewItem:
    pos: int
    run_id: str
    base_run_id: str | None
    problem_id: str
    sample_idx: int
    stratum: str

    @property
    def key(self) -> SampleKey:
        return (self.run_id, self.problem_id, self.sample_idx)


@dataclass(frozen=True)
class ReviewSet:
    name: str
    by_key: str
    allocation: str
    seed: int
    n_requested: int
    judge: str
    runs: list[str]
    population: int
    strata: dict[str, list[int]]
    author: str
    created_at: datetime | None = None

    def same_draw(self, other: ReviewSet) -> bool:
        fields = ("by_key", "allocation", "seed", "n_requested", "judge", "runs")
        return all(getattr(self, f) == getattr(other, f) for f in fields)


_LABEL_COLS = "run_id, problem_id, sample_idx, annotator, first_error_step, error_type, review_set, seconds, created_at"
_SET_COLS = "name, by_key, allocation, seed, n_requested, judge, runs_json, population, strata_json, author, created_at"


def _set_of(row: tuple) -> ReviewSet:
    name, by, alloc, seed, n, judge, runs, pop, strata, author, created = row
    return ReviewSet(name, by, alloc, seed, n, judge, json.loads(runs), pop, json.loads(strata), author, created)


def check_label(step: int | None, error_type: str | None, error_types: tuple[str, ...]) -> str | None:
    """The error type to store: None for 'no error', else one of ``error_types`` (or raise)."""
    if step is None:
        return None
    if step < 0:
        raise QmrError("step must be >= 0")
    if error_type not in error_types:
        raise QmrError(f"error type must be one of {', '.join(error_types)} (got {error_type!r})")
    return error_type


class ReviewSetStore(AnnotationStore):
    """The annotations file plus its blind-review tables; a label's error type must be in ``error_types``."""

    error_types: tuple[str, ...] = ()

    def _init(self, con: duckdb.DuckDBPyConnection) -> None:
        super()._init(con)
        con.execute(_DDL).fetchall()
        rows = con.execute("SELECT max(version) FROM review_schema").fetchall()
        version = rows[0][0] if rows else None
        if version is None:
            con.execute("INSERT INTO review_schema VALUES (?)", [REVIEW_SCHEMA_VERSION])
        elif version > REVIEW_SCHEMA_VERSION:
            raise QmrError(f"review tables in {self.path} have schema v{version}, newer than this qmr understands; upgrade qmr")

    @contextlib.contextmanager
    def _read(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection, or None when there is no file or it has no review tables yet (an
        annotations file written before any review: reads open it read-only, so nothing creates them)."""
        with self._connect(create=False) as con:
            if con is not None and con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('blind_labels', 'review_sets', 'review_items')"
            ).fetchall()[0][0] != 3:
                con = None
            yield con

    # -- blind labels ------------------------------------------------------------------------

    def add_blind_label(
        self, key: SampleKey, step: int | None, error_type: str | None, annotator: str | None = None,
        review_set: str | None = None, seconds: float | None = None,
    ) -> BlindLabel:
        etype = check_label(step, error_type, self.error_types)
        who = (annotator or default_author()).strip() or "unknown"
        with self._connect(create=True) as con:
            assert con is not None
            old = con.execute(
                "SELECT created_at FROM blind_labels WHERE run_id = ? AND problem_id = ? AND sample_idx = ? AND annotator = ?",
                [*key, who],
            ).fetchall()
            if old:
                raise QmrError(
                    f"{who} already labelled {key[1]} blind ({old[0][0]:%Y-%m-%d %H:%M}); a second label would not be blind"
                )
            con.execute(
                f"INSERT INTO blind_labels ({_LABEL_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                [*key, who, step, etype, review_set, seconds],
            )
            row = con.execute(
                f"SELECT {_LABEL_COLS} FROM blind_labels WHERE run_id = ? AND problem_id = ? AND sample_idx = ? AND annotator = ?",
                [*key, who],
            ).fetchall()[0]
        return BlindLabel(*row)

    def blind_labels(self, annotator: str | None = None, review_set: str | None = None) -> list[BlindLabel]:
        """Every blind label (oldest first), optionally one annotator's or those on a set's items."""
        with self._read() as con:
            if con is None:
                return []
            sql = f"SELECT {', '.join('b.' + c.strip() for c in _LABEL_COLS.split(','))} FROM blind_labels b"
            params: list = []
            if review_set is not None:
                sql += """ JOIN (SELECT DISTINCT run_id, problem_id, sample_idx FROM review_items WHERE set_name = ?) i
                           USING (run_id, problem_id, sample_idx)"""
                params.append(review_set)
            if annotator is not None:
                sql += " WHERE b.annotator = ?"
                params.append(annotator)
            rows = con.execute(sql + " ORDER BY b.created_at, b.annotator", params).fetchall()
        return [BlindLabel(*r) for r in rows]

    # -- review sets -------------------------------------------------------------------------

    def save_set(self, review_set: ReviewSet, items: list[ReviewItem]) -> None:
        s = review_set
        with self._connect(create=True) as con:
            assert con is not None
            con.execute("BEGIN TRANSACTION")
            try:
                if con.execute("SELECT 1 FROM review_sets WHERE name = ?", [s.name]).fetchall():
                    raise QmrError(f"review set '{s.name}' exists; choose another --name")
                con.execute(
                    f"INSERT INTO review_sets ({_SET_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                    [s.name, s.by_key, s.allocation, s.seed, s.n_requested, s.judge, json.dumps(s.runs),
                     s.population, json.dumps(s.strata), s.author],
                )
                con.executemany(
                    "INSERT INTO review_items VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [[s.name, i.pos, i.run_id, i.base_run_id, i.problem_id, i.sample_idx, i.stratum] for i in items],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def get_set(self, name: str) -> ReviewSet | None:
        with self._read() as con:
            if con is None:
                return None
            rows = con.execute(f"SELECT {_SET_COLS} FROM review_sets WHERE name = ?", [name]).fetchall()
        return _set_of(rows[0]) if rows else None

    def list_sets(self) -> list[tuple[ReviewSet, int]]:
        """Every review set with its number of items, newest first."""
        with self._read() as con:
            if con is None:
                return []
            rows = con.execute(
                f"""SELECT {', '.join('s.' + c.strip() for c in _SET_COLS.split(','))}, count(i.pos)
                    FROM review_sets s LEFT JOIN review_items i ON i.set_name = s.name
                    GROUP BY ALL ORDER BY s.created_at DESC, s.name"""
            ).fetchall()
        return [(_set_of(r[:-1]), int(r[-1])) for r in rows]

    def items(self, name: str) -> list[ReviewItem]:
        with self._read() as con:
            if con is None:
                return []
            rows = con.execute(
                "SELECT pos, run_id, base_run_id, problem_id, sample_idx, stratum FROM review_items WHERE set_name = ? ORDER BY pos",
                [name],
            ).fetchall()
        return [ReviewItem(*r) for r in rows]

    def require_set(self, name: str) -> tuple[ReviewSet, list[ReviewItem]]:
        found = self.get_set(name)
        if found is None:
            known = ", ".join(s.name for s, _ in self.list_sets()[:5]) or "none yet"
            raise QmrError(f"no review set '{name}' in {self.path.name} (sets: {known}; draw one with `qmr review sample`)")
        return found, self.items(name)
