"""The DuckDB store: open (create or migrate), short-lived connections, batched idempotent upserts.

DuckDB lets one process write a database file at a time and blocks other processes while it is
open for writing. qmr therefore never keeps a connection open between units of work: every write
(one batch of samples) and every read (one query) opens the file, does its work and closes it, and
a connection that meets the lock retries: readers for a while, writers until they get in. A running
`qmr eval` and the TUI take turns; turns.py bounds how long a reader can hold up a waiting writer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from qmr_core.errors import QmrError
from qmr_core.store import schema
from qmr_core.store.sandbox import lock_down
from qmr_core.store.schema import SCHEMA_VERSION
from qmr_core.store.turns import WriterWait, bounded_read, waiting_writer, yield_to_writer

LOCK_WAIT_S = 60.0
# Interactive readers (the TUI) keep the store open this long after a read: browsing skips DuckDB's cold
# open, and a writing `qmr eval` waits at most about this long for its batch.
READER_WARM_HOLD_S = 1.0
WAIT_NOTE_S = 10.0  # how often a writer waiting for the lock says so (Store.on_wait)


def _first(row: tuple[Any, ...] | None) -> Any:
    """The first column of an aggregate query's row (an aggregate always returns one row)."""
    assert row is not None
    return row[0]


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used by another process" in text


class _WarmHold:
    """Keeps the database open for a moment after a read, so a burst of reads skips the cold open.

    DuckDB shares one database instance among a process's connections and drops it when the last one
    closes; reopening it costs a catalog read (about 110 ms against 55 ms warm on a 100k-sample store).
    A hold lasts at most `seconds` from when it was taken, then pauses for half as long, so another
    process that waits to write (Store.connect retries on the lock) gets in within about that long.
    """

    def __init__(self, path: Path, seconds: float):
        self.path, self.seconds = path, seconds
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._timer: threading.Timer | None = None
        self._paused_until = 0.0

    def hold(self) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if self._con is not None or time.monotonic() < self._paused_until or waiting_writer(self.path):
                return
            try:
                self._con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error:
                return
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self._close_locked()
            self._paused_until = time.monotonic() + self.seconds / 2

    def release(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._con is not None:
            self._con.close()
            self._con = None


class Store:
    """A handle on one store file. Cheap to create; holds no connection (unless keep_warm_s > 0).

    `write=False` opens it for reading only: no connection that could write is ever made (so a store on
    read-only media can be read), migrations are not run (an older store says to run `qmr migrate`), and
    every connection is sandboxed (see sandbox.py). Readers give up on the lock after `lock_wait_s`;
    writers wait until they get it (`write_wait_s=None`) or the user stops them, calling `on_wait`
    with the seconds waited about every `WAIT_NOTE_S`, and meanwhile tell readers they wait (turns.py).
    """

    def __init__(self, path: str | Path, *, create: bool = True, write: bool = True,
                 lock_wait_s: float = LOCK_WAIT_S, write_wait_s: float | None = None, keep_warm_s: float = 0.0,
                 on_wait: Callable[[float], None] | None = None):
        self.path = Path(path).expanduser()
        self.write = write
        self.lock_wait_s, self.write_wait_s = lock_wait_s, write_wait_s
        self.on_wait = on_wait
        self._warm = _WarmHold(self.path, keep_warm_s)
        if not self.path.exists():
            if not create or not write:
                raise QmrError(f"no qmr store at {self.path} (run `qmr eval` or `qmr demo` to create one)")
            if not self.path.parent.exists():
                raise QmrError(f"cannot create store {self.path}: folder {self.path.parent} does not exist")
        elif self.path.is_dir():
            raise QmrError(f"store path {self.path} is a directory")
        self.migrated: tuple[list[int], list[int]] = ([], [])  # (applied, repaired) versions, by this open
        if write:
            self.migrated = self.migrate()
        else:
            self._check_readable()

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, read_only: bool = False, *, read_dirs: Sequence[Path] = (),
                max_hold_s: float | None = None, exit_after_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection. Read-only ones are sandboxed and interrupted when they hold up a
        waiting writer for `max_hold_s` (see turns.py); `read_dirs` lets them read files in those folders."""
        if not read_only:
            if not self.write:
                raise QmrError(f"store {self.path} was opened read-only")
            self._warm.release()  # one process cannot hold the file read-only and read-write at once
        con = self._open(read_only)
        try:
            if read_only:
                lock_down(con, read_dirs)
                with bounded_read(con, self.path, max_hold_s, exit_after_s):
                    try:
                        yield con
                    except duckdb.CatalogException:
                        schema.check_tables(con, self.path)  # a lost table: one clear error instead
                        raise
            else:
                yield con
        finally:
            if read_only:
                self._warm.hold()  # while `con` is still open, so the hold reuses the open database
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        limit = self.lock_wait_s if read_only else self.write_wait_s
        started = time.monotonic()
        next_note = started + WAIT_NOTE_S
        announce = None if read_only else WriterWait(self.path)
        delay = 0.02
        if read_only:
            yield_to_writer(self.path)
        try:
            while True:
                try:
                    return duckdb.connect(str(self.path), read_only=read_only)
                except duckdb.IOException as exc:
                    now = time.monotonic()
                    if not _is_lock_error(exc) or (limit is not None and now - started > limit):
                        raise QmrError(f"cannot open store {self.path}: {str(exc).splitlines()[0]}") from exc
                    if announce is not None:
                        announce.touch()
                    if self.on_wait is not None and now >= next_note:
                        next_note = now + WAIT_NOTE_S
                        self.on_wait(now - started)
                    time.sleep(delay)
                    delay = min(delay * 1.5, 0.05)  # short: readers leave only brief gaps between their reads
                except duckdb.Error as exc:
                    raise QmrError(f"cannot open store {self.path}: {str(exc).splitlines()[0]}") from exc
        finally:
            if announce is not None:
                announce.done()

    def close(self) -> None:
        """Let go of a warm read-only hold at once (see keep_warm_s)."""
        self._warm.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- schema ------------------------------------------------------------------------------

    def _check_readable(self) -> None:
        with self.connect(read_only=True) as con:
            schema.check_readable(con, self.path)

    def migrate(self) -> tuple[list[int], list[int]]:
        """Apply missing migrations (and repair lost version rows); returns (applied, repaired)."""
        with self.connect() as con:
            return schema.migrate(con, self.path)

    # -- reads and writes --------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def query_dicts(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def query_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self.connect(read_only=True) as con:
            return con.sql(sql, params=list(params) if params else None).to_arrow_table()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self.connect() as con:
            con.execute(sql, params or [])

    def upsert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self.transaction() as con:
                upsert_rows(con, table, rows)


def upsert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT OR REPLACE a batch through Arrow: one statement however many rows."""
    if not rows:
        return
    columns = list(rows[0].keys())
    batch = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    name = f"_qmr_batch_{table}"
    con.register(name, batch)
    try:
        cols = ", ".join(columns)
        con.execute(f"INSERT OR REPLACE INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        con.unregister(name)
