"""ProcessBench-style evaluation of step location: which step is the first wrong one, or none.

A row has ``problem``, ``steps`` (list of strings) and ``label`` (0-based index of the earliest
wrong step, -1 when every step is right). ProcessBench's metric: accuracy on the erroneous rows
(prediction == label), accuracy on the correct rows (prediction == -1), and their harmonic mean
(F1). For the symbolic checker alone we also report the precision of its earliest-error flags:
a flag at step s is right when s == label and wrong otherwise. A flag after the label counts as
wrong: the checker's earliest flag is offered as the first faulty step, and there it is wrong even
when that later step is faulty too (``late`` counts those, within ``wrong``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qmr_core.diagnose.judge import Judge, JudgeCase, majority_vote
from qmr_core.diagnose.step_checker import check_steps
from qmr_core.errors import QmrError


@dataclass(frozen=True)
class PBItem:
    id: str
    problem: str
    steps: list[str]
    label: int


def load_processbench(path: str | Path, limit: int | None = None) -> list[PBItem]:
    path = Path(path)
    if not path.is_file():
        raise QmrError(f"no ProcessBench file at {path}")
    items: list[PBItem] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                steps = row["steps"]
                label = int(row["label"])
                if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
                    raise ValueError("steps must be a list of strings")
                if not -1 <= label < len(steps):
                    raise ValueError(f"label {label} outside -1..{len(steps) - 1}")
                items.append(PBItem(str(row.get("id", line_no)), str(row["problem"]), steps, label))
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
                raise QmrError(f"{path}:{line_no}: not a ProcessBench row ({exc})") from None
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise QmrError(f"{path} has no rows")
    return items


@dataclass(frozen=True)
class PBMetrics:
    n_error: int
    n_correct: int
    acc_error: float | None
    acc_correct: float | None
    f1: float | None
    n_unparsed: int = 0


def processbench_metrics(labels: Sequence[int], preds: Sequence[int | None], n_unparsed: int = 0) -> PBMetrics:
    """``preds``: predicted earliest wrong step or -1; None (no usable prediction) counts as wrong."""
    err = [(l, p) for l, p in zip(labels, preds, strict=True) if l != -1]
    cor = [(l, p) for l, p in zip(labels, preds, strict=True) if l == -1]
    acc_e = sum(p == l for l, p in err) / len(err) if err else None
    acc_c = sum(p == -1 for _l, p in cor) / len(cor) if cor else None
    f1 = None
    if acc_e is not None and acc_c is not None:
        f1 = 0.0 if acc_e + acc_c == 0 else 2 * acc_e * acc_c / (acc_e + acc_c)
    return PBMetrics(len(err), len(cor), acc_e, acc_c, f1, n_unparsed)


@dataclass(frozen=True)
class FlagPrecision:
    right: int
    wrong: int  # early flags, flags on correct rows, and late flags
    late: int = 0  # flags after the label (counted in ``wrong``)

    @property
    def early_or_spurious(self) -> int:
        return self.wrong - self.late

    @property
    def precision(self) -> float | None:
        total = self.right + self.wrong
        return self.right / total if total else None

    @property
    def not_counted(self) -> int:
        """Kept for callers of the old metric: every flag is counted now."""
        return 0


def flag_precision(labels: Sequence[int], flags: Sequence[int | None]) -> FlagPrecision:
    """Precision of the earliest flags as first-error locators (None or -1: no flag)."""
    right = wrong = late = 0
    for label, flag in zip(labels, flags, strict=True):
        if flag is None or flag == -1:
            continue
        if flag == label:
            right += 1
        else:
            wrong += 1
            late += label != -1 and flag > label
    return FlagPrecision(right, wrong, late)


def symbolic_predictions(items: Sequence[PBItem]) -> list[int | None]:
    """The symbolic checker's earliest flag per row (None: no flag)."""
    return [check_steps(it.steps, it.problem).first_error_step for it in items]


def judge_predictions(judge: Judge, items: Sequence[PBItem], batch_size: int = 4, on_batch=None) -> tuple[list[int | None], int]:
    """An LLM judge's predictions (-1 = no error; None = unparsed) and the number unparsed."""
    cases = [JudgeCase(problem=it.problem, steps=it.steps, known_wrong=False) for it in items]
    preds: list[int | None] = []
    unparsed = 0
    for _raw, verdict, _ms in judge.judge(cases, batch_size=batch_size, on_batch=on_batch):
        if not verdict.parsed:
            unparsed += 1
            preds.append(None)
        else:
            preds.append(-1 if verdict.first_error_step is None else verdict.first_error_step)
    return preds, unparsed


def combine_predictions(symbolic: Sequence[int | None] | None, judges: Sequence[Sequence[int | None]]) -> list[int | None]:
    """The pipeline's step location: a symbolic flag first (checked), else the judges' majority."""
    from qmr_core.diagnose.judge import JudgeVerdict

    n = len(symbolic) if symbolic is not None else len(judges[0])
    out: list[int | None] = []
    for k in range(n):
        if symbolic is not None and symbolic[k] is not None:
            out.append(symbolic[k])
            continue
        verdicts = [
            JudgeVerdict(True, None, None if p[k] == -1 else p[k], None, None) for p in judges if p[k] is not None
        ]
        m = majority_vote(verdicts)
        if m is None:
            out.append(-1 if not judges else None)
        else:
            out.append(-1 if m.first_error_step is None else m.first_error_step)
    return out
