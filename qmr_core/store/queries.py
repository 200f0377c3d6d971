"""Reads of the later stages: the problems of a run, and the model spec a run can be reloaded from."""

from __future__ import annotations

from qmr_core.errors import QmrError
from qmr_core.models.registry import resolve_model
from qmr_core.store.records import ProblemRow
from qmr_core.store.store import Store


def run_problem_rows(store: Store, run_id: str) -> list[ProblemRow]:
    """The `problems` rows a run has samples for, in problem-id order (Problem.from_row builds Problems)."""
    return [ProblemRow(**r) for r in store.query_dicts(
        """SELECT p.problem_id, p.benchmark, p.unique_id, p.problem, p.answer, p.solution, p.subject, p.level, p.kind
           FROM problems p WHERE p.problem_id IN (SELECT DISTINCT problem_id FROM samples WHERE run_id = ?)
           ORDER BY p.problem_id""",
        [run_id],
    )]


def run_model_spec(store: Store, run_id: str) -> str:
    """A model spec resolve_model accepts, for the model a run used (teacher forcing, recovery)."""
    rows = store.query(
        "SELECT r.model_id, m.source, r.engine FROM runs r LEFT JOIN models m USING (model_id) WHERE r.run_id = ?", [run_id]
    )
    if not rows:
        raise QmrError(f"no run '{run_id}'")
    model_id, source, engine = rows[0]
    if engine != "hf":
        raise QmrError(f"teacher forcing needs a run made with the hf engine; run {run_id} used '{engine}'")
    tag = model_id.partition("@")[2]
    candidates = [model_id] + ([f"{source}@{tag}" if tag else source] if source else [])
    if "+lora-" in model_id:  # a recovered model loads from its adapter folder, which names its base
        candidates = [r[0] for r in store.query("SELECT adapter_path FROM recoveries WHERE model_id = ?", [model_id])]
    last: QmrError | None = None
    for spec in candidates:
        try:
            resolve_model(spec)
            return spec
        except QmrError as exc:
            last = exc
    raise QmrError(f"cannot load the model of run {run_id} ({model_id}): {last}")
