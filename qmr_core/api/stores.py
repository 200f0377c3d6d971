"""The store argument of the library calls: a path (opened per call) or an open `Store`, and run-id prefixes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.runs import list_run_ids

StoreLike = Store | str | Path | Callable[[], Store]


def as_store(db: StoreLike, create: bool = False, write: bool = True) -> Store:
    """An open `Store` is used as it is; a path is opened (created with `create`, read-only with `write=False`);
    a function is called when the store is first needed (the CLI's opener, after the arguments are checked)."""
    if isinstance(db, Store):
        return db
    if callable(db):
        return db()
    return Store(Path(db), create=create, write=write)


def resolve_run(store: Store, run: str) -> str:
    """Accept a full run id or a unique prefix of one."""
    ids = sorted(list_run_ids(store, run))  # sorted: an empty prefix lists every run oldest first
    if not ids:
        raise QmrError(f"no run '{run}' in {store.path} (see `qmr runs`)")
    if len(ids) > 1 and ids[0] != run:
        raise QmrError(f"run prefix '{run}' is ambiguous: {', '.join(ids[:5])}")
    return ids[0]
