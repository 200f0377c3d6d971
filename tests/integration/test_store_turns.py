"""Writers never starve: a reader holds up a waiting writer for a bounded time; writers wait until they get in."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pytest

from qmr_core.store import Store
from qmr_core.store.turns import waiting_writer
from tests.conftest import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "QMR_READER_MAX_HOLD_S": "1"}


def _wait_until_locked(path, timeout=60, steady_s=1.0):
    """Until another process holds the store without a break for `steady_s` (a read-write open fails on the
    lock): a short open before the query (the store's version check) must not count as the query's hold."""
    deadline = time.monotonic() + timeout
    since = None
    while time.monotonic() < deadline:
        try:
            duckdb.connect(str(path)).close()
            since = None
        except duckdb.IOException:
            since = since or time.monotonic()
            if time.monotonic() - since >= steady_s:
                return
        time.sleep(0.05)
    raise AssertionError("the other process never held the store")


def _write_one(path) -> float:
    started = time.monotonic()
    Store(path, create=False).execute("INSERT INTO problems VALUES ('b/1', 'b', '1', NULL, NULL, 'math', 'p', NULL, '1', 'h')")
    return time.monotonic() - started


def test_a_long_qmr_sql_query_is_interrupted_for_a_waiting_writer(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path)
    reader = subprocess.Popen(
        [sys.executable, "-m", "qmr_core.cli", "sql", "SELECT sum(hash(i)) FROM range(1000000000000) t(i)", "--db", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        _wait_until_locked(path)
        waited = _write_one(path)
        out, err = reader.communicate(timeout=30)
    finally:
        reader.kill()
    assert waited < 15, waited  # the hold limit (1 s here) plus the time DuckDB takes to stop
    assert reader.returncode == 1 and err.startswith("error: query interrupted"), err
    assert "QMR_READER_MAX_HOLD_S" in err and len(err.strip().splitlines()) == 1
    assert Store(path, create=False, write=False).query("SELECT count(*) FROM problems") == [(1,)]


def test_a_read_stuck_on_a_fifo_ends_its_process_for_a_waiting_writer(tmp_path):
    """The issue's reproduction: a query reading a FIFO. DuckDB's interrupt cannot stop a blocking read,
    so `qmr sql` exits a few seconds after it; the sandbox lets it read the FIFO only with --read-dir."""
    path = tmp_path / "s.duckdb"
    Store(path)
    folder = tmp_path / "in"
    folder.mkdir()
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(
        [sys.executable, "-m", "qmr_core.cli", "sql", f"SELECT * FROM read_text('{fifo}')", "--read-dir", str(folder),
         "--db", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        _wait_until_locked(path)
        time.sleep(0.5)
        assert reader.poll() is None  # blocked on the FIFO, holding the store
        waited = _write_one(path)
        out, err = reader.communicate(timeout=30)
    finally:
        reader.kill()
    assert waited < 20, waited
    assert reader.returncode == 1 and "did not stop when interrupted" in err, err


def test_a_writer_waits_past_the_readers_limit_and_announces_itself(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path)
    store = Store(path, create=False, lock_wait_s=0.5)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, time
            con = duckdb.connect({str(path)!r})
            print("locked", flush=True)
            time.sleep(3)
            con.close()
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"

    watcher_saw = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if (w := waiting_writer(path)) is not None:
                watcher_saw.append(w)
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    try:
        started = time.monotonic()
        store.execute("INSERT INTO problems VALUES ('b/1', 'b', '1', NULL, NULL, 'math', 'p', NULL, '1', 'h')")
        waited = time.monotonic() - started
    finally:
        stop.set()
        t.join()
        holder.wait(10)
    assert waited > 2  # it met the lock for seconds, past its 0.5 s read limit, and did not give up
    assert watcher_saw and watcher_saw[0].pid == os.getpid()
    assert waiting_writer(path) is None  # the sidecar is gone once the writer got in
    assert store.query("SELECT count(*) FROM problems") == [(1,)]


def test_a_stale_sidecar_is_ignored(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path)
    side = path.with_name(path.name + ".writer-waiting")
    side.write_text(f"999999 somehost {time.time() - 100:.3f}\n")
    os.utime(side, (time.time() - 60, time.time() - 60))
    assert waiting_writer(path) is None
    started = time.monotonic()
    assert Store(path, create=False, write=False).query("SELECT 1") == [(1,)]
    assert time.monotonic() - started < 1.5  # no yielding to a writer that is not there


@pytest.mark.parametrize("hold", [0.5])
def test_an_in_process_read_is_interrupted_with_one_line(tmp_path, hold):
    from qmr_core.errors import QmrError

    path = tmp_path / "s.duckdb"
    Store(path)
    side = path.with_name(path.name + ".writer-waiting")
    side.write_text(f"12345 otherhost {time.time() - 10:.3f}\n")  # a writer waiting for 10 s already
    stop = False

    def keep_fresh():
        while not stop:
            os.utime(side)
            time.sleep(0.2)

    t = threading.Thread(target=keep_fresh)
    t.start()
    try:
        reader = Store(path, create=False, write=False)
        with pytest.raises(QmrError, match=r"query interrupted .*pid 12345 on otherhost"):
            with reader.connect(read_only=True, max_hold_s=hold) as con:
                con.execute("SELECT sum(hash(i)) FROM range(1000000000000) t(i)").fetchall()
    finally:
        stop = True
        t.join()
