"""Readers and writers taking turns on one store file, across processes.

DuckDB lets one process write a file while no other process has it open, and tells a blocked opener
only "could not set lock". So a writer that meets the lock announces itself in a small sidecar file next
to the store (`<store>.writer-waiting`: its pid, host and when it started waiting; its mtime refreshed
while it waits) and keeps retrying. Readers look at that file:

- a reader about to open the store lets a waiting writer in first (for up to `YIELD_S`);
- a read that has held up a waiting writer for `max_hold_s` (both open and waiting that long; default
  `READER_MAX_HOLD_S`, env `QMR_READER_MAX_HOLD_S`) is interrupted with DuckDB's `connection.interrupt()`, and its caller
  gets one line saying why. So a long `qmr sql` query or a stuck TUI read holds a waiting writer up
  for a bounded time, never for good.

A sidecar whose mtime is older than `STALE_S` belongs to a writer that stopped waiting without
cleaning up (killed); it is ignored.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from qmr_core.errors import QmrError

READER_MAX_HOLD_S = float(os.environ.get("QMR_READER_MAX_HOLD_S", "20"))
STALE_S = 3.0
YIELD_S = 2.0
_TOUCH_EVERY_S = 0.5
_WATCH_EVERY_S = 0.1


def sidecar(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".writer-waiting")


@dataclass
class WaitingWriter:
    pid: int
    host: str
    since: float  # wall-clock time.time() when it started waiting

    @property
    def waited_s(self) -> float:
        return max(0.0, time.time() - self.since)


def waiting_writer(store_path: Path) -> WaitingWriter | None:
    """The writer waiting for this store now, if any (a stale sidecar counts as none)."""
    path = sidecar(store_path)
    try:
        if time.time() - path.stat().st_mtime > STALE_S:
            return None
        pid, host, since = path.read_text(encoding="utf-8").split()[:3]
        return WaitingWriter(int(pid), host, float(since))
    except (OSError, ValueError):
        return None


class WriterWait:
    """A writer's announcement while it retries the lock; `touch()` on every retry, `done()` once in."""

    def __init__(self, store_path: Path):
        self.store_path = store_path
        self.path = sidecar(store_path)
        self._last_touch = 0.0
        self._mine = False

    def touch(self) -> None:
        now = time.time()
        if now - self._last_touch < _TOUCH_EVERY_S:
            return
        self._last_touch = now
        try:
            if waiting_writer(self.store_path) is None:
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}")
                tmp.write_text(f"{os.getpid()} {socket.gethostname()} {now:.3f}\n", encoding="utf-8")
                os.replace(tmp, self.path)
                self._mine = True
            else:
                os.utime(self.path)
        except OSError:
            pass  # a folder we cannot write: readers are then not told, as before

    def done(self) -> None:
        if not self._last_touch:
            return
        with contextlib.suppress(OSError):
            text = self.path.read_text(encoding="utf-8")
            if self._mine and text.split()[:1] == [str(os.getpid())]:
                self.path.unlink()


class ReaderInterrupted(QmrError):
    """A read was interrupted so that a waiting writer could get in."""

    def __init__(self, writer: WaitingWriter, held_s: float, max_hold_s: float):
        super().__init__(
            f"query interrupted after {held_s:.0f} s: a writer (pid {writer.pid} on {writer.host}) had waited "
            f"{writer.waited_s:.0f} s for the store; reads hold a waiting writer up for at most {max_hold_s:g} s "
            "(QMR_READER_MAX_HOLD_S). Run the query again once it has written."
        )


@dataclass
class _Watched:
    con: duckdb.DuckDBPyConnection
    store_path: Path
    opened: float
    max_hold_s: float
    exit_after_s: float | None  # a CLI read: end the process if an interrupt has not ended the read by then
    interrupted_by: WaitingWriter | None = None
    interrupted_at: float = 0.0


class _Watchdog:
    """One daemon thread per process that interrupts reads holding up a waiting writer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, _Watched] = {}
        self._thread: threading.Thread | None = None

    def add(self, item: _Watched) -> int:
        with self._lock:
            key = id(item)
            self._watched[key] = item
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="qmr-reader-watchdog", daemon=True)
                self._thread.start()
            return key

    def remove(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(_WATCH_EVERY_S)
            with self._lock:
                items = list(self._watched.values())
            for item in items:
                if item.interrupted_by is not None:
                    self._maybe_exit(item)
                    continue
                writer = waiting_writer(item.store_path)
                # how long this read has held up this writer: both are still going, so the overlap is the shorter
                if writer is not None and min(writer.waited_s, time.monotonic() - item.opened) >= item.max_hold_s:
                    item.interrupted_by, item.interrupted_at = writer, time.monotonic()
                    with contextlib.suppress(duckdb.Error):
                        item.con.interrupt()

    @staticmethod
    def _maybe_exit(item: _Watched) -> None:
        """A read stuck where DuckDB does not check for interrupts (a blocking file read): end the process."""
        if item.interrupted_by is None or item.exit_after_s is None or time.monotonic() - item.interrupted_at < item.exit_after_s:
            return
        message = ReaderInterrupted(item.interrupted_by, time.monotonic() - item.opened, item.max_hold_s)
        os.write(2, f"error: {message} (the query did not stop when interrupted, so qmr exited)\n".encode())
        os._exit(1)


_WATCHDOG = _Watchdog()


def yield_to_writer(store_path: Path) -> None:
    """Before a read opens the store: let a waiting writer in first, for at most YIELD_S."""
    deadline = time.monotonic() + YIELD_S
    while waiting_writer(store_path) is not None and time.monotonic() < deadline:
        time.sleep(0.02)


@contextlib.contextmanager
def bounded_read(con: duckdb.DuckDBPyConnection, store_path: Path, max_hold_s: float | None = None,
                 exit_after_s: float | None = None) -> Iterator[None]:
    """Interrupt the reads on `con` once a writer has waited `max_hold_s`; raise ReaderInterrupted then.

    `exit_after_s`: for a process that exists only for this read (`qmr sql`): if the interrupt has not
    ended the read that much later, the process exits, which is what releases DuckDB's file lock."""
    hold = READER_MAX_HOLD_S if max_hold_s is None else max_hold_s
    item = _Watched(con, store_path, time.monotonic(), hold, exit_after_s)
    key = _WATCHDOG.add(item)
    try:
        yield
    except duckdb.InterruptException as exc:
        if item.interrupted_by is not None:
            raise ReaderInterrupted(item.interrupted_by, time.monotonic() - item.opened, hold) from exc
        raise
    finally:
        _WATCHDOG.remove(key)
