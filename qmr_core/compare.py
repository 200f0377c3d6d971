"""Pair a full-precision run with a quantized run problem by problem, and align their steps.

Pairing joins the two runs' samples on problem_id. With one greedy sample per problem a
problem's outcome is plain: ``lost`` (base right, quantized wrong), ``gained``, ``both_right``,
``both_wrong``. In sampling mode (several samples per problem) each run's per-problem score is
the fraction of its samples that are right (pass@1 averaged, as `qmr runs` reports accuracy), a
problem counts as right for a run when the majority of its samples are (score > 0.5), and the
outcome compares those majorities. Step alignment and teacher forcing use sample 0 of each run.

Relative degradation, the number papers quote, is (acc_base - acc_quant) / acc_base. The summary
also gives McNemar's exact test on the discordant pairs (lost vs gained) and a paired bootstrap
95% interval for the absolute drop, so a table can say whether a drop is more than noise.

Step alignment compares the steps of the two traces by their normalized words and the numbers
they state, aligns them with a Needleman-Wunsch dynamic program (gaps cost nothing; a pair is
worth its similarity minus a floor), and reports, per problem, the first quantized step that
differs from the base trace and a similarity per aligned step pair.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from qmr_core.comparability import comparability
from qmr_core.errors import QmrError
from qmr_core.store import Store, upsert_rows

OUTCOMES = ("lost", "gained", "both_right", "both_wrong")
MATCH_FLOOR = 0.35  # step pairs less similar than this are left unaligned
SAME_TEXT = 0.75  # aligned steps with equal numbers and this much word overlap say "the same thing"
MAX_ALIGN_STEPS = 400
BOOTSTRAP = 2000


# -- step alignment ---------------------------------------------------------------------------

_STEP_TAG = re.compile(r"(?i)^\W*step\s*\d+\s*[:.)\-]\s*")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?|(?<![\w.])-?\.\d+")
_WORD = re.compile(r"[a-z]+")  # words only: numbers are compared separately


@dataclass(frozen=True)
class StepSignature:
    words: Counter
    numbers: Counter


def _canonical_number(text: str) -> str:
    try:
        return str(Fraction(text.replace(",", "")))
    except (ValueError, ZeroDivisionError):
        return text


def step_signature(text: str) -> StepSignature:
    body = _STEP_TAG.sub("", text.strip()).lower()
    body = re.sub(r"\\[a-z]+", " ", body)  # LaTeX commands carry no content of their own here
    numbers = Counter(_canonical_number(m.group(0)) for m in _NUMBER.finditer(body))
    return StepSignature(Counter(_WORD.findall(body)), numbers)


def _dice(a: Counter, b: Counter) -> float:
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 1.0


@dataclass(frozen=True)
class StepPair:
    pos: int
    base_idx: int | None
    quant_idx: int | None
    similarity: float | None
    text_similarity: float | None
    numbers_equal: bool | None

    @property
    def same(self) -> bool:
        return (
            self.base_idx is not None and self.quant_idx is not None and bool(self.numbers_equal)
            and (self.text_similarity or 0.0) >= SAME_TEXT
        )


def step_similarity(a: StepSignature, b: StepSignature) -> tuple[float, float, bool]:
    """(similarity, word similarity, numbers equal); numbers weigh half when either step has any."""
    text = _dice(a.words, b.words)
    if not a.numbers and not b.numbers:
        return text, text, True
    return 0.5 * text + 0.5 * _dice(a.numbers, b.numbers), text, a.numbers == b.numbers


@dataclass
class Alignment:
    pairs: list[StepPair]
    first_divergent: int | None  # quantized step index; len(quant) when it stops where the base goes on
    similarity: float | None  # trace level: matched similarity / the longer trace's step count


def align_steps(base: Sequence[str], quant: Sequence[str]) -> Alignment:
    base, quant = list(base[:MAX_ALIGN_STEPS]), list(quant[:MAX_ALIGN_STEPS])
    n, m = len(base), len(quant)
    if n == 0 and m == 0:
        return Alignment([], None, None)
    sig_b = [step_signature(t) for t in base]
    sig_q = [step_signature(t) for t in quant]
    cache: dict[tuple[str, str], tuple[float, float, bool]] = {}

    def sim(i: int, j: int) -> tuple[float, float, bool]:
        key = (base[i], quant[j])  # repetition loops repeat texts: compute each pair once
        if key not in cache:
            cache[key] = step_similarity(sig_b[i], sig_q[j])
        return cache[key]

    score = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            s = sim(i - 1, j - 1)[0] - MATCH_FLOOR
            score[i, j] = max(score[i - 1, j], score[i, j - 1], score[i - 1, j - 1] + s if s > 0 else -1.0)
    pairs_rev: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            s = sim(i - 1, j - 1)[0] - MATCH_FLOOR
            if s > 0 and math.isclose(score[i, j], score[i - 1, j - 1] + s):
                pairs_rev.append((i - 1, j - 1))
                i, j = i - 1, j - 1
                continue
        if i > 0 and (j == 0 or math.isclose(score[i, j], score[i - 1, j])):
            pairs_rev.append((i - 1, None))
            i -= 1
        else:
            pairs_rev.append((None, j - 1))
            j -= 1
    pairs: list[StepPair] = []
    matched_total = 0.0
    for pos, (bi, qj) in enumerate(reversed(pairs_rev)):
        if bi is not None and qj is not None:
            s, t, eq = sim(bi, qj)
            matched_total += s
            pairs.append(StepPair(pos, bi, qj, round(s, 4), round(t, 4), eq))
        else:
            pairs.append(StepPair(pos, bi, qj, None, None, None))
    first = None
    for k, p in enumerate(pairs):
        if p.same:
            continue
        if p.quant_idx is not None:
            first = p.quant_idx
        else:
            first = next((q.quant_idx for q in pairs[k + 1 :] if q.quant_idx is not None), m)
        break
    if first is None and n != m:
        first = m
    return Alignment(pairs, first, round(matched_total / max(n, m), 4))


# -- pairing ------------------------------------------------------------------------------------


class AccuracyDrop:
    """abs_drop and rel_drop for anything with acc_base and acc_quant."""

    acc_base: float
    acc_quant: float

    @property
    def abs_drop(self) -> float:
        return self.acc_base - self.acc_quant

    @property
    def rel_drop(self) -> float | None:
        return relative_degradation(self.acc_base, self.acc_quant)


@dataclass
class GroupStats(AccuracyDrop):
    key: str
    n: int
    acc_base: float
    acc_quant: float
    lost: int
    gained: int


@dataclass
class PairRow:
    problem_id: str
    subject: str | None
    level: int | None
    base_score: float
    quant_score: float
    n_samples: int
    outcome: str
    alignment: Alignment


@dataclass
class ComparisonSummary(AccuracyDrop):
    base_run_id: str
    quant_run_id: str
    base_model: str
    quant_model: str
    n: int
    n_base_only: int
    n_quant_only: int
    acc_base: float
    acc_quant: float
    counts: dict[str, int]
    mcnemar_p: float | None
    abs_drop_ci: tuple[float, float] | None
    mean_similarity: float | None
    by_subject: list[GroupStats]
    by_level: list[GroupStats]
    sampling: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pairs: list[PairRow] = field(default_factory=list, repr=False)

    @property
    def lost(self) -> list[str]:
        return [p.problem_id for p in self.pairs if p.outcome == "lost"]


def relative_degradation(acc_base: float, acc_quant: float) -> float | None:
    """(acc_base - acc_quant) / acc_base; None when the base solves nothing (undefined)."""
    if acc_base <= 0:
        return None
    return (acc_base - acc_quant) / acc_base


def outcome(base_right: bool, quant_right: bool) -> str:
    if base_right and quant_right:
        return "both_right"
    if base_right:
        return "lost"
    if quant_right:
        return "gained"
    return "both_wrong"


def mcnemar_exact(lost: int, gained: int) -> float | None:
    """Two-sided exact McNemar p-value (binomial on the discordant pairs); None without any."""
    k = lost + gained
    if k == 0:
        return None
    low = min(lost, gained)
    tail = sum(math.comb(k, i) for i in range(low + 1)) / 2**k
    return min(1.0, 2 * tail)


def bootstrap_ci(diffs: Sequence[float], n_boot: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float] | None:
    """Paired bootstrap 95% interval of the mean per-problem difference (fixed seed: reproducible)."""
    if len(diffs) < 2:
        return None
    arr = np.asarray(diffs, dtype=float)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(n_boot, len(arr)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _run_info(store: Store, run_id: str) -> dict:
    rows = store.query_dicts(
        """SELECT r.run_id, r.model_id, coalesce(m.name, r.model_id) AS model, m.base_model_id, r.benchmark,
                  r.prompt_text, r.decoding_json, r.engine
           FROM runs r LEFT JOIN models m USING (model_id) WHERE r.run_id = ?""",
        [run_id],
    )
    if not rows:
        raise QmrError(f"no run '{run_id}' in {store.path}")
    return rows[0]


def infer_base_run(store: Store, quant_run_id: str) -> str | None:
    """The run of the quantized model's base model with the same benchmark, prompt and decoding."""
    info = _run_info(store, quant_run_id)
    if not info["base_model_id"]:
        return None
    rows = store.query(
        """SELECT run_id FROM runs WHERE model_id = ? AND benchmark = ? AND prompt_text = ? AND decoding_json = ?
           ORDER BY created_at""",
        [info["base_model_id"], info["benchmark"], info["prompt_text"], info["decoding_json"]],
    )
    return rows[0][0] if len(rows) == 1 else None


