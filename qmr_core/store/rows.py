"""Small helpers for reading DuckDB results."""

from __future__ import annotations

import duckdb


def first_row(cur: duckdb.DuckDBPyConnection) -> tuple | None:
    """First row of an executed query, with the result fully consumed (DuckDB 2 refuses new work on a
    connection while a result is open)."""
    rows = cur.fetchall()
    return rows[0] if rows else None


# The key columns of a per-sample table (annotations, blind labels): one sample of one run.
SAMPLE_KEY_DDL = """    run_id           VARCHAR NOT NULL,
    problem_id       VARCHAR NOT NULL,
    sample_idx       INTEGER NOT NULL,"""
