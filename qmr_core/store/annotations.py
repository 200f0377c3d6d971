"""The researcher's verdicts on diagnoses, kept in a side DuckDB file next to the eval store.

Verdicts never go into the eval store: DuckDB lets one process write a file at a time, so writing
there would block (or be blocked by) a running `qmr eval`, and a shared store would leak notes when
it is published. `<store>.annotations.duckdb` holds one current row per sample plus an append-only
history; every call opens the file, works and closes it, retrying while another process holds it.
The error types a verdict may name are the taxonomy's (qmr_core/review/annotations.py binds them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import duckdb
import pyarrow as pa

from qmr_core.errors import QmrError
from qmr_core.store.rows import SAMPLE_KEY_DDL, first_row

ANNOTATION_SCHEMA_VERSION = 1
VERDICTS = ("accepted", "corrected")

_DDL = f"""
CREATE TABLE IF NOT EXISTS annotation_schema (version INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS annotations (
{SAMPLE_KEY_DDL}
    verdict          VARCHAR,            -- accepted | corrected | NULL (a note only)
    judge            VARCHAR,            -- the judge whose diagnosis was reviewed
    first_error_step INTEGER,            -- the researcher's first faulty step (0-based step_idx); NULL = none
    error_type       VARCHAR,
    note             VARCHAR,
    author           VARCHAR NOT NULL,
    updated_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, problem_id, sample_idx)
);
CREATE TABLE IF NOT EXISTS annotation_history (
{SAMPLE_KEY_DDL}
    action           VARCHAR NOT NULL,   -- accept | correct | note
    verdict          VARCHAR,
    judge            VARCHAR,
    first_error_step INTEGER,
    error_type       VARCHAR,
    note             VARCHAR,
    author           VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

ARROW_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("problem_id", pa.string()),
        ("sample_idx", pa.int32()),
        ("verdict", pa.string()),
        ("judge", pa.string()),
        ("first_error_step", pa.int32()),
        ("error_type", pa.string()),
        ("note", pa.string()),
        ("author", pa.string()),
    ]
)

SampleKey = tuple[str, str, int]  # (run_id, problem_id, sample_idx)


def empty_annotations() -> pa.Table:
    """No annotations, in ARROW_SCHEMA. Built from no batches: Schema.empty_table() and every
    conversion from Python values make pyarrow import pandas (~0.3 s), which the browser's first
    paint must not wait for."""
    return pa.Table.from_batches([], schema=ARROW_SCHEMA)


@dataclass(frozen=True)
class Annotation:
    run_id: str
    problem_id: str
    sample_idx: int
    verdict: str | None
    judge: str | None
    first_error_step: int | None
    error_type: str | None
    note: str | None
    author: str

    @property
    def label(self) -> str:
        """A short text tag for tables: 'accepted', 'corrected', 'note' or ''."""
        return self.verdict or ("note" if self.note else "")


def annotations_path(store_path: str | Path) -> Path:
    """`runs.duckdb` -> `runs.annotations.duckdb`, in the same folder."""
    path = Path(store_path).expanduser()
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.annotations.duckdb")


def default_author() -> str:
    try:
        return os.environ.get("QMR_ANNOTATOR") or getpass.getuser()
    except Exception:  # getuser fails in some containers
        return "unknown"


@dataclass(frozen=True)
class AnnotationEvent:
    """An `annotation_history` row: one accept, correction or note on a sample, by whom and when."""

    action: str
    verdict: str | None
    judge: str | None
    first_error_step: int | None
    error_type: str | None
    note: str | None
    author: str
    created_at: dt.datetime