def _load_steps(store: Store, run_id: str, problem_ids: list[str]) -> dict[str, list[str]]:
    rows = store.query(
        """SELECT problem_id, text FROM steps WHERE run_id = ? AND sample_idx = 0
           AND problem_id IN (SELECT unnest(?)) ORDER BY problem_id, step_idx""",
        [run_id, problem_ids],
    )
    out: dict[str, list[str]] = {}
    for pid, text in rows:
        out.setdefault(pid, []).append(text)
    return out


def _groups(pairs: list[PairRow], key) -> list[GroupStats]:
    buckets: dict[str, list[PairRow]] = {}
    for p in pairs:
        buckets.setdefault(key(p), []).append(p)
    out = []
    for k in sorted(buckets, key=lambda s: (s == "-", s)):
        rows = buckets[k]
        out.append(
            GroupStats(
                key=k,
                n=len(rows),
                acc_base=sum(r.base_score for r in rows) / len(rows),
                acc_quant=sum(r.quant_score for r in rows) / len(rows),
                lost=sum(r.outcome == "lost" for r in rows),
                gained=sum(r.outcome == "gained" for r in rows),
            )
        )
    return out


def compare_runs(store: Store, base_run_id: str, quant_run_id: str, write: bool = True) -> ComparisonSummary:
    """Pair two runs, align the steps of every paired problem, and (write=True) store pairs + alignments."""
    if base_run_id == quant_run_id:
        raise QmrError("--base and --quant are the same run")
    base, quant = _run_info(store, base_run_id), _run_info(store, quant_run_id)
    rows = store.query_dicts(
        """WITH b AS (SELECT problem_id, avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS score, count(*) AS n
                      FROM samples WHERE run_id = ? GROUP BY problem_id),
                q AS (SELECT problem_id, avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS score, count(*) AS n
                      FROM samples WHERE run_id = ? GROUP BY problem_id)
           SELECT coalesce(b.problem_id, q.problem_id) AS problem_id, b.score AS base_score, q.score AS quant_score,
                  b.n AS base_n, q.n AS quant_n, p.subject, p.level
           FROM b FULL OUTER JOIN q USING (problem_id)
           LEFT JOIN problems p ON p.problem_id = coalesce(b.problem_id, q.problem_id)
           ORDER BY 1""",
        [base_run_id, quant_run_id],
    )
    both = [r for r in rows if r["base_score"] is not None and r["quant_score"] is not None]
    if not both:
        raise QmrError(f"runs {base_run_id} and {quant_run_id} share no problems")
    ids = [r["problem_id"] for r in both]
    base_steps, quant_steps = _load_steps(store, base_run_id, ids), _load_steps(store, quant_run_id, ids)
    sampling = any(r["base_n"] > 1 or r["quant_n"] > 1 for r in both)
    warnings, notes = comparability(store, base, quant, ids)
    pairs: list[PairRow] = []
    for r in both:
        b, q = float(r["base_score"]), float(r["quant_score"])
        pairs.append(
            PairRow(
                problem_id=r["problem_id"],
                subject=r["subject"],
                level=r["level"],
                base_score=b,
                quant_score=q,
                n_samples=int(min(r["base_n"], r["quant_n"])),
                outcome=outcome(b > 0.5, q > 0.5),
                alignment=align_steps(base_steps.get(r["problem_id"], []), quant_steps.get(r["problem_id"], [])),
            )
        )
    counts = Counter(p.outcome for p in pairs)
    sims = [p.alignment.similarity for p in pairs if p.alignment.similarity is not None]
    summary = ComparisonSummary(
        base_run_id=base_run_id,
        quant_run_id=quant_run_id,
        base_model=base["model"],
        quant_model=quant["model"],
        n=len(pairs),
        n_base_only=sum(1 for r in rows if r["quant_score"] is None),
        n_quant_only=sum(1 for r in rows if r["base_score"] is None),
        acc_base=sum(p.base_score for p in pairs) / len(pairs),
        acc_quant=sum(p.quant_score for p in pairs) / len(pairs),
        counts={o: counts.get(o, 0) for o in OUTCOMES},
        mcnemar_p=mcnemar_exact(counts.get("lost", 0), counts.get("gained", 0)),
        abs_drop_ci=bootstrap_ci([p.base_score - p.quant_score for p in pairs]),
        mean_similarity=sum(sims) / len(sims) if sims else None,
        by_subject=_groups(pairs, lambda p: p.subject or "-"),
        by_level=_groups(pairs, lambda p: str(p.level) if p.level is not None else "-"),
        sampling=sampling,
        warnings=warnings,
        notes=notes,
        pairs=pairs,
    )
    if write:
        write_pairs(store, summary)
    return summary


