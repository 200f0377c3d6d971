"""`qmr recover build`: the lost problems of a comparison -> examples cut at the first faulty step.

For a lost problem the quantized trace Q went wrong at a diagnosed step k while the full-precision
trace F solved it. The example's prompt is what the model saw plus the part of Q before step k;
F's remainder is the wanted continuation (SFT completion, DPO chosen) and Q's remainder the
unwanted one (DPO rejected). That only makes sense while F and Q agree up to the cut, so when they
diverged earlier the cut moves back to the last quantized step that starts inside their common
prefix (possibly the very start). A control set cuts the same training problems at a random other
step of that shared prefix, so a recovery can be credited to *where* the examples are cut rather than
to the data itself (problems whose traces part at once have no other cut, so no control example).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qmr_core.compare import compare_runs, infer_base_run
from qmr_core.diagnose.taxonomy import ERROR_TYPES, normalize_type
from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.diagnoses import judge_verdicts
from qmr_core.store.divergence import samples_with_spans
from qmr_core.store.records import SampleWithSpans
from qmr_core.store.pairs import first_divergent_steps, problems_with_outcome
from qmr_core.store.recovery import first_sample_idx, replace_set, run_judges

KINDS = ("targeted", "control")
COMBINED = "combined"
UNTYPED = "-"


@dataclass(frozen=True)
class Cut:
    step: int  # quantized-trace step the prefix stops before
    char: int  # prefix length in characters
    prefix: str
    chosen: str  # full-precision continuation
    rejected: str  # quantized continuation
    moved_back: bool  # the traces diverged before the requested step


def common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def cut_traces(quant: str, spans: Sequence[tuple[int, int]], full: str, step: int) -> Cut:
    """Cut both traces before quantized step `step` (clamped to the trace), or earlier where they differ sooner."""
    k = min(max(step, 0), len(spans) - 1) if spans else 0
    b = spans[k][0] if spans else 0
    if full.startswith(quant[:b]):
        return Cut(k, b, quant[:b], full[b:], quant[b:], False)
    shared = common_prefix_len(full, quant)
    k2, b2 = 0, 0
    for j, (start, _end) in enumerate(spans[:k]):
        if start <= shared:
            k2, b2 = j, start
    return Cut(k2, b2, quant[:b2], full[b2:], quant[b2:], True)


@dataclass
class LostTrace:
    problem_id: str
    sample_idx: int  # of the quantized sample
    prompt: str
    quant: str
    spans: list[tuple[int, int]]
    full: str
    error_step: int
    error_type: str | None
    located_by: str  # judge name, "combined" or "divergence"
    full_spans: list[tuple[int, int]] = field(default_factory=list)
    quant_ended: bool | None = True  # see trace_ended
    full_ended: bool | None = True


@dataclass
class BuildReport:
    set_id: str
    base_run_id: str
    quant_run_id: str
    n_lost: int
    targeted: list[dict]
    control: list[dict]
    holdout: list[str]
    holdout_types: dict[str, str | None]
    skipped: Counter = field(default_factory=Counter)
    located_by: Counter = field(default_factory=Counter)
    moved_back: int = 0  # targeted cuts placed before the faulty step because the traces diverged earlier
    files: list[Path] = field(default_factory=list)

    def by_type(self) -> list[tuple[str, int, int]]:
        """(error type, training examples, held-out problems)."""
        train = Counter(r["error_type"] or UNTYPED for r in self.targeted)
        held = Counter(t or UNTYPED for t in self.holdout_types.values())
        return [(t, train.get(t, 0), held.get(t, 0)) for t in sorted(set(train) | set(held), key=lambda s: (s == UNTYPED, s))]


def parse_error_types(names: Sequence[str] | None) -> list[str]:
    out = []
    for name in names or ():
        t = normalize_type(name)
        if t is None:
            raise QmrError(f"unknown error type '{name}' (known: {', '.join(ERROR_TYPES)})")
        if t not in out:
            out.append(t)
    return out


def _lost_ids(store: Store, base_run_id: str, quant_run_id: str) -> dict[str, int | None]:
    """Lost problem id -> first divergent step, running the comparison first if it is not stored."""
    divergent = first_divergent_steps(store, base_run_id, quant_run_id)
    if not divergent:
        compare_runs(store, base_run_id, quant_run_id)
        divergent = first_divergent_steps(store, base_run_id, quant_run_id)
    return {pid: divergent[pid] for pid in problems_with_outcome(store, base_run_id, quant_run_id, ["lost"])}


def _diagnoses(store: Store, run_id: str, judge: str) -> dict[tuple[str, int, str], tuple[int | None, str | None]]:
    return {(v.problem_id, v.sample_idx, v.judge): (v.first_error_step, v.error_type)
            for v in judge_verdicts(store, [run_id]) if v.judge in (judge, COMBINED)}


def locate(diag: dict, pid: str, idx: int, judge: str, divergent: int | None) -> tuple[int | None, str | None, str]:
    """First faulty step and error type: the judge's row, else the combined verdict, else the divergent step."""
    mine, comb = diag.get((pid, idx, judge), (None, None)), diag.get((pid, idx, COMBINED), (None, None))
    etype = mine[1] or comb[1]
    if mine[0] is not None:
        return mine[0], etype, judge
    if comb[0] is not None:
        return comb[0], etype, COMBINED
    return divergent, etype, "divergence"


