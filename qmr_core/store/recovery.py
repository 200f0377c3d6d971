"""Reads and writes of `qmr recover build`, `train` and `show`: the lost problems' samples, `recovery_sets`,
`recovery_examples` and `recoveries` (the reads of `qmr recover eval` are in recovery_eval.py).

Rows are read as the records of records_restore.py and written as dicts; cutting the traces and training live in qmr_core/recover/.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qmr_core.store.failure_rows import judge_counts
from qmr_core.store.records_restore import Recovery, RecoveryExample, RecoverySet
from qmr_core.store.store import Store, upsert_rows


def run_judges(store: Store, run_id: str) -> list[str]:
    """The judges that diagnosed samples of a run, by name."""
    with store.connect(read_only=True) as con:
        return sorted(judge for judge, _n in judge_counts(con, [run_id]))


def first_sample_idx(store: Store, run_id: str, problem_ids: Sequence[str], correct: bool) -> dict[str, int]:
    """problem -> its first sample graded `correct` (right or wrong; ungraded ones count as neither)."""
    return dict(store.query(
        """SELECT problem_id, min(sample_idx) FROM samples WHERE run_id = ? AND correct = ?
           AND problem_id IN (SELECT unnest(?)) GROUP BY problem_id""",
        [run_id, correct, list(problem_ids)],
    ))


def sets_with_prefix(store: Store, prefix: str) -> list[RecoverySet]:
    """The `recovery_sets` rows whose id starts with `prefix`, by id."""
    return [RecoverySet(**r) for r in store.query_dicts(
        "SELECT * FROM recovery_sets WHERE set_id LIKE ? ORDER BY set_id", [prefix + "%"])]


def examples_of_kind(store: Store, set_id: str, kind: str) -> list[RecoveryExample]:
    """A set's `recovery_examples` rows of one kind, in problem and sample order."""
    return [RecoveryExample(**r) for r in store.query_dicts(
        "SELECT * FROM recovery_examples WHERE set_id = ? AND kind = ? ORDER BY problem_id, sample_idx", [set_id, kind])]


def replace_set(store: Store, set_row: dict[str, Any], examples: Sequence[dict[str, Any]]) -> None:
    """Write a set's `recovery_sets` row and its examples, dropping the examples an earlier build of it left."""
    with store.transaction() as con:
        con.execute("DELETE FROM recovery_examples WHERE set_id = ?", [set_row["set_id"]])
        upsert_rows(con, "recovery_sets", [set_row])
        upsert_rows(con, "recovery_examples", examples)


def write_recovery(store: Store, row: dict[str, Any]) -> None:
    """A trained adapter's `recoveries` row; columns it lacks (eval_run_id, summary_json) keep their values."""
    store.upsert("recoveries", [row])


def recoveries(store: Store) -> list[Recovery]:
    """Every `recoveries` row, oldest first."""
    return [Recovery(**r) for r in store.query_dicts("SELECT * FROM recoveries ORDER BY created_at")]