def write_pairs(store: Store, summary: ComparisonSummary) -> None:
    key = [summary.base_run_id, summary.quant_run_id]
    pair_rows, align_rows = [], []
    for p in summary.pairs:
        a = p.alignment
        pair_rows.append(
            {
                "base_run_id": summary.base_run_id,
                "quant_run_id": summary.quant_run_id,
                "problem_id": p.problem_id,
                "outcome": p.outcome,
                "first_divergent_step": a.first_divergent,
                "similarity": a.similarity,
                "base_score": p.base_score,
                "quant_score": p.quant_score,
                "n_samples": p.n_samples,
                "n_base_steps": sum(1 for s in a.pairs if s.base_idx is not None),
                "n_quant_steps": sum(1 for s in a.pairs if s.quant_idx is not None),
            }
        )
        for s in a.pairs:
            align_rows.append(
                {
                    "base_run_id": summary.base_run_id,
                    "quant_run_id": summary.quant_run_id,
                    "problem_id": p.problem_id,
                    "sample_idx": 0,
                    "pos": s.pos,
                    "base_step_idx": s.base_idx,
                    "quant_step_idx": s.quant_idx,
                    "similarity": s.similarity,
                    "text_similarity": s.text_similarity,
                    "numbers_equal": s.numbers_equal,
                }
            )
    with store.transaction() as con:
        con.execute("DELETE FROM pairs WHERE base_run_id = ? AND quant_run_id = ?", key)
        con.execute("DELETE FROM step_alignments WHERE base_run_id = ? AND quant_run_id = ?", key)
        upsert_rows(con, "pairs", pair_rows)
        upsert_rows(con, "step_alignments", align_rows)
        con.execute(
            "INSERT OR REPLACE INTO comparisons (base_run_id, quant_run_id, summary_json) VALUES (?, ?, ?)",
            [*key, json.dumps(summary_dict(summary))],
        )


def summary_dict(s: ComparisonSummary) -> dict:
    """The numbers of a comparison as plain JSON (what `qmr compare --json` prints and the store keeps)."""

    def group(g: GroupStats) -> dict:
        return {"key": g.key, "n": g.n, "acc_base": g.acc_base, "acc_quant": g.acc_quant, "lost": g.lost,
                "gained": g.gained, "abs_drop": g.abs_drop, "rel_drop": g.rel_drop}

    return {
        "base_run_id": s.base_run_id, "quant_run_id": s.quant_run_id, "base_model": s.base_model,
        "quant_model": s.quant_model, "n": s.n, "n_base_only": s.n_base_only, "n_quant_only": s.n_quant_only,
        "acc_base": s.acc_base, "acc_quant": s.acc_quant, "abs_drop": s.abs_drop, "rel_drop": s.rel_drop,
        "abs_drop_ci95": list(s.abs_drop_ci) if s.abs_drop_ci else None, "mcnemar_p": s.mcnemar_p,
        "counts": s.counts, "mean_similarity": s.mean_similarity, "sampling": s.sampling,
        "by_subject": [group(g) for g in s.by_subject], "by_level": [group(g) for g in s.by_level],
        "warnings": s.warnings,
        "notes": s.notes,
    }
