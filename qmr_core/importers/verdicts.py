"""Another tool's per-sample verdicts beside qmr's regrade: stored on import, read back as agreement tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qmr_core.store import Store


@dataclass(frozen=True)
class ExternalVerdict:
    run_id: str
    problem_id: str
    sample_idx: int
    source: str
    metric: str
    value: Any
    extracted: str | None = None

    @property
    def correct(self) -> bool | None:
        """A right/wrong reading of the tool's value: 1/0, true/false, or Inspect's C/I letters."""
        v = self.value
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().upper() in ("C", "I"):
            return v.strip().upper() == "C"
        return None

    def as_row(self) -> dict:
        return {"run_id": self.run_id, "problem_id": self.problem_id, "sample_idx": self.sample_idx,
                "source": self.source, "metric": self.metric, "correct": self.correct,
                "value": None if self.value is None else str(self.value),
                "extracted": None if self.extracted is None else str(self.extracted)[:2000]}


def write_external_verdicts(store: Store, verdicts: list[ExternalVerdict]) -> None:
    if verdicts:
        store.upsert("external_verdicts", [v.as_row() for v in verdicts])


@dataclass(frozen=True)
class Agreement:
    run_id: str
    source: str
    metric: str
    n: int
    tool_right: int
    qmr_right: int
    disagree: int


def agreement(store: Store, run_ids: list[str] | None = None) -> list[Agreement]:
    """Per (run, tool metric): samples with a right/wrong verdict from both, and how often they disagree."""
    rows = store.query(
        """SELECT e.run_id, e.source, e.metric, count(*), count(*) FILTER (WHERE e.correct),
                  count(*) FILTER (WHERE s.correct), count(*) FILTER (WHERE e.correct <> s.correct)
           FROM external_verdicts e JOIN samples s USING (run_id, problem_id, sample_idx)
           WHERE e.correct IS NOT NULL AND (? OR e.run_id IN (SELECT unnest(?)))
           GROUP BY ALL ORDER BY ALL""",
        [run_ids is None, run_ids or []],
    )
    return [Agreement(*r) for r in rows]


def disagreements(store: Store, run_id: str, metric: str | None = None) -> list[dict]:
    """The samples where the tool and qmr disagree: problem, both verdicts, both extracted answers."""
    return store.query_dicts(
        """SELECT e.problem_id, e.sample_idx, e.source, e.metric, e.correct AS tool_correct, e.extracted AS tool_answer,
                  s.correct AS qmr_correct, s.extracted_answer AS qmr_answer, s.grade_rule
           FROM external_verdicts e JOIN samples s USING (run_id, problem_id, sample_idx)
           WHERE e.run_id = ? AND e.correct IS NOT NULL AND e.correct <> s.correct AND (? IS NULL OR e.metric = ?)
           ORDER BY e.problem_id, e.sample_idx, e.metric""",
        [run_id, metric, metric],
    )
