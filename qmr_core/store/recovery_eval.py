"""Reads and writes of `qmr recover eval`: an adapter's `recoveries` row, its set, its parent run."""

from __future__ import annotations

from qmr_core.store.records import Recovery, RecoverySet, RunRow
from qmr_core.store.store import Store


def recovery_of_model(store: Store, model_id: str) -> Recovery | None:
    """The `recoveries` row of a recovered model, or None."""
    rows = store.query_dicts("SELECT * FROM recoveries WHERE model_id = ?", [model_id])
    return Recovery(**rows[0]) if rows else None


def run_row(store: Store, run_id: str) -> RunRow | None:
    """The whole `runs` row, or None."""
    rows = store.query_dicts("SELECT * FROM runs WHERE run_id = ?", [run_id])
    return RunRow(**rows[0]) if rows else None


def recovery_set(store: Store, set_id: str) -> RecoverySet | None:
    """A recovery set's `recovery_sets` row (its base run, judge, held-out problems, ...), or None."""
    rows = store.query_dicts("SELECT * FROM recovery_sets WHERE set_id = ?", [set_id])
    return RecoverySet(**rows[0]) if rows else None


def example_problems(store: Store, set_id: str, kind: str) -> set[str]:
    """The problems of a set's examples of one kind (what an adapter of that kind trained on)."""
    return {r[0] for r in store.query(
        "SELECT DISTINCT problem_id FROM recovery_examples WHERE set_id = ? AND kind = ?", [set_id, kind])}


def label_recovered_model(store: Store, model_id: str) -> None:
    """The recovered model's quantization columns are its quantized base's, method suffixed '+lora' (the
    load-time row only knows built-in RTN; a checkpoint from `qmr quantize` has a richer row)."""
    store.execute(
        """UPDATE models SET method = b.method || '+lora', bits = coalesce(b.bits, models.bits),
                  group_size = coalesce(b.group_size, models.group_size), act_bits = coalesce(b.act_bits, models.act_bits),
                  is_symmetric = coalesce(b.is_symmetric, models.is_symmetric), backend = coalesce(b.backend, models.backend)
           FROM models b WHERE models.model_id = ? AND b.model_id = models.base_model_id AND b.method <> 'none'""",
        [model_id],
    )


def write_recovery_eval(store: Store, adapter_id: str, eval_run_id: str, summary_json: str) -> None:
    store.execute("UPDATE recoveries SET eval_run_id = ?, summary_json = ? WHERE adapter_id = ?",
                  [eval_run_id, summary_json, adapter_id])
