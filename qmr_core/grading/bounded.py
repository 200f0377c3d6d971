"""Time-bounded symbolic checks that work from any thread.

A small persistent pool of worker *processes* (``python -m qmr_core.grading._worker``)
answers JSON-line requests.  A call waits on the worker's pipe with ``select`` until its
deadline; on timeout the worker is killed and a fresh one is spawned in its place.  No
``signal.alarm`` is involved, so callers may be worker threads or a TUI thread.

The workers are plain subprocesses (not ``multiprocessing``) so that the caller's
``__main__`` is never re-imported and nothing is forked from a multi-threaded parent.
The deadline covers the whole call: time queued for a free worker, waiting for a fresh
worker to finish importing sympy (about a second), and the computation.  A call that
runs out of time before its check could start returns ``BUSY`` (callers do not cache
it: it says nothing about the pair); a worker still importing is kept for the next
call, and one that never becomes ready within ``startup_s`` is replaced.  POSIX only
(``select`` on pipes).
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TIMEOUT = "timeout"
ERROR = "error"
BUSY = "busy"  # the deadline passed before a worker was free and ready

DEFAULT_STARTUP_S = 120.0  # importing sympy + the ANTLR parser in a fresh worker
MAX_REQUESTS_PER_WORKER = 20_000  # recycle to bound sympy's cache growth
_PKG_ROOT = str(Path(__file__).resolve().parents[2])


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _PKG_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("PYTHONHASHSEED", "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qmr_core.grading._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self._fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        self._buf = b""
        self.ready = False
        self.requests = 0
        self.started = time.monotonic()

    def _readline(self, deadline: float) -> bytes | None:
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise EOFError("grading worker exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def wait_ready(self, wait_s: float) -> bool:
        """Wait up to wait_s for the worker's READY line; raises if it sent anything else."""
        if self.ready:
            return True
        line = self._readline(time.monotonic() + max(wait_s, 0.0))
        if line is None:
            return False
        if line != b"READY":
            raise EOFError("grading worker sent no READY line")
        self.ready = True
        return True

    def request(self, payload: dict[str, Any], timeout_s: float) -> Any:
        data = (json.dumps(payload) + "\n").encode()
        self.proc.stdin.write(data)  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        self.requests += 1
        line = self._readline(time.monotonic() + timeout_s)
        if line is None:
            return TIMEOUT
        return json.loads(line)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except Exception:
                pass


class WorkerPool:
    """At most ``size`` workers; each call holds one worker exclusively."""

    def __init__(self, size: int = 1, startup_s: float = DEFAULT_STARTUP_S) -> None:
        self.size = max(1, size)
        self.startup_s = startup_s
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._count = 0
        self._all: set[_Worker] = set()
        self.kills = 0
        self.spawns = 0

    def _spawn(self) -> _Worker:
        w = _Worker()
        with self._lock:
            self._all.add(w)
            self.spawns += 1
        return w

    def _take_idle(self) -> _Worker | None:
        """An idle worker, preferring one that is ready over one still importing."""
        taken: list[_Worker] = []
        try:
            while True:
                w = self._idle.get_nowait()
                if w.ready:
                    for other in taken:
                        self._idle.put(other)
                    return w
                taken.append(w)
        except queue.Empty:
            pass
        for other in taken[1:]:
            self._idle.put(other)
        return taken[0] if taken else None

    def _acquire(self, wait_s: float) -> _Worker | None:
        w = self._take_idle()
        if w is not None:
            return w
        with self._lock:
            grow = self._count < self.size
            if grow:
                self._count += 1
        if grow:
            try:
                return self._spawn()
            except Exception:
                with self._lock:
                    self._count -= 1
                return None
        try:
            return self._idle.get(timeout=wait_s)
        except queue.Empty:
            return None

    def _replace(self, w: _Worker) -> None:
        """Kill w and put a fresh worker (importing in the background) in its place."""
        w.kill()
        with self._lock:
            self._all.discard(w)
            self.kills += 1
        try:
            self._idle.put(self._spawn())
        except Exception:
            with self._lock:
                self._count -= 1

    def call(self, payload: dict[str, Any], timeout_s: float, waited: list[float] | None = None) -> Any:
        """The worker's JSON answer, ``TIMEOUT``, ``BUSY`` or ``ERROR`` within timeout_s of the call;
        never raises, never hangs.  ``waited`` gets the seconds spent before the check started (queued
        for a worker or for its start-up): a ``TIMEOUT`` after a wait is partly the queue's doing."""
        start = time.monotonic()
        deadline = start + timeout_s
        w = self._acquire(wait_s=max(timeout_s, 0.0))
        if w is None:
            return BUSY
        try:
            if not w.wait_ready(deadline - time.monotonic()):
                if time.monotonic() - w.started > self.startup_s:
                    self._replace(w)
                    return ERROR
                self._idle.put(w)  # still importing: keep it for the next call
                return BUSY
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._idle.put(w)
                return BUSY
            if waited is not None:
                waited.append(timeout_s - remaining)
            result = w.request(payload, remaining)
        except Exception:
            self._replace(w)
            return ERROR
        if result == TIMEOUT or w.requests >= MAX_REQUESTS_PER_WORKER:
            self._replace(w)
        else:
            self._idle.put(w)
        return result

    def warm(self, wait: bool = True) -> None:
        """Start the workers now (else the first symbolic check does, and waits for it within its
        deadline); ``wait`` False leaves them importing in the background."""
        ws = []
        for _ in range(self.size):
            w = self._acquire(wait_s=0)
            if w is not None:
                ws.append(w)
        if not wait:
            for w in ws:
                self._idle.put(w)
            return
        for w in ws:
            try:
                w.wait_ready(self.startup_s)
            except Exception:
                self._replace(w)
                continue
            self._idle.put(w)

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
            self._all.clear()
            self._count = 0
        for w in workers:
            w.kill()
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()
_pool_size = int(os.environ.get("QMR_GRADER_WORKERS", str(min(2, os.cpu_count() or 1))))


def pool() -> WorkerPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool(_pool_size)
        return _pool


def set_pool_size(n: int) -> None:
    global _pool, _pool_size
    with _pool_lock:
        _pool_size = max(1, n)
        if _pool is not None:
            _pool.close()
            _pool = None


@atexit.register
def _shutdown() -> None:
    if _pool is not None:
        _pool.close()
