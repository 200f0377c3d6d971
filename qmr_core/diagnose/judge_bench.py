"""`qmr judge-bench` for LLM judges: ProcessBench's protocol, Pass@1 and Maj@K, per split.

Each row's problem and paragraphs go to the judge (protocol v2, not told whether the final answer
is right); the prediction is the earliest wrong paragraph or -1. With K samples per judge:

- Pass@1: the ProcessBench metrics (accuracy on erroneous rows, on correct rows, harmonic-mean F1)
  of each sample's predictions, averaged over the K samples;
- Maj@K: the metrics of the per-row majority of the K predictions (-1 is a vote; ties go to the
  earliest step, -1 last; unparsed votes do not vote, and a row with none counts as wrong).

The scoring itself is processbench.processbench_metrics. The published figures to place a judge
beside (F1, %): GPT-4o 63.6 and o1-mini 88.9 on the MATH split; GenPRM-7B 75.2 (Pass@1) and 80.5
(Maj@8) averaged over the four splits.
"""

from __future__ import annotations

from typing import Any

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from qmr_core.diagnose.judge import Judge, JudgeCase
from qmr_core.diagnose.processbench import PBItem, processbench_metrics

PUBLISHED = ("published F1 (%): GPT-4o 63.6, o1-mini 88.9 on MATH; "
             "GenPRM-7B 75.2 Pass@1, 80.5 Maj@8 averaged over gsm8k, math, olympiadbench, omnimath")


def split_name(path: Path) -> str:
    """processbench_gsm8k.jsonl -> gsm8k; any other name is kept as its stem."""
    stem = path.stem
    return stem.removeprefix("processbench_").removeprefix("processbench-") or stem


def balanced(items: Sequence[PBItem], n: int) -> list[PBItem]:
    """The first ceil(n/2) erroneous and first floor(n/2) correct rows, in file order (a quick run
    on a file sorted by label still measures both accuracies)."""
    err = [it for it in items if it.label != -1][: (n + 1) // 2]
    cor = [it for it in items if it.label == -1][: n // 2]
    keep = {id(it) for it in err + cor}
    return [it for it in items if id(it) in keep]


def majority_prediction(preds: Sequence[int | None]) -> int | None:
    votes = Counter(p for p in preds if p is not None)
    if not votes:
        return None
    top = max(votes.values())
    tied = [p for p, c in votes.items() if c == top]
    return min(tied, key=lambda p: (p == -1, p))


def _metrics(labels: Sequence[int], preds: Sequence[int | None]) -> dict:
    m = processbench_metrics(labels, preds, sum(p is None for p in preds))
    return {"acc_error": m.acc_error, "acc_correct": m.acc_correct, "f1": m.f1, "n_error": m.n_error,
            "n_correct": m.n_correct, "n_unparsed": m.n_unparsed}


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if len(vals) == len(values) and vals else None


def llm_bench(judge: Judge, items: Sequence[PBItem], batch_size: int = 4,
              on_batch: Callable[[int], None] | None = None) -> tuple[dict, list[int | None]]:
    """(metrics, the Maj@K prediction per row). Top-level metrics are Pass@1; ``maj`` holds Maj@K."""
    cases = [JudgeCase(problem=it.problem, steps=it.steps, known_wrong=False) for it in items]
    votes = judge.judge_samples(cases, batch_size, on_batch)
    labels = [it.label for it in items]
    k = judge.settings.samples
    per_sample = []
    for i in range(k):
        preds = [None if not v[i][1].parsed else (-1 if v[i][1].first_error_step is None else v[i][1].first_error_step)
                 for v in votes]
        per_sample.append(_metrics(labels, preds))
    majority = [majority_prediction([None if not vv.parsed else (-1 if vv.first_error_step is None else vv.first_error_step)
                                     for _raw, vv, _ms in v]) for v in votes]
    out: dict[str, Any] = {key: _mean([m[key] for m in per_sample]) for key in ("acc_error", "acc_correct", "f1")}
    out.update(n_error=per_sample[0]["n_error"], n_correct=per_sample[0]["n_correct"], k=k,
               n_unparsed=sum(m["n_unparsed"] for m in per_sample), n_votes=k * len(items),
               constrained=judge.constrained, maj=_metrics(labels, majority))
    return out, majority


def pipeline_predictions(symbolic: Sequence[int | None] | None, llm: Sequence[Sequence[int | None]]) -> list[int | None]:
    """The diagnose combine rule on ProcessBench rows: the earliest step any locator puts forward
    (a symbolic flag, or a judge's Maj@K prediction), else -1 when a locator answered, else None."""
    n = len(symbolic) if symbolic is not None else len(llm[0])
    out: list[int | None] = []
    for r in range(n):
        located = [x for p in llm if (x := p[r]) is not None and x != -1]
        if symbolic is not None and (sym := symbolic[r]) is not None:
            located.append(sym)
        answered = symbolic is not None or any(p[r] is not None for p in llm)
        out.append(min(located) if located else (-1 if answered else None))
    return out
