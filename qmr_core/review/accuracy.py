"""Judge accuracy against blind labels: per judge and for the combined verdict, on the first faulty
step and on the error type, with Wilson 95% intervals, a per-type confusion matrix, and Cohen's kappa
between annotators who labelled the same samples.

Definitions (printed under the tables too):
- Each labelled sample counts once. Its reference is its earliest blind label, or the label of the
  annotator chosen with --annotator. Accept / correct annotations are never used: the annotator saw
  the judge's answer before making them.
- step right: the judge's first faulty step equals the label's (0-based step index; "no error" in
  the label and "no step located" by the judge count as equal).
- type right: the judge's error type equals the label's, where "no error" and "no type" are the
  type `none`. both: step and type right.
- A judge without a diagnosis of a labelled sample is counted as missing, not as wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from qmr_core.review.annotations import ERROR_TYPES, SampleKey
from qmr_core.tables import FLOAT, INT, PCT, TEXT, ReportTable
from qmr_core.review.stats import Proportion, cohen_kappa
from qmr_core.review.store import BlindLabel, ReviewStore
from qmr_core.store import Store
from qmr_core.store.diagnoses import judge_verdicts

NONE = "none"
COMBINED = "combined"
NOTE = ("Each sample counts once, against its earliest blind label; step = same first faulty step "
        "(no error = none located); type 'none' = no error; missing = labelled but not diagnosed by that judge.")


@dataclass(frozen=True)
class JudgeAccuracy:
    judge: str
    step: Proportion
    type: Proportion
    both: Proportion
    missing: int  # labelled samples this judge did not diagnose


@dataclass(frozen=True)
class AnnotatorAgreement:
    a: str
    b: str
    step: Proportion  # raw agreement
    step_kappa: float | None
    type: Proportion
    type_kappa: float | None


@dataclass
class AccuracyResult:
    n_labels: int
    annotators: list[str]
    judges: list[JudgeAccuracy]
    confusion_judge: str | None = None
    confusion: Counter = field(default_factory=Counter)  # (label type, judge type) -> count
    agreement: list[AnnotatorAgreement] = field(default_factory=list)

    def judge(self, name: str) -> JudgeAccuracy | None:
        return next((j for j in self.judges if j.judge == name), None)


def _type(error_type: str | None) -> str:
    return error_type or NONE


def reference_labels(labels: Sequence[BlindLabel], annotator: str | None = None) -> dict[SampleKey, BlindLabel]:
    """One label per sample: the earliest (labels come oldest first), or `annotator`'s."""
    out: dict[SampleKey, BlindLabel] = {}
    for lab in labels:
        if annotator is not None and lab.annotator != annotator:
            continue
        out.setdefault(lab.key, lab)
    return out


def _diagnoses(store: Store, keys: Sequence[SampleKey]) -> dict[SampleKey, dict[str, tuple[int | None, str | None]]]:
    runs = sorted({k[0] for k in keys})
    wanted = set(keys)
    out: dict[SampleKey, dict[str, tuple[int | None, str | None]]] = defaultdict(dict)
    for v in judge_verdicts(store, runs):
        if (v.run_id, v.problem_id, v.sample_idx) in wanted:
            out[(v.run_id, v.problem_id, v.sample_idx)][v.judge] = (v.first_error_step, v.error_type)
    return out


def _score(judge: str, refs: dict[SampleKey, BlindLabel], diags: dict) -> tuple[JudgeAccuracy, list[tuple[str, str]]]:
    step_ok = type_ok = both_ok = n = missing = 0
    pairs: list[tuple[str, str]] = []
    for key, lab in refs.items():
        found = diags.get(key, {}).get(judge)
        if found is None:
            missing += 1
            continue
        n += 1
        step, etype = found
        s_ok = step == lab.first_error_step
        t_ok = _type(etype) == _type(lab.error_type)
        step_ok += s_ok
        type_ok += t_ok
        both_ok += s_ok and t_ok
        pairs.append((_type(lab.error_type), _type(etype)))
    return JudgeAccuracy(judge, Proportion(step_ok, n), Proportion(type_ok, n), Proportion(both_ok, n), missing), pairs


def _agreement(labels: Sequence[BlindLabel]) -> list[AnnotatorAgreement]:
    by_key: dict[SampleKey, dict[str, BlindLabel]] = defaultdict(dict)
    for lab in labels:
        by_key[lab.key].setdefault(lab.annotator, lab)
    annotators = sorted({lab.annotator for lab in labels})
    out = []
    for a, b in combinations(annotators, 2):
        shared = [(v[a], v[b]) for v in by_key.values() if a in v and b in v]
        if not shared:
            continue
        steps = [(x.first_error_step, y.first_error_step) for x, y in shared]
        types = [(_type(x.error_type), _type(y.error_type)) for x, y in shared]
        out.append(AnnotatorAgreement(
            a, b, Proportion(sum(x == y for x, y in steps), len(shared)), cohen_kappa(steps),
            Proportion(sum(x == y for x, y in types), len(shared)), cohen_kappa(types),
        ))
    return out


