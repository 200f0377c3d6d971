"""Reading one stored sample whole, as `qmr show` prints it."""

from __future__ import annotations

from qmr_core.errors import QmrError
from qmr_core.store.records import SampleDetail
from qmr_core.store.store import Store


def find_problem(store: Store, run_id: str, sample_idx: int, problem_id: str) -> str:
    """The problem id of the run's sample that `problem_id` names exactly or as a unique suffix."""
    matches = [r[0] for r in store.query(
        "SELECT problem_id FROM samples WHERE run_id = ? AND sample_idx = ? AND (problem_id = ? OR problem_id LIKE ?)",
        [run_id, sample_idx, problem_id, "%" + problem_id],
    )]
    if not matches:
        raise QmrError(f"run {run_id} has no sample {sample_idx} for problem '{problem_id}'")
    if problem_id in matches:
        return problem_id
    if len(matches) > 1:
        raise QmrError(f"problem '{problem_id}' is ambiguous: {', '.join(matches[:5])}")
    return matches[0]


def sample_detail(store: Store, run_id: str, problem_id: str, sample_idx: int = 0) -> SampleDetail:
    """The sample with its problem, gold answer, verdict and steps."""
    with store.connect(read_only=True) as con:
        rows = con.execute(
            """SELECT p.problem, p.answer, p.subject, p.level, s.extracted_answer, s.extract_method, s.correct,
                      s.grade_rule, s.grader_version, s.n_steps, s.step_format, s.n_tokens, s.finish_reason,
                      s.latency_ms
               FROM samples s JOIN problems p USING (problem_id)
               WHERE s.run_id = ? AND s.problem_id = ? AND s.sample_idx = ?""",
            [run_id, problem_id, sample_idx],
        ).fetchall()
        if not rows:
            raise QmrError(f"run {run_id} has no sample {sample_idx} for problem '{problem_id}'")
        steps = con.execute(
            "SELECT step_idx, text FROM steps WHERE run_id = ? AND problem_id = ? AND sample_idx = ? ORDER BY step_idx",
            [run_id, problem_id, sample_idx],
        ).fetchall()
    return SampleDetail(problem_id, tuple((int(i), text) for i, text in steps), *rows[0])
