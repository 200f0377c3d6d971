"""Reads and writes of the eval loop (`qmr eval`): problems, a run's row and status, its samples and steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qmr_core.store.store import Store, upsert_rows


def problem_hashes(store: Store, problem_ids: Sequence[str]) -> dict[str, str]:
    """problem id -> stored content hash, for the given ids the store already holds."""
    rows = store.query("SELECT problem_id, content_hash FROM problems WHERE problem_id IN (SELECT unnest(?))",
                       [list(problem_ids)])
    return dict(rows)


def write_problems(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    store.upsert("problems", list(rows))


def stored_sample_keys(store: Store, run_id: str) -> set[tuple[str, int]]:
    """(problem id, sample index) of every sample the run has stored."""
    return {(pid, idx) for pid, idx in store.query("SELECT problem_id, sample_idx FROM samples WHERE run_id = ?", [run_id])}


def open_run(store: Store, run_row: dict[str, Any]) -> None:
    """Insert the run's row, or set an existing run running again with the engine it runs on now."""
    with store.transaction() as con:
        exists = con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_row["run_id"]]).fetchone()
        if not exists:
            upsert_rows(con, "runs", [run_row])
        else:
            con.execute(
                "UPDATE runs SET status = 'running', engine_json = ?, finished_at = NULL WHERE run_id = ?",
                [run_row["engine_json"], run_row["run_id"]],
            )


def set_run_status(store: Store, run_id: str, status: str) -> None:
    store.execute("UPDATE runs SET status = ?, finished_at = current_timestamp WHERE run_id = ?", [status, run_id])


def mark_run_done(store: Store, run_id: str) -> None:
    """Status 'done', keeping the finish time an earlier process wrote."""
    store.execute(
        "UPDATE runs SET status = 'done', finished_at = coalesce(finished_at, current_timestamp) "
        "WHERE run_id = ? AND status <> 'done'", [run_id])


def write_samples(store: Store, samples: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]) -> None:
    """Samples and their steps in one transaction; a re-generated sample's steps replace its old ones whole."""
    with store.transaction() as con:
        if samples:
            keys = [(s["problem_id"], s["sample_idx"]) for s in samples]
            for pid, idx in keys:
                con.execute(
                    "DELETE FROM steps WHERE run_id = ? AND problem_id = ? AND sample_idx = ?",
                    [samples[0]["run_id"], pid, idx],
                )
        upsert_rows(con, "samples", samples)
        upsert_rows(con, "steps", steps)
