"""`qmr sql` is really read-only: each attack of issue 17 is refused with one line and changes nothing."""

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.store import Store
from tests.helpers.tui_store import build_small_store

runner = CliRunner()


def sql(*args):
    return runner.invoke(app, ["sql", *map(str, args)])


def _one_error_line(result) -> str:
    text = result.output.strip()
    assert result.exit_code == 1, text
    assert "Traceback" not in text and text.startswith("error:") and len(text.splitlines()) == 1, text
    return text


@pytest.fixture
def store(tmp_path):
    return build_small_store(tmp_path / "store.duckdb")


def _counts(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT (SELECT count(*) FROM samples), (SELECT count(*) FROM steps)").fetchone()
    finally:
        con.close()


def test_attach_detach_chain_cannot_delete_the_stores_samples(store, tmp_path):
    before = _counts(store)
    other = tmp_path / "x.duckdb"
    attack = (f"ATTACH '{other}' AS m (READ_WRITE); USE m; DETACH store; ATTACH '{store}' AS w (READ_WRITE); "
              "DROP TABLE w.steps; DELETE FROM w.samples")
    assert "ATTACH is refused" in _one_error_line(sql(attack, "--db", store))
    assert _counts(store) == before and before[0] > 0
    assert not other.exists()
    # each statement alone is refused too, not only the first of a chain
    for stmt in ("DETACH store", f"ATTACH '{other}' AS m"):
        assert "refused" in _one_error_line(sql(stmt, "--db", store))


def test_copy_to_and_export_database_write_no_file(store, tmp_path):
    target = tmp_path / "any_file"
    assert "COPY is refused" in _one_error_line(sql(f"COPY (SELECT 'x') TO '{target}'", "--db", store))
    assert "EXPORT DATABASE is refused" in _one_error_line(sql(f"EXPORT DATABASE '{tmp_path / 'dump'}'", "--db", store))
    assert "refused" in _one_error_line(sql(f"IMPORT DATABASE '{tmp_path / 'dump'}'", "--db", store))
    assert not target.exists() and not (tmp_path / "dump").exists()


@pytest.mark.parametrize("query", [
    "SELECT * FROM read_csv('/etc/passwd', sep = ':')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/home/**')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM '/etc/passwd'",
])
def test_no_local_file_is_readable(store, query):
    line = _one_error_line(sql(query, "--db", store))
    assert "root:" not in line and "/home/" not in line.split("Cannot access")[0]


@pytest.mark.parametrize("query", ["INSTALL httpfs", "LOAD httpfs", "FORCE INSTALL httpfs"])
def test_no_extension_install_or_load(store, query):
    assert "INSTALL/LOAD is refused" in _one_error_line(sql(query, "--db", store))


def test_writes_and_settings_are_refused(store):
    before = _counts(store)
    assert "--write" in _one_error_line(sql("DELETE FROM samples", "--db", store))
    assert "--write" in _one_error_line(sql("CREATE TABLE t AS SELECT 1", "--db", store))
    assert "locked" in _one_error_line(sql("SET enable_external_access = true", "--db", store))
    assert _counts(store) == before


def test_the_guards_hold_even_past_the_statement_check(store):
    """DuckDB's own settings, not only qmr's parser check: a table function reading a file is refused by DuckDB."""
    line = _one_error_line(sql("SELECT count(*) FROM read_csv_auto('/etc/passwd')", "--db", store))
    assert "disabled by configuration" in line


def test_read_dir_opens_one_folder_for_reading_only(store, tmp_path):
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "gold.csv").write_text("problem_id,answer\nsample/algebra/1,49\n")
    ok = sql(f"SELECT answer FROM read_csv('{folder / 'gold.csv'}')", "--db", store, "--read-dir", folder)
    assert ok.exit_code == 0 and "49" in ok.output, ok.output
    assert "disabled" in _one_error_line(sql("SELECT * FROM read_text('/etc/passwd')", "--db", store, "--read-dir", folder))
    assert "COPY is refused" in _one_error_line(
        sql(f"COPY (SELECT 1) TO '{folder / 'out.csv'}'", "--db", store, "--read-dir", folder))
    assert not (folder / "out.csv").exists()


def test_plain_reads_still_work(store):
    for query in ("SELECT count(*) AS n FROM samples", "DESCRIBE samples", "SHOW TABLES", "PRAGMA table_info('runs')",
                  "EXPLAIN SELECT 1", "WITH a AS (SELECT 1 AS x) SELECT x FROM a", "SUMMARIZE runs"):
        result = sql(query, "--db", store)
        assert result.exit_code == 0, (query, result.output)


def test_write_keeps_full_power_and_says_so(store, tmp_path):
    target = tmp_path / "out.csv"
    result = sql(f"COPY (SELECT 'x' AS a) TO '{target}'", "--db", store, "--write")
    assert result.exit_code == 0, result.output
    assert "no sandbox" in result.output and target.read_text().strip().splitlines() == ["a", "x"]


def test_a_connection_to_an_already_locked_database_is_ready_for_any_call(store):
    """The TUI keeps the database warm, so its later reads find the guards already locked: the
    sandbox must then leave no unfinished result behind (DuckDB 2 refuses register() after one)."""
    s = Store(store, write=False, keep_warm_s=5.0)
    try:
        for _ in range(2):
            with s.connect(read_only=True) as con:
                con.register("ann", pa.table({"x": [1]}))
                assert con.execute("SELECT count(*) FROM ann").fetchall() == [(1,)]
    finally:
        s.close()


def test_a_statement_type_duckdbs_python_enum_does_not_name_is_one_error_line(store):
    text = _one_error_line(sql("UPDATE EXTENSIONS", "--db", store))
    assert "refused" in text


def test_a_negative_max_rows_is_one_error_line(store):
    assert "--max-rows" in _one_error_line(sql("SELECT 1", "--max-rows", "-5", "--db", store))
