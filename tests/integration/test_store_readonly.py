"""Read-only opens need no write access; migrations only on write opens; lost version rows are repaired."""

import os
import shutil
import subprocess
import sys

import duckdb
import pytest
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.errors import QmrError
from qmr_core.store import SCHEMA_VERSION, Store
from qmr_core.store import store as store_module
from tests.conftest import REPO
from tests.helpers.tui_store import build_small_store

runner = CliRunner()


def _raw(path, sql, *params):
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _spy_opens(monkeypatch, path) -> list[bool]:
    """The read_only flag of every connection the store module opens on `path`."""
    opens: list[bool] = []
    real = duckdb.connect

    def spy(database=":memory:", read_only=False, **kw):
        if str(database) == str(path):
            opens.append(read_only)
        return real(database, read_only=read_only, **kw)

    monkeypatch.setattr(store_module.duckdb, "connect", spy)
    return opens


def test_reading_commands_never_open_the_store_for_writing(tmp_path, monkeypatch):
    path = build_small_store(tmp_path / "s.duckdb")
    opens = _spy_opens(monkeypatch, path)
    for args in (["runs"], ["sql", "SELECT count(*) FROM samples"], ["report", "--format", "md"],
                 ["show", "run-w3", "sample/algebra/1"], ["export", "-q", "runs", "-o", str(tmp_path / "r.csv")]):
        result = runner.invoke(app, [*args, "--db", str(path)])
        assert result.exit_code == 0, (args, result.output)
    assert opens and not any(ro is False for ro in opens)


def test_review_and_diagnosis_readers_never_open_the_store_for_writing(tmp_path, monkeypatch):
    from tests.helpers.review_store import build_review_store

    path = build_review_store(tmp_path / "s.duckdb")
    opens = _spy_opens(monkeypatch, path)
    for args in (["errors"], ["review", "sample", "--n", "2"], ["review", "list"], ["import", "disagreements", "run-w3"]):
        result = runner.invoke(app, [*args, "--db", str(path)])
        assert result.exit_code == 0, (args, result.output)
    result = runner.invoke(app, ["judge-accuracy", "--db", str(path)])
    assert result.exit_code == 1 and "no blind labels" in result.output
    assert opens and not any(ro is False for ro in opens)


def _drop_privileges() -> list[str]:
    """Run as root without the capabilities that let root ignore file permissions."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root without setpriv cannot simulate read-only media")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_a_store_on_read_only_media_can_be_read(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    path = build_small_store(folder / "s.duckdb")
    path.chmod(0o444)
    folder.chmod(0o555)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    try:
        for args in (["runs"], ["sql", "SELECT count(*) AS n FROM samples"], ["report", "--format", "md"]):
            out = subprocess.run([*_drop_privileges(), sys.executable, "-m", "qmr_core.cli", *args, "--db", str(path)],
                                 capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)
            assert out.returncode == 0, (args, out.stdout, out.stderr)
        writer = subprocess.run([*_drop_privileges(), sys.executable, "-m", "qmr_core.cli", "sql", "DELETE FROM runs",
                                 "--write", "--db", str(path)], capture_output=True, text=True, env=env, timeout=120)
        assert writer.returncode == 1 and writer.stderr.startswith("error:"), writer.stderr  # really read-only
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert sorted(p.name for p in folder.iterdir()) == ["s.duckdb"]


def test_an_older_store_read_only_says_to_run_qmr_migrate(tmp_path):
    from qmr_core.store.schema import migrations

    older = tmp_path / "old.duckdb"  # a store written by a qmr that had every migration but the last
    con = duckdb.connect(str(older))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP DEFAULT current_timestamp)")
    for v, sql_text in migrations()[:-1]:
        con.execute(sql_text)
        con.execute("INSERT INTO schema_version (version) VALUES (?)", [v])
    con.close()
    versions = [v for v, _ in migrations()]
    result = runner.invoke(app, ["runs", "--db", str(older)])
    assert result.exit_code == 1 and "qmr migrate" in result.output, result.output
    assert [v for (v,) in _raw(older, "SELECT version FROM schema_version ORDER BY 1")] == versions[:-1]  # untouched
    migrated = runner.invoke(app, ["migrate", "--db", str(older)])
    assert migrated.exit_code == 0 and f"applied schema version {versions[-1]}" in migrated.output, migrated.output
    assert runner.invoke(app, ["runs", "--db", str(older)]).exit_code == 0
    assert "nothing to do" in runner.invoke(app, ["migrate", "--db", str(older)]).output


@pytest.mark.parametrize("lost", [1, 3, SCHEMA_VERSION])
def test_a_lost_version_row_is_repaired_not_reapplied(tmp_path, lost):
    path = build_small_store(tmp_path / "s.duckdb")
    n_samples = _raw(path, "SELECT count(*) FROM samples")[0][0]
    _raw(path, "DELETE FROM schema_version WHERE version = ?", lost)
    store = Store(path, create=False)
    assert store.migrated == ([], [lost])
    assert _raw(path, "SELECT count(*) FROM schema_version WHERE version = ?", lost) == [(1,)]
    assert store.query("SELECT count(*) FROM samples") == [(n_samples,)]
    assert Store(path, create=False, write=False).query("SELECT count(*) FROM samples") == [(n_samples,)]


def test_a_half_applied_migration_is_refused_with_one_line(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path)
    _raw(path, "DELETE FROM schema_version WHERE version = 3")
    _raw(path, "DROP TABLE comparisons")  # part of migration 3 gone, the rest (pairs columns) still there
    with pytest.raises(QmrError, match="part of schema version 3"):
        Store(path, create=False)


def test_a_read_only_store_refuses_write_connections(tmp_path):
    Store(tmp_path / "s.duckdb")
    reader = Store(tmp_path / "s.duckdb", create=False, write=False)
    with pytest.raises(QmrError, match="opened read-only"):
        reader.execute("DELETE FROM runs")
