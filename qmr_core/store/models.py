"""Writing `models` rows: one ModelRecord per model, whoever describes it."""

from __future__ import annotations

import duckdb

from qmr_core.store.records import ModelRecord
from qmr_core.store.store import upsert_rows


def upsert_model(con: duckdb.DuckDBPyConnection, record: ModelRecord) -> None:
    """Insert the model, or update the columns the record sets (the others keep their values)."""
    upsert_rows(con, "models", [record.row()])
