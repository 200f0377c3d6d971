"""The report's reads: per-problem scores, per-sample-index accuracy, output format, diagnoses, flips.

Each takes the run ids the report covers and returns records; report/paper.py turns them into tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from qmr_core.store.records import (
    FlipStats, FormatStats, PairOutcomeCount, ProblemScore, ReportDiagnosis, SampleIndexAccuracy,
)
from qmr_core.store.store import Store


def problem_scores(store: Store, run_ids: Sequence[str]) -> list[ProblemScore]:
    """Per run and problem: the share of its samples right, samples, subject or '-', level."""
    return [ProblemScore(*r) for r in store.query(
        """SELECT s.run_id, s.problem_id, avg(CASE WHEN s.correct THEN 1.0 ELSE 0.0 END) AS score, count(*) AS n_samples,
                  coalesce(nullif(p.subject, ''), '-') AS subject, p.level
           FROM samples s LEFT JOIN problems p USING (problem_id)
           WHERE s.run_id IN (SELECT unnest(?)) GROUP BY ALL""",
        [list(run_ids)],
    )]


def sample_index_accuracy(store: Store, run_ids: Sequence[str]) -> list[SampleIndexAccuracy]:
    """Accuracy over problems per run and sample index, ordered by run and index: the spread over seeds."""
    return [SampleIndexAccuracy(*r) for r in store.query(
        """SELECT run_id, sample_idx, avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS accuracy FROM samples
           WHERE run_id IN (SELECT unnest(?)) GROUP BY ALL ORDER BY 1, 2""",
        [list(run_ids)],
    )]


def samples_per_problem(store: Store, run_ids: Sequence[str]) -> dict[str, int]:
    """run -> K, the highest sample index + 1."""
    return dict(store.query(
        "SELECT run_id, max(sample_idx) + 1 FROM samples WHERE run_id IN (SELECT unnest(?)) GROUP BY 1", [list(run_ids)]
    ))


def pair_outcome_counts(store: Store) -> list[PairOutcomeCount]:
    """Problems per run pair and outcome, from what `qmr compare` stored."""
    return [PairOutcomeCount(*r) for r in store.query(
        "SELECT base_run_id, quant_run_id, outcome, count(*) AS n FROM pairs GROUP BY ALL")]


def format_stats(store: Store, run_ids: Sequence[str]) -> dict[str, FormatStats]:
    """run -> samples, tagged share, no-answer share, truncated share among known finishes, mean tokens, mean steps."""
    return {
        r[0]: FormatStats(*r)
        for r in store.query(
            """SELECT run_id, count(*) AS n_samples,
                      avg(CASE WHEN step_format = 'tagged' THEN 1.0 ELSE 0.0 END) AS tagged_rate,
                      avg(CASE WHEN extracted_answer IS NULL THEN 1.0 ELSE 0.0 END) AS no_answer_rate,
                      avg(CASE WHEN finish_reason = 'length' THEN 1.0 WHEN finish_reason IS NULL OR finish_reason = 'unknown' THEN NULL ELSE 0.0 END) AS truncation_rate,
                      avg(n_tokens) AS mean_tokens, avg(n_steps) AS mean_steps
               FROM samples WHERE run_id IN (SELECT unnest(?)) GROUP BY 1""",
            [list(run_ids)],
        )
    }


def diagnosis_rows(store: Store, run_ids: Sequence[str], judge: str | None) -> list[ReportDiagnosis]:
    """Every diagnosis of the runs (one judge's when given), with its located step and error type."""
    return [ReportDiagnosis(**r) for r in store.query_dicts(
        f"""SELECT run_id, problem_id, sample_idx, judge, first_error_step, error_type, capability
            FROM diagnoses WHERE run_id IN (SELECT unnest(?)) {"AND judge = ?" if judge else ""}""",
        [list(run_ids)] + ([judge] if judge else []),
    )]


def step_counts(store: Store, run_ids: Sequence[str]) -> dict[tuple[str, str, int], int]:
    """(run, problem, sample) -> steps in its trace."""
    return {
        (r, p, s): n
        for r, p, s, n in store.query(
            "SELECT run_id, problem_id, sample_idx, n_steps FROM samples WHERE run_id IN (SELECT unnest(?))",
            [list(run_ids)],
        )
    }


def flip_stats(store: Store, quant_run_ids: Sequence[str]) -> dict[str, FlipStats]:
    """quantized run -> teacher-forced traces, share that diverge, mean relative flip step, mean logprob."""
    rows = store.query(
        """SELECT f.quant_run_id, count(*) AS n_traces,
                  avg(CASE WHEN f.first_flip_token IS NULL THEN 0.0 ELSE 1.0 END) AS diverge_rate,
                  avg((f.first_flip_step + 1.0) / nullif(s.n_steps, 0)) AS mean_flip_position,
                  avg(f.mean_logprob) AS mean_logprob
           FROM flips f LEFT JOIN samples s ON s.run_id = f.base_run_id AND s.problem_id = f.problem_id AND s.sample_idx = f.sample_idx
           WHERE f.quant_run_id IN (SELECT unnest(?)) GROUP BY 1""",
        [list(quant_run_ids)],
    )
    return {r[0]: FlipStats(*r) for r in rows}
