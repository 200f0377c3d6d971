"""Read-side queries shared by the CLI, reports and the TUI."""

from __future__ import annotations

from typing import Any

from qmr_core.store.store import Store

RUN_SUMMARY_SQL = """
SELECT r.run_id, r.model_id, m.name AS model, coalesce(m.method, 'none') AS method, m.bits, m.group_size,
       m.act_bits, r.benchmark, r.prompt_template, r.engine, r.status, r.created_at, r.finished_at,
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


def short_quant_label(method: str | None, bits: int | None, group_size: int | None, act_bits: int | None) -> str:
    """'fp', 'rtn w4g64', 'smoothquant w8a8', 'gptq w4gch': fits a narrow column."""
    method = method or "none"
    if method == "none":
        return "fp"
    group = "" if not group_size else ("gch" if group_size == -1 else f"g{group_size}")
    act = f"a{act_bits}" if act_bits else ""
    return f"{method} w{bits}{act}{group}" if bits else method


def quant_label(row: dict[str, Any]) -> str:
    """'fp' for full precision, else e.g. 'rtn w4 g64' / 'smoothquant w8a8'."""
    method = row.get("method") or "none"
    if method == "none":
        return "full precision"
    parts = [method, f"w{row['bits']}" + (f"a{row['act_bits']}" if row.get("act_bits") else "")]
    group = row.get("group_size")
    if group:
        parts.append("per-channel" if group == -1 else f"g{group}")
    return " ".join(parts)


def run_problems(store: Store, run_id: str) -> list:
    """The problems a run has samples for, as benchmark Problems, in problem-id order."""
    from qmr_core.benchmarks import Problem

    rows = store.query_dicts(
        """SELECT p.problem_id, p.benchmark, p.unique_id, p.problem, p.answer, p.solution, p.subject, p.level, p.kind
           FROM problems p WHERE p.problem_id IN (SELECT DISTINCT problem_id FROM samples WHERE run_id = ?)
           ORDER BY p.problem_id""",
        [run_id],
    )
    return [Problem(**{**r, "solution": r["solution"] or "", "subject": r["subject"] or ""}) for r in rows]
