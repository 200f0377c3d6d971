"""Read-side queries shared by the CLI, reports and the TUI."""

from __future__ import annotations

from typing import Any

from qmr_core.errors import QmrError
from qmr_core.models.registry import resolve_model
from qmr_core.store.store import Store

RUN_SUMMARY_SQL = """
SELECT r.run_id, r.model_id, m.name AS model, coalesce(m.method, 'none') AS method, m.bits, m.group_size,
       m.act_bits, m.source_precision, json_extract_string(r.engine_json, '$.dtype') AS run_dtype,
       r.benchmark, r.prompt_template, r.engine, r.status, r.created_at, r.finished_at,
       r.parent_run_id,
       count(s.problem_id) AS n,
       avg(CASE WHEN s.correct THEN 1.0 ELSE 0.0 END) AS accuracy,
       avg(CASE WHEN s.step_format = 'tagged' THEN 1.0 ELSE 0.0 END) AS format_rate,
       avg(CASE WHEN s.finish_reason = 'length' THEN 1.0 ELSE 0.0 END) AS truncation_rate,
       sum(s.n_tokens) AS tokens
FROM runs r
LEFT JOIN models m USING (model_id)
LEFT JOIN samples s USING (run_id)
GROUP BY ALL
ORDER BY r.created_at, r.run_id
"""


def run_summaries(store: Store) -> list[dict[str, Any]]:
    """Every run with its counts; `status` is `interrupted` for a `running` run whose process is gone."""
    from qmr_core.store.lease import with_shown_status

    return with_shown_status(store, store.query_dicts(RUN_SUMMARY_SQL))


# Columns every label query selects next to method/bits/...: what the weights were at their source
# and the dtype the run computed in (needs `models m` and `runs r` in the query).
PRECISION_COLUMNS = "m.source_precision, json_extract_string(r.engine_json, '$.dtype') AS run_dtype"


def precision_label(source_precision: str | None, run_dtype: str | None = None) -> str:
    """An unquantized model's precision, honestly: 'fp32 (dequantized Q4_1)' for a GGUF read as float,
    'bf16' for a bf16 checkpoint, 'fp32 (from bf16)' when upcast; 'fp' when the source is unknown."""
    from qmr_core.models.precision import float_name

    if not source_precision:
        return "fp"
    run = float_name(run_dtype)
    native = float_name(source_precision)
    if native:
        return native if run in (None, native) else f"{run} (from {native})"
    return f"{run or 'fp'} (dequantized {source_precision})"


def short_quant_label(
    method: str | None, bits: int | None, group_size: int | None, act_bits: int | None,
    source_precision: str | None = None, run_dtype: str | None = None,
) -> str:
    """'fp32 (dequantized Q4_1)', 'bf16', 'rtn w4g64', 'smoothquant w8a8', 'gptq w4gch': fits a narrow column."""
    method = method or "none"
    if method == "none":
        return precision_label(source_precision, run_dtype)
    group = "" if not group_size else ("gch" if group_size == -1 else f"g{group_size}")
    act = f"a{act_bits}" if act_bits else ""
    return f"{method} w{bits}{act}{group}" if bits else method


def quant_label(row: dict[str, Any]) -> str:
    """'fp' for full precision, else e.g. 'rtn w4 g64' / 'smoothquant w8a8'."""
    method = row.get("method") or "none"
    if method == "none":
        label = precision_label(row.get("source_precision"), row.get("run_dtype"))
        return "full precision" if label == "fp" else label
    parts = [method, f"w{row['bits']}" + (f"a{row['act_bits']}" if row.get("act_bits") else "")]
    group = row.get("group_size")
    if group:
        parts.append("per-channel" if group == -1 else f"g{group}")
    return " ".join(parts)


def run_problem_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The `problems` rows a run has samples for, in problem-id order (Problem.from_row builds Problems)."""
    return store.query_dicts(
        """SELECT p.problem_id, p.benchmark, p.unique_id, p.problem, p.answer, p.solution, p.subject, p.level, p.kind
           FROM problems p WHERE p.problem_id IN (SELECT DISTINCT problem_id FROM samples WHERE run_id = ?)
           ORDER BY p.problem_id""",
        [run_id],
    )


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
