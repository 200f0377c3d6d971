import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from qmr_core.errors import QmrError
from qmr_core.store import SCHEMA_VERSION, Store
from tests.conftest import REPO


def test_create_reopen_and_idempotent_upsert(tmp_path):
    path = tmp_path / "s.duckdb"
    store = Store(path)
    row = dict(problem_id="b/1", benchmark="b", unique_id="1", kind="math", problem="p", answer="1", content_hash="h")
    store.upsert("problems", [row, row | {"problem_id": "b/2"}])
    store.upsert("problems", [row | {"answer": "2"}])
    assert store.query("SELECT problem_id, answer FROM problems ORDER BY 1") == [("b/1", "2"), ("b/2", "1")]
    again = Store(path, create=False)
    assert again.query("SELECT max(version) FROM schema_version")[0][0] == SCHEMA_VERSION


def test_clear_errors_for_missing_foreign_and_newer_stores(tmp_path):
    with pytest.raises(QmrError, match="no qmr store"):
        Store(tmp_path / "missing.duckdb", create=False)
    with pytest.raises(QmrError, match="does not exist"):
        Store(tmp_path / "nofolder" / "x.duckdb")
    with pytest.raises(QmrError, match="is a directory"):
        Store(tmp_path)
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(QmrError, match="not a qmr store"):
        Store(foreign)
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(QmrError, match="cannot open store"):
        Store(garbage)
    newer = tmp_path / "newer.duckdb"
    Store(newer).execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION + 1])
    with pytest.raises(QmrError, match="newer than this qmr"):
        Store(newer)
    with pytest.raises(QmrError, match="newer than this qmr"):
        Store(newer, create=False)


def test_transaction_rolls_back_on_error(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(RuntimeError):
        with store.transaction() as con:
            con.execute("INSERT INTO schema_version (version) VALUES (99)")
            raise RuntimeError("boom")
    assert store.query("SELECT count(*) FROM schema_version WHERE version = 99")[0][0] == 0


def test_reader_waits_for_a_writer_in_another_process(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, time, sys
            con = duckdb.connect({str(path)!r})
            print("locked", flush=True)
            time.sleep(1.5)
            con.close()
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    store = Store(path, create=False)
    assert store.query("SELECT count(*) FROM runs") == [(0,)]
    waited = time.monotonic() - started
    holder.wait(10)
    assert waited > 0.5  # it really met the lock and retried instead of failing


def test_lock_wait_gives_up_with_a_clear_error(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('x', flush=True); time.sleep(5)"],
        stdout=subprocess.PIPE, text=True,
    )
    holder.stdout.readline()
    try:
        with pytest.raises(QmrError, match="cannot open store"):
            Store(path, write=False, lock_wait_s=0.3)  # a reader gives up
        with pytest.raises(QmrError, match="cannot open store"):
            Store(path, write_wait_s=0.3)  # a writer only when told to (by default it waits until it gets in)
    finally:
        holder.kill()
        holder.wait()


def test_warm_hold_expires_and_pauses(tmp_path):
    store = Store(tmp_path / "s.duckdb", keep_warm_s=0.3)
    store.query("SELECT 1")
    assert store._warm._con is not None  # held after a read
    time.sleep(1.0)
    assert store._warm._con is None  # gone after keep_warm_s
    store._warm.seconds = 30  # now expire by hand: the pause after it is 15 s, longer than this test
    store.query("SELECT 1")
    store._warm._expire()
    store.query("SELECT 1")
    assert store._warm._con is None  # paused for half as long, so a waiting writer gets in
    store._warm._paused_until = 0
    store.query("SELECT 1")
    assert store._warm._con is not None
    store.upsert("problems", [{"problem_id": "b/1", "benchmark": "b", "unique_id": "1", "kind": "math",
                               "problem": "p", "answer": "1", "content_hash": "h"}])
    assert store.query("SELECT count(*) FROM problems") == [(1,)]
    store.close()
    assert store._warm._con is None


def test_a_writer_gets_in_while_a_warm_reader_keeps_reading(tmp_path):
    path = tmp_path / "s.duckdb"
    reader = Store(path, keep_warm_s=0.5)
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from qmr_core.store import Store
            time.sleep(0.3)
            started = time.monotonic()
            store = Store({str(path)!r}, create=False)
            store.execute("INSERT INTO problems VALUES ('b/1', 'b', '1', NULL, NULL, 'math', 'p', NULL, '1', 'h')")
            print(f"{{time.monotonic() - started:.2f}}", flush=True)
        """)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO),
    )
    deadline = time.monotonic() + 6
    seen = 0
    while time.monotonic() < deadline and writer.poll() is None:  # reads as fast as a held-down key
        seen = reader.query("SELECT count(*) FROM problems")[0][0]
        time.sleep(0.02)
    out, err = writer.communicate(timeout=30)
    assert writer.returncode == 0, err
    assert float(out.strip()) < 3.0  # waited for at most a hold or two, not until the reader stopped
    assert reader.query("SELECT count(*) FROM problems") == [(1,)]
    reader.close()


def test_qmr_tui_opens_its_store_with_the_warm_hold(tmp_path):
    from qmr_core.cli.tui_cmds import _check_store
    from qmr_core.store import READER_WARM_HOLD_S

    Store(tmp_path / "s.duckdb")
    assert _check_store(tmp_path / "s.duckdb")._warm.seconds == READER_WARM_HOLD_S > 0
