"""Reading one problem of a comparison: the problem, each side's sample, steps, diagnoses and flags,
and the markers later stages stored for the pair (`pairs`, `flips`, `step_alignments`, `divergence`).

Each read takes an open read-only connection, so the trace view makes all of them in one short open.
Every table here is created by a migration, and a read-only open refuses a store that lacks one
(it says to run `qmr migrate`), so no read needs to check that its table exists.
"""

from __future__ import annotations

import duckdb

from qmr_core.store.records import DivergenceRow, Diagnosis, Flip, PairMarker, ProblemText, SampleVerdict, SymbolicFlag


def _one(cur: duckdb.DuckDBPyConnection) -> tuple | None:
    """First row, with the result fully consumed (DuckDB 2 refuses new work while a result is open)."""
    rows = cur.fetchall()
    return rows[0] if rows else None


def problem_text(con: duckdb.DuckDBPyConnection, problem_id: str) -> ProblemText | None:
    row = _one(con.execute("SELECT subject, level, problem, answer FROM problems WHERE problem_id = ?", [problem_id]))
    return ProblemText(problem_id, *row) if row else None


def sample_verdict(con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, sample_idx: int = 0) -> SampleVerdict | None:
    row = _one(con.execute(
        """SELECT extracted_answer, correct, finish_reason, n_tokens FROM samples
           WHERE run_id = ? AND problem_id = ? AND sample_idx = ?""",
        [run_id, problem_id, sample_idx],
    ))
    return SampleVerdict(row[0], bool(row[1]), row[2], row[3]) if row else None


def step_texts(con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, sample_idx: int = 0) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT text FROM steps WHERE run_id = ? AND problem_id = ? AND sample_idx = ? ORDER BY step_idx",
        [run_id, problem_id, sample_idx],
    ).fetchall()]


def step_spans(con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, sample_idx: int) -> list[tuple[int, int]]:
    """Each step's character range in the sample's output."""
    return [(r[0], r[1]) for r in con.execute(
        """SELECT span_start, span_end FROM steps WHERE run_id = ? AND problem_id = ? AND sample_idx = ?
           ORDER BY step_idx""", [run_id, problem_id, sample_idx]).fetchall()]


def output_length(con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, sample_idx: int) -> int:
    row = _one(con.execute("SELECT length(output) FROM samples WHERE run_id = ? AND problem_id = ? AND sample_idx = ?",
                           [run_id, problem_id, sample_idx]))
    return int(row[0] or 0) if row else 0


def sample_diagnoses(con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, sample_idx: int = 0) -> list[Diagnosis]:
    """Every judge's diagnosis of the sample, by judge name."""
    return [Diagnosis(*r) for r in con.execute(
        """SELECT judge, first_error_step, error_type, capability, rationale FROM diagnoses
           WHERE run_id = ? AND problem_id = ? AND sample_idx = ? ORDER BY judge""",
        [run_id, problem_id, sample_idx],
    ).fetchall()]


def symbolic_flags(con: duckdb.DuckDBPyConnection, run_id: str, problem_id: str, sample_idx: int = 0) -> list[SymbolicFlag]:
    return [SymbolicFlag(int(step), claim, true) for step, claim, true in con.execute(
        """SELECT step_idx, claim, true_value FROM symbolic_flags
           WHERE run_id = ? AND problem_id = ? AND sample_idx = ? ORDER BY step_idx, claim_idx""",
        [run_id, problem_id, sample_idx],
    ).fetchall()]


def pair_marker(con: duckdb.DuckDBPyConnection, base_run_id: str, quant_run_id: str, problem_id: str) -> PairMarker | None:
    row = _one(con.execute(
        "SELECT first_divergent_step, similarity FROM pairs WHERE base_run_id = ? AND quant_run_id = ? AND problem_id = ?",
        [base_run_id, quant_run_id, problem_id],
    ))
    return PairMarker(*row) if row else None


def teacher_forced_flip(con: duckdb.DuckDBPyConnection, base_run_id: str, quant_run_id: str, problem_id: str) -> Flip | None:
    row = _one(con.execute(
        """SELECT first_flip_step, base_token, quant_token, flip_margin, n_flips, n_tokens FROM flips
           WHERE base_run_id = ? AND quant_run_id = ? AND problem_id = ? AND sample_idx = 0""",
        [base_run_id, quant_run_id, problem_id],
    ))
    return Flip(*row) if row else None


def divergence_row(con: duckdb.DuckDBPyConnection, base_run_id: str, quant_run_id: str, problem_id: str,
                   sample_idx: int = 0) -> DivergenceRow | None:
    row = _one(con.execute(
        """SELECT base_sample_idx, kl_tokens, fp_offsets, surprisal_tokens, q_offsets, kl_mean, surprisal_mean,
                  first_unlikely_step, first_unlikely_text, unlikely_nats
           FROM divergence WHERE base_run_id = ? AND quant_run_id = ? AND problem_id = ? AND sample_idx = ?""",
        [base_run_id, quant_run_id, problem_id, sample_idx]))
    return DivergenceRow(*row) if row else None
