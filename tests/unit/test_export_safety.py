"""`qmr export` never clobbers: the store, its annotations, DuckDB files, existing files without --force."""

import duckdb
import pytest
from typer.testing import CliRunner

from qmr_core.review.annotations import AnnotationStore, annotations_path
from qmr_core.cli import app
from qmr_core.errors import QmrError
from qmr_core.report.export import export_query
from qmr_core.store import Store
from tests.helpers.tui_store import build_small_store

runner = CliRunner()


@pytest.fixture
def store(tmp_path):
    return build_small_store(tmp_path / "store.duckdb")


def export(store, out, *extra):
    return runner.invoke(app, ["export", "--query", "runs", "--out", str(out), "--db", str(store), *map(str, extra)])


def _one_error_line(result) -> str:
    text = result.output.strip()
    assert result.exit_code == 1, text
    assert "Traceback" not in text and text.startswith("error:") and len(text.splitlines()) == 1, text
    return text


def _n_runs(path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        con.close()


def test_export_onto_the_store_is_refused_even_with_force(store):
    n = _n_runs(store)
    for extra in ((), ("--force",)):
        assert "refusing to write over" in _one_error_line(export(store, store, *extra))
    assert _n_runs(store) == n  # still a DuckDB store, not a CSV
    link = store.with_name("link.csv")
    link.symlink_to(store)
    assert "refusing" in _one_error_line(export(store, link, "--force"))
    assert _n_runs(store) == n


def test_export_onto_the_annotations_file_or_any_duckdb_file_is_refused(store, tmp_path):
    AnnotationStore.for_store(store).set_note(("run-w3-0003", "sample/algebra/1", 0), "keep me")
    ann = annotations_path(store)
    assert "refusing" in _one_error_line(export(store, ann, "--force"))
    other = tmp_path / "other.db"
    Store(other)
    assert "DuckDB database" in _one_error_line(export(store, other, "--force"))
    assert _n_runs(other) == 0


def test_an_existing_file_needs_force_and_is_replaced_whole(store, tmp_path):
    out = tmp_path / "runs.csv"
    out.write_text("precious\n")
    assert "--force" in _one_error_line(export(store, out))
    assert out.read_text() == "precious\n"
    ok = export(store, out, "--force")
    assert ok.exit_code == 0, ok.output
    assert out.read_text().startswith("run_id,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".runs")) == []  # no temp file left


def test_a_folder_or_a_missing_parent_gives_one_error_line(store, tmp_path):
    assert "is a folder" in _one_error_line(export(store, tmp_path))
    assert "does not exist" in _one_error_line(export(store, tmp_path / "nowhere" / "x.csv"))


def test_a_failed_export_leaves_the_old_file(store, tmp_path):
    out = tmp_path / "old.md"
    out.write_text("old\n")
    with pytest.raises((QmrError, duckdb.Error)):
        export_query(Store(store, create=False, write=False), "SELECT * FROM no_such_table", "md", out, force=True)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_export_sql_is_sandboxed_too(store, tmp_path):
    line = _one_error_line(runner.invoke(app, ["export", "--query", f"COPY runs TO '{tmp_path / 'x.csv'}'",
                                                "--out", str(tmp_path / "y.csv"), "--db", str(store)]))
    assert "COPY is refused" in line and not (tmp_path / "x.csv").exists()
