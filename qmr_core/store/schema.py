"""Schema versions: which migrations a store has, applying the missing ones, repairing lost version rows.

Migrations run only on a store opened for writing (`Store(write=True)`, `qmr migrate`). A read-only open
checks the version and, for an older store, says to run `qmr migrate`, so reading needs no write access.

A version row can go missing while the migration's tables and columns are there (a store copied halfway,
a hand edit). Re-running that migration would fail on the objects it creates, so before applying a
missing version its effect is measured on an empty in-memory database (the catalog objects it adds on
top of the earlier migrations): all of them present in the store means it was applied and only the row
is written back; none present means it is applied; some present is refused as a half-applied store.
A migration that adds no catalog object (data only) cannot be told apart and is re-applied, so write
such migrations to be idempotent.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from qmr_core.errors import QmrError


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("qmr_core.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(v for v, _ in migrations())


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The one value an aggregate query returns."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _has_version_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(_scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"))


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    if not _has_version_table(con):
        return set()
    return {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()}


def newer_error(path: Path, version: int) -> QmrError:
    return QmrError(f"store {path} has schema v{version}, newer than this qmr understands (v{SCHEMA_VERSION}); upgrade qmr")


def missing_versions(applied: set[int]) -> list[int]:
    return [v for v, _ in migrations() if v not in applied]


def check_readable(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """For a read-only open: a qmr store, not newer than this qmr, with every migration applied."""
    applied = applied_versions(con)
    if not applied:
        raise QmrError(f"{path} is not a qmr store (no schema_version table)")
    if max(applied) > SCHEMA_VERSION:
        raise newer_error(path, max(applied))
    if missing := missing_versions(applied):
        raise QmrError(
            f"store {path} is from an older qmr (missing schema version {', '.join(map(str, missing))}); "
            f"run `qmr migrate --db {path}` once (it needs write access), then read it again"
        )


@functools.cache
def _schema_tables() -> frozenset[str]:
    """The tables a store at SCHEMA_VERSION has: what the migrations make of an empty database."""
    scratch = duckdb.connect(":memory:")
    try:
        for _v, sql in migrations():
            scratch.execute(sql)
        return frozenset(r[0] for r in scratch.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall())
    finally:
        scratch.close()


def check_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """After a read failed on a missing table: one clear error when a table the migrations made is gone
    (a store edited by hand or copied halfway), since readers rely on the migrations for every table."""
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    if lost := sorted(_schema_tables() - present):
        raise QmrError(f"store {path} has lost table(s) {', '.join(lost)} that its schema version guarantees; "
                       "restore it from a copy")


def _objects(con: duckdb.DuckDBPyConnection) -> set[tuple[str, ...]]:
    """Every user catalog object of the main schema: columns, views, indexes, sequences."""
    objects: set[tuple[str, ...]] = {
        ("column", t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
        ).fetchall()
    }
    for kind, sql in (("view", "SELECT view_name FROM duckdb_views() WHERE NOT internal"),
                      ("index", "SELECT index_name FROM duckdb_indexes()"),
                      ("sequence", "SELECT sequence_name FROM duckdb_sequences()")):
        objects |= {(kind, r[0]) for r in con.execute(sql).fetchall()}
    return objects


def _added_by(version: int) -> set[tuple[str, ...]]:
    """The catalog objects migration `version` adds on top of the migrations before it."""
    scratch = duckdb.connect(":memory:")
    try:
        for v, sql in migrations():
            if v == version:
                before = _objects(scratch)
                scratch.execute(sql)
                return _objects(scratch) - before
            scratch.execute(sql)
    finally:
        scratch.close()
    return set()


def _plan(con: duckdb.DuckDBPyConnection, path: Path, missing: list[int]) -> tuple[list[int], list[int]]:
    """Split missing versions into (to apply, to repair: present but unrecorded)."""
    present = _objects(con)
    if not present - {("column", "schema_version", "version"), ("column", "schema_version", "applied_at")}:
        return missing, []  # an empty file: a new store
    apply, repair = [], []
    for version in missing:
        added = _added_by(version)
        there = added & present
        if added and there == added:
            repair.append(version)
        elif not there:
            apply.append(version)
        else:
            raise QmrError(
                f"store {path} has part of schema version {version} without its version row "
                f"(e.g. {sorted(added - there)[0][1:]} is missing); restore it from a copy"
            )
    return apply, repair


def migrate(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[int], list[int]]:
    """Bring a store opened for writing up to SCHEMA_VERSION; returns (applied, repaired) versions."""
    applied = applied_versions(con)
    if applied and max(applied) > SCHEMA_VERSION:
        raise newer_error(path, max(applied))
    missing = missing_versions(applied)
    if not missing:
        return [], []
    if not applied:
        n_tables = _scalar(con, "SELECT count(*) FROM information_schema.tables")
        if n_tables and not _has_version_table(con):
            raise QmrError(f"{path} is a DuckDB file but not a qmr store")
    apply, repair = _plan(con, path, missing)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
        sql_of = dict(migrations())
        for version in missing:  # in order, so migrations written in parallel all apply
            if version in apply:
                con.execute(sql_of[version])
            con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return apply, repair
