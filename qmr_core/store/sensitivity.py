"""Reads of `qmr sensitivity`: the traces it scores, and its `sensitivity_runs` / `sensitivity` tables."""

from __future__ import annotations

from qmr_core.store.records_restore import CorrectTrace, SensitivityCell, SensitivityRun, SensitivitySummary
from qmr_core.store.store import Store


def correct_trace_rows(store: Store, run_id: str, limit: int) -> list[CorrectTrace]:
    """The run's first `limit` correct samples that carry their prompt and an output."""
    rows = store.query(
        """SELECT problem_id, prompt, output FROM samples
           WHERE run_id = ? AND correct AND prompt IS NOT NULL AND length(output) > 0
           ORDER BY problem_id, sample_idx LIMIT ?""",
        [run_id, limit],
    )
    return [CorrectTrace(*r) for r in rows]


def richest_trace_run(store: Store, model_id: str) -> str | None:
    """The model's run with the most correct samples that carry their prompt (ties: lowest run id)."""
    row = store.query(
        """SELECT r.run_id FROM runs r JOIN samples s USING (run_id)
           WHERE r.model_id = ? AND s.correct AND s.prompt IS NOT NULL
           GROUP BY r.run_id ORDER BY count(*) DESC, r.run_id LIMIT 1""",
        [model_id],
    )
    return row[0][0] if row else None


def analysis_rows(store: Store, sens_id: str) -> list[SensitivityCell]:
    """Every stored `sensitivity` row (one configuration each) of an analysis."""
    return [SensitivityCell(**r) for r in store.query_dicts("SELECT * FROM sensitivity WHERE sens_id = ?", [sens_id])]


def analyses_by_prefix(store: Store, sens_id: str) -> list[SensitivityRun]:
    """The `sensitivity_runs` rows whose id is `sens_id` or starts with it."""
    return [SensitivityRun(**r) for r in store.query_dicts(
        "SELECT * FROM sensitivity_runs WHERE sens_id = ? OR sens_id LIKE ? || '%'", [sens_id, sens_id])]


def analysis_progress(store: Store, sens_id: str) -> SensitivityRun | None:
    """The stored analysis (its baseline accuracy, seconds spent, ...), or None when it is new."""
    rows = store.query_dicts("SELECT * FROM sensitivity_runs WHERE sens_id = ?", [sens_id])
    return SensitivityRun(**rows[0]) if rows else None


def analysis_summaries(store: Store) -> list[SensitivitySummary]:
    """Every analysis with its configuration count and largest delta NLL, oldest first."""
    return [SensitivitySummary(**r) for r in store.query_dicts(
        """SELECT a.sens_id, a.model_id, a.method, a.bits, a.group_size, a.n_traces, a.n_tokens, a.baseline_nll,
                  count(s.layer) AS n_configs, max(s.delta_nll) AS max_delta_nll, a.created_at
           FROM sensitivity_runs a LEFT JOIN sensitivity s USING (sens_id)
           GROUP BY ALL ORDER BY a.created_at"""
    )]