def error_types_of(store: Store, run_id: str, problem_ids: Sequence[str], judge: str) -> dict[str, str | None]:
    """The quantized run's error type per problem (first wrong sample; judge, else combined)."""
    diag = _diagnoses(store, run_id, judge)
    first_wrong = first_sample_idx(store, run_id, problem_ids, correct=False)
    return {pid: locate(diag, pid, idx, judge, None)[1] for pid, idx in first_wrong.items()}


def _first_samples(store: Store, run_id: str, ids: list[str], correct: bool) -> dict[str, SampleWithSpans]:
    """problem -> its first right (or wrong) sample: prompt, output, finish reason and step spans."""
    first = first_sample_idx(store, run_id, ids, correct)
    samples = samples_with_spans(store, run_id, list(first))
    return {pid: samples[(pid, idx)] for pid, idx in first.items()}


def trace_ended(finish_reason: str | None) -> bool | None:
    """True: the model stopped (EOS); False: the token limit (or an error) cut it; None: not recorded
    (imported runs, servers that send no finish reason)."""
    if finish_reason in (None, "", "unknown"):
        return None
    return finish_reason == "eos"


def load_lost_traces(store: Store, base_run_id: str, quant_run_id: str, judge: str, skipped: Counter) -> tuple[int, list[LostTrace]]:
    lost = _lost_ids(store, base_run_id, quant_run_id)
    ids = sorted(lost)
    quant = _first_samples(store, quant_run_id, ids, correct=False)
    full = _first_samples(store, base_run_id, ids, correct=True)
    diag = _diagnoses(store, quant_run_id, judge)
    traces = []
    for pid in ids:
        q, f = quant.get(pid), full.get(pid)
        if q is None or f is None:
            skipped["no wrong/right sample pair"] += 1
            continue
        if not q.prompt:
            skipped["no stored prompt"] += 1
            continue
        if q.output == f.output:
            skipped["identical traces"] += 1
            continue
        divergent = lost[pid] if q.sample_idx == 0 and f.sample_idx == 0 else None
        step, etype, by = locate(diag, pid, q.sample_idx, judge, divergent)
        if step is None:
            skipped["no located faulty step"] += 1
            continue
        traces.append(LostTrace(pid, q.sample_idx, q.prompt, q.output, q.spans, f.output, int(step), etype, by, f.spans,
                                trace_ended(q.finish_reason), trace_ended(f.finish_reason)))
    return len(ids), traces


def example_row(set_id: str, kind: str, t: LostTrace, step: int) -> dict:
    c = cut_traces(t.quant, t.spans, t.full, step)
    return {
        "set_id": set_id, "kind": kind, "problem_id": t.problem_id, "sample_idx": t.sample_idx,
        "cut_step": c.step, "cut_char": c.char, "error_step": t.error_step, "error_type": t.error_type,
        "prompt": t.prompt + c.prefix, "chosen": c.chosen, "rejected": c.rejected, "cut_in": "shared",
        "chosen_complete": t.full_ended, "rejected_complete": t.quant_ended,
    }


def shared_steps(t: LostTrace) -> list[int]:
    """Quantized steps that start inside the prefix both traces share: the cuts that need no moving back."""
    return [j for j, (start, _end) in enumerate(t.spans) if t.full.startswith(t.quant[:start])]


def full_precision_cut_row(set_id: str, t: LostTrace, step: int) -> dict:
    """A control cut inside the full-precision trace: prefix F[:b], chosen F[b:], rejected the quantized
    trace from its step of the same index (its own continuation of that prefix was never generated)."""
    b = t.full_spans[step][0]
    qb = t.spans[min(step, len(t.spans) - 1)][0] if t.spans else 0
    return {
        "set_id": set_id, "kind": "control", "problem_id": t.problem_id, "sample_idx": t.sample_idx,
        "cut_step": step, "cut_char": b, "error_step": t.error_step, "error_type": t.error_type,
        "prompt": t.prompt + t.full[:b], "chosen": t.full[b:], "rejected": t.quant[qb:], "cut_in": "full_precision",
        "chosen_complete": t.full_ended, "rejected_complete": t.quant_ended,
    }


def control_rows(set_id: str, traces: Sequence[LostTrace], targeted_cut: dict[str, int], seed: int) -> list[dict]:
    """Per training problem, one cut at a seeded random step other than the targeted cut.

    Drawn first among the steps both traces share (a cut past the shared prefix would move back onto the
    targeted one: on a toy store 91 of 160 such controls were copies). Where the traces part in their
    first step, as SmolLM2's 3-bit traces do, the cut is a random later step of the full-precision trace
    (`full_precision_cut_row`). A problem with neither has no control example.
    """
    rng = random.Random(f"control:{seed}")
    rows = []
    for t in traces:
        cut = targeted_cut[t.problem_id]
        others = [j for j in shared_steps(t) if j != cut]
        if others:
            rows.append(example_row(set_id, "control", t, rng.choice(others)))
        elif len(t.full_spans) > 1:
            rows.append(full_precision_cut_row(set_id, t, rng.randrange(1, len(t.full_spans))))
    return rows


