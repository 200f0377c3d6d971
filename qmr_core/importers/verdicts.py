"""Another tool's per-sample verdicts beside qmr's regrade: stored on import, read back as agreement tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qmr_core.store import Store
from qmr_core.store.imports import verdict_agreement, verdict_disagreements
from qmr_core.store.imports import write_external_verdicts as write_verdict_rows
from qmr_core.store.records import VerdictAgreement, VerdictDisagreement


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
    write_verdict_rows(store, [v.as_row() for v in verdicts])


def agreement(store: Store, run_ids: list[str] | None = None) -> list[VerdictAgreement]:
    """Per (run, tool metric): samples with a right/wrong verdict from both, and how often they disagree."""
    return verdict_agreement(store, run_ids)


def disagreements(store: Store, run_id: str, metric: str | None = None) -> list[VerdictDisagreement]:
    """The samples where the tool and qmr disagree: problem, both verdicts, both extracted answers."""
    return verdict_disagreements(store, run_id, metric)