class AnnotationStore:
    """Verdicts for one eval store. Cheap to create; opens the file only for each call."""

    _lock = threading.Lock()  # one process-wide lock: DuckDB refuses mixed configurations per file

    def __init__(self, path: str | Path, lock_wait_s: float = 30.0):
        self.path = Path(path).expanduser()
        self.lock_wait_s = lock_wait_s
        self._ready = False
        self.problem: str | None = None  # why the last read fell back to no annotations (see arrow_or_empty)

    @classmethod
    def for_store(cls, store_path: str | Path) -> Self:
        return cls(annotations_path(store_path))

    @contextlib.contextmanager
    def _connect(self, create: bool) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """create=True: the write path (creates the file and its tables). Reads open the file read-only,
        so annotations on read-only media (or a file the user may not write) can still be browsed."""
        with self._lock:
            if not self.path.exists() and not create:
                yield None
                return
            deadline = time.monotonic() + self.lock_wait_s
            delay = 0.02
            while True:
                try:
                    con = duckdb.connect(str(self.path), read_only=not create)
                    break
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise QmrError(f"cannot open annotations {self.path}: {str(exc).splitlines()[0]}") from exc
                    time.sleep(delay)
                    delay = min(delay * 1.5, 0.5)
                except duckdb.Error as exc:
                    raise QmrError(f"cannot open annotations {self.path}: {str(exc).splitlines()[0]}") from exc
            try:
                if create and not self._ready:
                    self._init(con)
                elif not create:
                    self._check_readable(con)
                yield con
            finally:
                con.close()

    def _check_readable(self, con: duckdb.DuckDBPyConnection) -> None:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if not {"annotations", "annotation_history", "annotation_schema"} <= tables:
            raise QmrError(f"{self.path} is not a qmr annotations file")
        version = (first_row(con.execute("SELECT max(version) FROM annotation_schema")) or (None,))[0]
        if version is not None and version > ANNOTATION_SCHEMA_VERSION:
            raise QmrError(f"annotations {self.path} have schema v{version}, newer than this qmr understands; upgrade qmr")

    def _init(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(_DDL).fetchall()
        row = first_row(con.execute("SELECT max(version) FROM annotation_schema"))
        version = row[0] if row else None
        if version is None:
            con.execute("INSERT INTO annotation_schema VALUES (?)", [ANNOTATION_SCHEMA_VERSION])
        elif version > ANNOTATION_SCHEMA_VERSION:
            raise QmrError(
                f"annotations {self.path} have schema v{version}, newer than this qmr understands; upgrade qmr"
            )
        self._ready = True

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: SampleKey) -> Annotation | None:
        with self._connect(create=False) as con:
            if con is None:
                return None
            row = first_row(con.execute(
                """SELECT run_id, problem_id, sample_idx, verdict, judge, first_error_step, error_type, note, author
                   FROM annotations WHERE run_id = ? AND problem_id = ? AND sample_idx = ?""",
                list(key),
            ))
        return Annotation(*row) if row else None

    def arrow(self) -> pa.Table:
        """Every current annotation (an empty table of the right shape when there are none)."""
        with self._connect(create=False) as con:
            if con is None:
                return empty_annotations()
            cols = ", ".join(ARROW_SCHEMA.names)
            table = con.sql(f"SELECT {cols} FROM annotations").to_arrow_table()
        return table.cast(ARROW_SCHEMA)

    def arrow_or_empty(self) -> pa.Table:
        """arrow(), or no annotations when the file cannot be read (corrupt, foreign, locked):
        browsing goes on without them and `problem` says why, for the caller to show."""
        try:
            table = self.arrow()
        except (QmrError, duckdb.Error, OSError) as exc:
            self.problem = f"annotations unavailable ({str(exc).splitlines()[0]}); browsing without them"
            return empty_annotations()
        self.problem = None
        return table

    def get_or_none(self, key: SampleKey) -> Annotation | None:
        """get(), or None when the file cannot be read (see arrow_or_empty)."""
        try:
            return self.get(key)
        except (QmrError, duckdb.Error, OSError) as exc:
            self.problem = f"annotations unavailable ({str(exc).splitlines()[0]}); browsing without them"
            return None

    def history(self, key: SampleKey) -> list[AnnotationEvent]:
        with self._connect(create=False) as con:
            if con is None:
                return []
            rows = con.execute(
                """SELECT action, verdict, judge, first_error_step, error_type, note, author, created_at
                   FROM annotation_history WHERE run_id = ? AND problem_id = ? AND sample_idx = ?
                   ORDER BY created_at, rowid""",
                list(key),
            ).fetchall()
            return [AnnotationEvent(*r) for r in rows]

    # -- writes ------------------------------------------------------------------------------

    def accept(self, key: SampleKey, judge: str, first_error_step: int | None, error_type: str | None, author: str | None = None) -> Annotation:
        """The judge's diagnosis is right: its step and type become the reference."""
        return self._write(key, "accept", verdict="accepted", judge=judge, step=first_error_step, error_type=error_type, author=author)

    def correct(self, key: SampleKey, judge: str | None, first_error_step: int | None, error_type: str | None, author: str | None = None) -> Annotation:
        """The judge was wrong; the researcher's step (None = no faulty step) and type are the reference."""
        if error_type is not None and not error_type.strip():
            raise QmrError("error type must not be empty")
        if first_error_step is not None and first_error_step < 0:
            raise QmrError("step must be >= 0")
        return self._write(key, "correct", verdict="corrected", judge=judge, step=first_error_step, error_type=error_type, author=author)

    def set_note(self, key: SampleKey, note: str, author: str | None = None) -> Annotation:
        return self._write(key, "note", note=note.strip() or None, author=author)

    def _write(
        self,
        key: SampleKey,
        action: str,
        *,
        verdict: str | None = None,
        judge: str | None = None,
        step: int | None = None,
        error_type: str | None = None,
        note: str | None = None,
        author: str | None = None,
    ) -> Annotation:
        who = author or default_author()
        with self._connect(create=True) as con:
            assert con is not None
            con.execute("BEGIN TRANSACTION")
            try:
                old = first_row(con.execute(
                    "SELECT verdict, judge, first_error_step, error_type, note FROM annotations WHERE run_id = ? AND problem_id = ? AND sample_idx = ?",
                    list(key),
                ))
                if action == "note":
                    verdict, judge, step, error_type = old[:4] if old else (None, None, None, None)
                else:
                    note = old[4] if old else None
                row = [*key, verdict, judge, step, error_type, note, who]
                con.execute(
                    """INSERT OR REPLACE INTO annotations
                       (run_id, problem_id, sample_idx, verdict, judge, first_error_step, error_type, note, author, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)""",
                    row,
                )
                con.execute(
                    """INSERT INTO annotation_history
                       (run_id, problem_id, sample_idx, action, verdict, judge, first_error_step, error_type, note, author)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [*key, action, verdict, judge, step, error_type, note, who],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return Annotation(*key, verdict, judge, step, error_type, note, who)