def split_holdout(problem_ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, holdout): a seeded random `fraction` held out, always leaving at least one to train on."""
    ids = sorted(problem_ids)
    n_hold = min(int(fraction * len(ids) + 0.5), len(ids) - 1)
    held = set(random.Random(f"holdout:{seed}").sample(ids, max(n_hold, 0)))
    return [p for p in ids if p not in held], sorted(held)


def make_set_id(base_run_id: str, quant_run_id: str, judge: str, types: list[str], holdout: float, seed: int) -> str:
    key = json.dumps([base_run_id, quant_run_id, judge, sorted(types), holdout, seed])
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def build_set(
    store: Store,
    quant_run_id: str,
    base_run_id: str | None = None,
    judge: str = COMBINED,
    error_types: Sequence[str] | None = None,
    holdout: float = 0.3,
    seed: int = 0,
    out_dir: Path | None = None,
) -> BuildReport:
    if not 0 <= holdout < 1:
        raise QmrError(f"--holdout must be in [0, 1), got {holdout}")
    types = parse_error_types(error_types)
    if base_run_id is None:
        base_run_id = infer_base_run(store, quant_run_id)
        if base_run_id is None:
            raise QmrError(f"cannot tell which run is the full-precision base of {quant_run_id}; pass --base")
    if judge != COMBINED:
        known = run_judges(store, quant_run_id)
        if judge not in known:
            raise QmrError(f"run {quant_run_id} has no diagnoses by judge '{judge}' (it has: {', '.join(known) or 'none'}); "
                           f"run qmr diagnose --run {quant_run_id} --judge ... first")
    skipped: Counter = Counter()
    n_lost, traces = load_lost_traces(store, base_run_id, quant_run_id, judge, skipped)
    if not n_lost:
        raise QmrError(f"run {quant_run_id} lost no problems against {base_run_id}: nothing to recover")
    if types:
        kept = [t for t in traces if t.error_type and normalize_type(t.error_type) in types]
        if len(kept) < len(traces):
            skipped["other error type"] += len(traces) - len(kept)
        traces = kept
    if not traces:
        why = ", ".join(f"{n} {k}" for k, n in skipped.items())
        raise QmrError(f"none of the {n_lost} lost problems gives an example ({why})")
    by_id = {t.problem_id: t for t in traces}
    train_ids, held = split_holdout(list(by_id), holdout, seed)
    set_id = make_set_id(base_run_id, quant_run_id, judge, types, holdout, seed)
    targeted = [example_row(set_id, "targeted", by_id[p], by_id[p].error_step) for p in train_ids]
    control = control_rows(set_id, [by_id[p] for p in train_ids], {r["problem_id"]: r["cut_step"] for r in targeted}, seed)
    out_dir = Path(out_dir) if out_dir else store.path.parent / "recovery" / set_id
    report = BuildReport(
        set_id=set_id, base_run_id=base_run_id, quant_run_id=quant_run_id, n_lost=n_lost, targeted=targeted,
        control=control, holdout=held, holdout_types={p: by_id[p].error_type for p in held}, skipped=skipped,
        located_by=Counter(t.located_by for t in traces),
        moved_back=sum(cut_traces(by_id[p].quant, by_id[p].spans, by_id[p].full, by_id[p].error_step).moved_back
                       for p in train_ids),
    )
    filters = {"error_types": types, "holdout": holdout, "n_lost": n_lost, "skipped": dict(skipped),
               "located_by": dict(report.located_by)}
    replace_set(store, {
        "set_id": set_id, "base_run_id": base_run_id, "quant_run_id": quant_run_id, "judge": judge,
        "filters_json": json.dumps(filters, sort_keys=True), "seed": seed, "n_targeted": len(targeted),
        "n_control": len(control), "holdout_json": json.dumps(held), "export_dir": str(out_dir.resolve()),
    }, targeted + control)
    report.files = export_jsonl(out_dir, targeted, control)
    return report


def _meta(r: dict) -> dict:
    return {k: r[k] for k in ("problem_id", "sample_idx", "error_type", "error_step", "cut_step", "cut_char", "cut_in",
                              "chosen_complete", "rejected_complete")}


def export_jsonl(out_dir: Path, targeted: list[dict], control: list[dict]) -> list[Path]:
    """Four files: {targeted,control}.{sft,dpo}.jsonl in trl's prompt-completion and preference formats."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QmrError(f"cannot create {out_dir}: {exc}") from exc
    files = []
    for kind, rows in (("targeted", targeted), ("control", control)):
        sft = [{"prompt": r["prompt"], "completion": r["chosen"], "meta": _meta(r)} for r in rows]
        dpo = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"], "meta": _meta(r)} for r in rows]
        for fmt, lines in (("sft", sft), ("dpo", dpo)):
            path = out_dir / f"{kind}.{fmt}.jsonl"
            path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
            files.append(path)
    return files
