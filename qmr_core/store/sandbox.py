"""The read-only SQL sandbox every read-only store connection runs in (`qmr sql`, the TUI, reports).

Two layers. DuckDB's own guards, set on the database instance in the order DuckDB requires
(allowed folders first, then `enable_external_access = false`, then `lock_configuration = true`, after
which no SET can undo them): no local file but the store itself, no network, no extension install or
load. And a statement check before anything runs: ATTACH, DETACH, COPY, EXPORT/IMPORT DATABASE, INSTALL,
LOAD and every statement that writes are refused with one line. The check uses DuckDB's own parser
(`extract_statements`), never string matching on the query text alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from qmr_core.errors import QmrError

_ST = duckdb.StatementType
_READ_TYPES = {_ST.SELECT, _ST.EXPLAIN, _ST.PRAGMA, _ST.CALL, _ST.SET, _ST.VARIABLE_SET, _ST.TRANSACTION}
_REFUSED = {_ST.ATTACH: "ATTACH", _ST.DETACH: "DETACH", _ST.COPY: "COPY", _ST.COPY_DATABASE: "COPY DATABASE",
            _ST.EXPORT: "EXPORT DATABASE", _ST.LOAD: "INSTALL/LOAD", _ST.EXTENSION: "extension statements"}
# statements DuckDB's parser files under PRAGMA but that read or write other files
_REFUSED_PRAGMAS = {"import": "IMPORT DATABASE", "copy": "COPY FROM DATABASE"}


def _first_word(sql: str) -> str:
    words = sql.strip().lstrip("(").split(None, 1)
    return words[0].lower() if words else ""


def check_read_only_sql(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse, with one line, any statement a read-only `qmr sql` must not run."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QmrError(f"database: {str(exc).splitlines()[0]}") from exc
    for stmt in statements:
        try:
            kind = stmt.type
        except ValueError:  # a statement type this duckdb's Python enum does not name (UPDATE EXTENSIONS)
            raise QmrError(f"`{_first_word(stmt.query).upper()} ...` is refused: `qmr sql` runs only reads unless --write") from None
        name = _REFUSED.get(kind)
        if name is None and kind == _ST.PRAGMA:
            name = _REFUSED_PRAGMAS.get(_first_word(stmt.query))
        if name is not None:
            raise QmrError(
                f"{name} is refused: `qmr sql` is read-only and reaches only the store "
                "(--write lifts every limit; see the README's Security model)"
            )
        if kind == _ST.SET and _first_word(stmt.query) in ("set", "reset"):
            raise QmrError("SET is refused: the read-only sandbox's settings are locked (use --write for a full DuckDB session)")
        if kind not in _READ_TYPES:
            raise QmrError(f"{kind.name} modifies the store: `qmr sql` is read-only unless --write")


def lock_down(con: duckdb.DuckDBPyConnection, read_dirs: Sequence[Path] = ()) -> None:
    """Apply DuckDB's guards to the database instance behind `con` (a no-op once they are locked)."""
    # fetchall, not fetchone: DuckDB >= 2.0 refuses con.register() while a result is left unfinished
    locked = con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]
    if locked:
        if read_dirs:
            raise QmrError("the store is already open in this process without the --read-dir folders")
        return
    if read_dirs:
        folders = [str(Path(d).expanduser().resolve()) + "/" for d in read_dirs]
        con.execute("SET allowed_directories = ?", [folders])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
