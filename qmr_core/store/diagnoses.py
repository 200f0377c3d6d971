"""Reads and writes of `qmr diagnose`: failing samples, `diagnoses`, `symbolic_flags`, `judge_votes`, `flips`.

Reads return the frozen records of store/records.py; `diagnoses`, `symbolic_flags` and `flips` rows are written
as dicts built by qmr_core/diagnose/, where the diagnosis itself lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from qmr_core.store.records import BaseSample, FailingSample, JudgeVote, StoredVerdict
from qmr_core.store.store import Store, upsert_rows

SampleKey = tuple[str, int]  # (problem_id, sample_idx) within one run


def failing_samples(store: Store, run_id: str) -> list[FailingSample]:
    """The run's wrong samples with their problem (text, gold answer, reference solution) and steps, in order."""
    rows = store.query_dicts(
        """SELECT s.problem_id, s.sample_idx, p.problem, p.answer, p.solution, s.output, s.prompt,
                  s.extracted_answer, s.extract_method, s.finish_reason
           FROM samples s JOIN problems p USING (problem_id)
           WHERE s.run_id = ? AND NOT s.correct ORDER BY s.problem_id, s.sample_idx""",
        [run_id],
    )
    steps = step_spans(store, run_id)
    out = []
    for r in rows:
        spans = steps.get((r["problem_id"], r["sample_idx"]), [])
        out.append(FailingSample(run_id=run_id, **r, steps=[t for t, _s, _e in spans],
                                 spans=[(start, end) for _t, start, end in spans]))
    return out


def step_spans(store: Store, run_id: str) -> dict[SampleKey, list[tuple[str, int, int]]]:
    """Every step of a run in one query: (problem, sample) -> [(text, start, end)] in order."""
    out: dict[SampleKey, list[tuple[str, int, int]]] = {}
    for pid, idx, text, start, end in store.query(
        "SELECT problem_id, sample_idx, text, span_start, span_end FROM steps WHERE run_id = ? ORDER BY problem_id, sample_idx, step_idx",
        [run_id],
    ):
        out.setdefault((pid, idx), []).append((text, start, end))
    return out


def samples_of(store: Store, run_id: str, problem_ids: Sequence[str]) -> dict[SampleKey, BaseSample]:
    """(problem, sample) -> prompt, output, correct, finish reason and extracted answer, for these problems."""
    rows = store.query_dicts(
        """SELECT problem_id, sample_idx, prompt, output, correct, finish_reason, extracted_answer FROM samples
           WHERE run_id = ? AND problem_id IN (SELECT unnest(?))""",
        [run_id, list(problem_ids)],
    )
    return {(r["problem_id"], r["sample_idx"]): BaseSample(**r) for r in rows}


def run_model_id(store: Store, run_id: str) -> str:
    return store.query("SELECT model_id FROM runs WHERE run_id = ?", [run_id])[0][0]


def run_benchmark(store: Store, run_id: str, default: str = "math") -> str:
    return (store.query("SELECT benchmark FROM runs WHERE run_id = ?", [run_id]) or [(default,)])[0][0]


def first_flip_steps(store: Store, base_run_id: str, quant_run_id: str) -> dict[SampleKey, int | None]:
    """(problem, sample) -> the teacher-forced first flip step, for every stored `flips` row of the pair."""
    return {(r[0], r[1]): r[2] for r in store.query(
        "SELECT problem_id, sample_idx, first_flip_step FROM flips WHERE base_run_id = ? AND quant_run_id = ?",
        [base_run_id, quant_run_id])}


def write_flips(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    store.upsert("flips", rows)


def stored_votes(store: Store, run_id: str, judge: str, protocol_json: str) -> list[JudgeVote]:
    """Every `judge_votes` row of one judge under one protocol for a run."""
    return [JudgeVote(**r) for r in store.query_dicts(
        "SELECT * FROM judge_votes WHERE run_id = ? AND judge = ? AND protocol_json = ?", [run_id, judge, protocol_json])]


def write_votes(store: Store, votes: Sequence[JudgeVote]) -> None:
    """New votes get the store's creation time; votes written again (re-read from their raw output) keep theirs."""
    for fresh in (True, False):
        store.upsert("judge_votes", [v.row() for v in votes if (v.created_at is None) == fresh])


def replace_diagnoses(store: Store, run_id: str, judges: Sequence[str], keys: Sequence[SampleKey],
                      diagnoses: Sequence[dict[str, Any]], flags: Sequence[dict[str, Any]] | None) -> None:
    """In one transaction: drop the run's `diagnoses` of ``judges`` on ``keys`` (and, when ``flags`` is
    given, its `symbolic_flags` there), then store ``diagnoses`` and ``flags``."""
    with store.transaction() as con:
        con.register("_qmr_diag_keys", pa.Table.from_pylist([{"problem_id": p, "sample_idx": i} for p, i in keys]))
        try:
            con.execute(
                """DELETE FROM diagnoses WHERE run_id = ? AND judge IN (SELECT unnest(?))
                   AND (problem_id, sample_idx) IN (SELECT (problem_id, sample_idx) FROM _qmr_diag_keys)""",
                [run_id, list(judges)],
            )
            if flags is not None:
                con.execute(
                    """DELETE FROM symbolic_flags WHERE run_id = ?
                       AND (problem_id, sample_idx) IN (SELECT (problem_id, sample_idx) FROM _qmr_diag_keys)""",
                    [run_id],
                )
        finally:
            con.unregister("_qmr_diag_keys")
        upsert_rows(con, "symbolic_flags", flags or [])
        upsert_rows(con, "diagnoses", diagnoses)


def judge_verdicts(store: Store, run_ids: Sequence[str]) -> list[StoredVerdict]:
    """Every diagnosis of these runs: which judge located which step, with which type."""
    return [StoredVerdict(*r) for r in store.query(
        """SELECT run_id, problem_id, sample_idx, judge, first_error_step, error_type FROM diagnoses
           WHERE run_id IN (SELECT unnest(?))""",
        [list(run_ids)],
    )]
