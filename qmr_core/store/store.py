"""The DuckDB store: open (create or migrate), short-lived connections, batched idempotent upserts.

DuckDB lets one process write a database file at a time and blocks other processes while it is
open for writing. qmr therefore never keeps a connection open between units of work: every write
(one batch of samples) and every read (one query) opens the file, does its work and closes it, and
a connection that meets the lock retries for a while. A running `qmr eval` and the TUI take turns.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from qmr_core.errors import QmrError

LOCK_WAIT_S = 60.0
# Interactive readers (the TUI) keep the store open this long after a read: browsing skips DuckDB's cold
# open, and a writing `qmr eval` waits at most about this long for its batch.
READER_WARM_HOLD_S = 1.0


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("qmr_core.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(v for v, _ in _migrations())


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
            if self._con is not None or time.monotonic() < self._paused_until:
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
    """A handle on one store file. Cheap to create; holds no connection (unless keep_warm_s > 0)."""

    def __init__(self, path: str | Path, *, create: bool = True, lock_wait_s: float = LOCK_WAIT_S,
                 keep_warm_s: float = 0.0):
        self.path = Path(path).expanduser()
        self.lock_wait_s = lock_wait_s
        self._warm = _WarmHold(self.path, keep_warm_s)
        if not self.path.exists():
            if not create:
                raise QmrError(f"no qmr store at {self.path} (run `qmr eval` or `qmr demo` to create one)")
            if not self.path.parent.exists():
                raise QmrError(f"cannot create store {self.path}: folder {self.path.parent} does not exist")
        elif self.path.is_dir():
            raise QmrError(f"store path {self.path} is a directory")
        if create:
            self._migrate()
        else:
            self._check_version()
            self._migrate()  # an existing store from an older qmr is brought up to date

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if not read_only:
            self._warm.release()  # one process cannot hold the file read-only and read-write at once
        deadline = time.monotonic() + self.lock_wait_s
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise QmrError(f"cannot open store {self.path}: {str(exc).splitlines()[0]}") from exc
                time.sleep(delay)
                delay = min(delay * 1.5, 0.05)  # short: readers leave only brief gaps between their reads
            except duckdb.Error as exc:
                raise QmrError(f"cannot open store {self.path}: {str(exc).splitlines()[0]}") from exc
        try:
            yield con
        finally:
            if read_only:
                self._warm.hold()  # while `con` is still open, so the hold reuses the open database
            con.close()

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

    @staticmethod
    def _version(con: duckdb.DuckDBPyConnection) -> int:
        has = _first(con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone())
        if not has:
            return 0
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(_first(row) or 0)

    @staticmethod
    def _applied(con: duckdb.DuckDBPyConnection) -> set[int]:
        has = _first(con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone())
        return {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()} if has else set()

    def _check_version(self) -> int:
        with self.connect(read_only=True) as con:
            version = self._version(con)
        if version > SCHEMA_VERSION:
            raise QmrError(
                f"store {self.path} has schema v{version}, newer than this qmr understands (v{SCHEMA_VERSION}); upgrade qmr"
            )
        if version == 0:
            raise QmrError(f"{self.path} is not a qmr store (no schema_version table)")
        return version

    def _migrate(self) -> None:
        with self.connect() as con:
            current = self._version(con)
            applied = self._applied(con)
            if current > SCHEMA_VERSION:
                raise QmrError(
                    f"store {self.path} has schema v{current}, newer than this qmr understands (v{SCHEMA_VERSION}); upgrade qmr"
                )
            if applied >= {v for v, _ in _migrations()}:
                return  # nothing to do: no write lock taken beyond this short connection
            if current == 0:
                n_tables = _first(con.execute("SELECT count(*) FROM information_schema.tables").fetchone())
                if n_tables:
                    raise QmrError(f"{self.path} is a DuckDB file but not a qmr store")
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP DEFAULT current_timestamp)"
                )
                for version, sql in _migrations():
                    if version not in applied:  # by set, so migrations written in parallel all apply
                        con.execute(sql)
                        con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

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
