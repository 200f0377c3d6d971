"""Writing `models` rows: one ModelRecord per model, whoever describes it (evaluation, quantization, imports)."""

from __future__ import annotations

from typing import Any

import duckdb

from qmr_core.store.records import ModelRecord
from qmr_core.store.store import Store, upsert_rows


def upsert_model(con: duckdb.DuckDBPyConnection, record: ModelRecord) -> None:
    """Insert the model, or update the columns the record sets (the others keep their values)."""
    upsert_rows(con, "models", [record.row()])


def _known(con: duckdb.DuckDBPyConnection, model_id: str) -> tuple | None:
    """(source_precision,) of the model's row, or None when the store does not know the model."""
    rows = con.execute("SELECT source_precision FROM models WHERE model_id = ?", [model_id]).fetchall()  # fetchone would leave the result open
    return rows[0] if rows else None


def add_model(store: Store, record: ModelRecord, base: ModelRecord | None = None,
              fill: dict[str, Any] | None = None) -> None:
    """Record a model unless the store already knows it (quantize records richer rows first), and its base
    model unless known. A known model only gets its gaps filled: its source precision when the row is from
    before schema v6, else the `fill` columns that are still NULL (quantize's own values win)."""
    with store.transaction() as con:
        if base is not None and _known(con, base.model_id) is None:
            upsert_model(con, base)
        known = _known(con, record.model_id)
        if known is None:
            upsert_model(con, record)
        elif known[0] is None and record.source_precision:
            con.execute("UPDATE models SET source_precision = ? WHERE model_id = ?", [record.source_precision, record.model_id])
        elif fill:
            sets = ", ".join(f"{k} = coalesce({k}, ?)" for k in fill)
            con.execute(f"UPDATE models SET {sets} WHERE model_id = ?", [*fill.values(), record.model_id])


def replace_model(store: Store, record: ModelRecord, base: ModelRecord) -> None:
    """Write the model's row over an older one (a new quantization), and its base model's unless known."""
    with store.transaction() as con:
        if _known(con, base.model_id) is None:
            upsert_model(con, base)
        upsert_model(con, record)