def judge_accuracy(
    store: Store, labels: Sequence[BlindLabel], *, runs: Sequence[str] | None = None,
    annotator: str | None = None, confusion_judge: str | None = None,
) -> AccuracyResult:
    """Accuracy of every judge with diagnoses of the labelled samples (`runs`: only these run ids)."""
    scoped = [lab for lab in labels if runs is None or lab.run_id in runs]
    refs = reference_labels(scoped, annotator)
    diags = _diagnoses(store, list(refs)) if refs else {}
    names = sorted({j for d in diags.values() for j in d}, key=lambda j: (j != COMBINED, j))
    judges, confusions = [], {}
    for name in names:
        acc, pairs = _score(name, refs, diags)
        judges.append(acc)
        confusions[name] = Counter(pairs)
    chosen = confusion_judge if confusion_judge in confusions else (names[0] if names else None)
    return AccuracyResult(
        len(refs), sorted({lab.annotator for lab in scoped}), judges, chosen,
        confusions.get(chosen, Counter()) if chosen else Counter(), _agreement(scoped),
    )


def load_accuracy(
    store: Store, *, review_set: str | None = None, runs: Sequence[str] | None = None,
    annotator: str | None = None, confusion_judge: str | None = None,
) -> AccuracyResult:
    labels = ReviewStore.for_store(store.path).blind_labels(review_set=review_set)
    return judge_accuracy(store, labels, runs=runs, annotator=annotator, confusion_judge=confusion_judge)


# -- tables ------------------------------------------------------------------------------------


def ci_text(p: Proportion) -> str:
    ci = p.interval
    return "-" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def type_order(confusion: Counter) -> tuple[list[str], list[str]]:
    """Row labels (blind label types) and column labels (judge types), taxonomy order, 'none' last."""
    seen_rows = {a for a, _ in confusion}
    seen_cols = {b for _, b in confusion}
    base = list(ERROR_TYPES)
    rows = [t for t in base if t in seen_rows] + sorted(seen_rows - set(base) - {NONE}) + ([NONE] if NONE in seen_rows else [])
    cols = [t for t in base if t in seen_cols] + sorted(seen_cols - set(base) - {NONE}) + ([NONE] if NONE in seen_cols else [])
    return rows, cols


def accuracy_tables(result: AccuracyResult, scope: str = "") -> list[ReportTable]:
    """The judge accuracy section: accuracy with intervals, the confusion matrix, annotator agreement."""
    if not result.judges:
        return []
    where = f" ({scope})" if scope else ""
    t = ReportTable(
        "judge_accuracy", f"Judge accuracy against {result.n_labels} blind labels{where}, Wilson 95% intervals",
        ["judge", "n", "step %", "step 95% CI", "type %", "type 95% CI", "both %", "both 95% CI", "missing"],
        [TEXT, INT, PCT, TEXT, PCT, TEXT, PCT, TEXT, INT],
    )
    for j in result.judges:
        t.rows.append([j.judge, j.step.n, j.step.rate, ci_text(j.step), j.type.rate, ci_text(j.type),
                       j.both.rate, ci_text(j.both), j.missing])
    t.note = NOTE
    tables = [t]
    if result.confusion:
        rows, cols = type_order(result.confusion)
        c = ReportTable(
            "judge_confusion", f"Error types: blind label (rows) x {result.confusion_judge} (columns)",
            ["label \\ judge", *cols, "n"], [TEXT, *[INT] * len(cols), INT],
        )
        for r in rows:
            counts = [result.confusion.get((r, col), 0) for col in cols]
            c.rows.append([r, *counts, sum(counts)])
        c.note = "None = no error (label) or no type (judge); the diagonal is agreement."
        tables.append(c)
    if result.agreement:
        k = ReportTable(
            "annotator_agreement", "Agreement between annotators on the samples both labelled blind (Cohen's kappa)",
            ["annotator A", "annotator B", "n", "step agree %", "step kappa", "type agree %", "type kappa"],
            [TEXT, TEXT, INT, PCT, FLOAT, PCT, FLOAT],
        )
        for a in result.agreement:
            k.rows.append([a.a, a.b, a.step.n, a.step.rate, a.step_kappa, a.type.rate, a.type_kappa])
        k.note = "Kappa = (observed - chance agreement) / (1 - chance); '-' where chance agreement is 1."
        tables.append(k)
    return tables


def report_section(store: Store, runs: Sequence[str], judge: str | None = None) -> list[ReportTable]:
    """`qmr report`'s judge accuracy tables for these runs; none without blind labels."""
    result = load_accuracy(store, runs=runs, confusion_judge=judge or COMBINED)
    return accuracy_tables(result) if result.n_labels else []
