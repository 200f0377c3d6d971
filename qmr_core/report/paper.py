"""Paper-style report of a store: the tables behind "where and why quantization breaks reasoning".

Definitions (also printed under the tables):
- pass@1: per problem, the share of its samples graded right; averaged over problems. With one greedy
  sample per problem this is plain accuracy. With K samples, "sd" is the standard deviation of the
  accuracy of sample index 0..K-1 across the K indices (seeds).
- Base run of a quantized run: a run of the model's full-precision model (models.base_model_id) on
  the same benchmark with the same prompt text and decoding; the one with the most problems if several.
- drop (pp) = base pass@1 - quantized pass@1, in percentage points; rel. drop (%) = drop / base pass@1.
  Both are computed on the problems the two runs share, so a partial run is compared fairly.
- lost / gained: problems the base run gets right and the quantized run wrong, and the reverse (a
  problem is right for a run when more than half of its samples are). Taken from the `pairs` table
  when `qmr compare` stored it for the pair, else computed here from the samples; McNemar's exact p.
- format: share of samples whose steps are "Step k:" tagged; truncated: share stopped by the token
  limit (finish_reason = length) among samples whose finish reason is known (imports may lack it).
- error types / capabilities: over a run's diagnosed wrong samples, from the `combined` diagnosis
  (`qmr diagnose`), or a chosen judge, or else the majority over all judges of a sample.
- first-error position: (first wrong step, 1-based) / (steps in the trace); near 0 = the trace goes
  wrong early, 1 = at its last step.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from qmr_core.compare import mcnemar_exact
from qmr_core.diagnose.flip_prediction import METRICS, flip_prediction
from qmr_core.errors import QmrError
from qmr_core.report.render import _slug
from qmr_core.report.data import ReportData, ReportRun
from qmr_core.store import Store
from qmr_core.store.records import ReportDiagnosis
from qmr_core.store.report_reads import diagnosis_rows, flip_stats, format_stats, step_counts

FORMATS = ("md", "latex", "csv", "html")
ERROR_TYPE_ORDER = ("Conceptual", "Method", "Execution", "Reasoning", "Degenerate")
CAPABILITY_ORDER = ("numerical computation", "reasoning planning", "problem understanding", "degenerate output")
EARLY = 1 / 3  # "early" first errors: within the first third of the trace

from qmr_core.tables import FLOAT, INT, NUM, P, PCT, PP, TEXT, ReportTable


# -- tables -------------------------------------------------------------------------------------


def _run_cols(data: ReportData) -> tuple[list[str], list[str]]:
    cols, kinds = ["model", "quant", "benchmark"], [TEXT, TEXT, TEXT]
    if len({r.prompt_template for r in data.runs}) > 1:
        cols.append("prompt")
        kinds.append(TEXT)
    return cols, kinds


def _run_cells(data: ReportData, r: ReportRun) -> list[Any]:
    cells: list[Any] = [r.family_name, r.short_quant, r.benchmark]
    if len({x.prompt_template for x in data.runs}) > 1:
        cells.append(r.prompt_template)
    return cells


def _run_table(data: ReportData, name: str, title: str, cols: list[str], kinds: list[str]) -> ReportTable:
    """A table with a row per run: the run's columns, then `cols`."""
    run_cols, run_kinds = _run_cols(data)
    return ReportTable(name, title, run_cols + cols, run_kinds + kinds)


def _sort_key(r: ReportRun) -> tuple:
    return (r.benchmark, r.family_name, r.prompt_template, not r.full_precision, -(r.bits or 99), r.method, r.run_id)


def accuracy_table(data: ReportData) -> ReportTable:
    cols, kinds = _run_cols(data)
    sampled = any(r.k_max > 1 for r in data.runs)
    cols += ["n"] + (["K"] if sampled else []) + ["pass@1 (%)"] + (["sd"] if sampled else [])
    kinds += [INT] + ([INT] if sampled else []) + [PCT] + ([PCT] if sampled else [])
    cols += ["drop (pp)", "rel. drop (%)", "lost", "gained", "McNemar p", "run"]
    kinds += [PP, PCT, INT, INT, P, TEXT]
    table = ReportTable("accuracy", "Accuracy by model, quantization and benchmark", cols, kinds)
    no_base = []
    for r in sorted(data.runs, key=_sort_key):
        row = _run_cells(data, r) + [r.n_problems] + ([r.k_max] if sampled else []) + [r.pass1] + ([r.sd] if sampled else [])
        base = data.base_of.get(r.run_id)
        if base is None:
            if not r.full_precision:
                no_base.append(r.run_id)
            row += [None, None, None, None, None]
        else:
            shared = data.shared(base, r)
            b = sum(data.scores[base.run_id][p] for p in shared) / len(shared) if shared else None
            q = sum(data.scores[r.run_id][p] for p in shared) / len(shared) if shared else None
            drop = (b - q) if b is not None and q is not None else None
            rel = drop / b if drop is not None and b else None
            counts, _src = data.outcomes(base, r)
            row += [drop, rel, counts["lost"], counts["gained"],
                    mcnemar_exact(counts["lost"], counts["gained"])]
        row.append(r.run_id)
        table.rows.append(row)
    table.note = ("pass@1 = mean over problems of the share of samples right; drop (pp) = base - quantized pass@1 "
                  "on the problems both runs have (positive = worse); rel. drop = drop / base pass@1; lost/gained: "
                  "problems only the base / only the quantized run gets right; base run = same model family, "
                  "benchmark, prompt and decoding.")
    if no_base:
        table.note += f" No base run for: {', '.join(no_base)}."
    return table


def _column_labels(runs: list[ReportRun]) -> dict[str, str]:
    """Column names for runs of one model on one benchmark: the quantization, plus whatever else differs."""
    prompts = {r.prompt_template for r in runs}
    decodings = {r.decoding_json for r in runs}
    engines = {r.engine for r in runs}
    names = {}
    for r in runs:
        parts = [r.short_quant]
        if len(prompts) > 1:
            parts.append(r.prompt_template)
        if len(decodings) > 1:
            parts.append("greedy" if r.greedy else "sampled")
        if len(engines) > 1:
            parts.append(r.engine)
        names[r.run_id] = " ".join(parts)
    counts = Counter(names.values())
    return {k: f"{v} [{k[:6]}]" if counts[v] > 1 else v for k, v in names.items()}


def _breakdown(data: ReportData, key: str) -> list[ReportTable]:
    """One table per (benchmark, model family): rows = subjects or levels, columns = runs."""
    groups: dict[tuple[str, str], list[ReportRun]] = defaultdict(list)
    for r in sorted(data.runs, key=_sort_key):
        groups[(r.benchmark, r.family)].append(r)
    tables = []
    for (bench, _family), runs in groups.items():
        values: dict[Any, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in runs:
            for pid, score in data.scores.get(r.run_id, {}).items():
                subject, level = data.meta.get(pid, ("-", None))
                k = subject if key == "subject" else level
                if k is None:
                    continue
                values[k][r.run_id].append(score)
        if len(values) < 2:  # one subject or level: the row would repeat the accuracy table
            continue
        name_of = _column_labels(runs)
        cols = [key, "n"] + [name_of[r.run_id] for r in runs]
        kinds = [TEXT, INT] + [PCT] * len(runs)
        fam = runs[0].family_name
        t = ReportTable(f"by_{key}_{_slug(bench)}_{_slug(fam)}", f"pass@1 (%) by {key}: {fam} on {bench}", cols, kinds)
        for k in sorted(values, key=lambda x: (str(x) == "-", x)):
            per_run = values[k]
            n = max(len(v) for v in per_run.values())
            label = f"Level {k}" if key == "level" else k
            t.rows.append([label, n] + [sum(v) / len(v) if (v := per_run.get(r.run_id)) else None for r in runs])
        t.rows.append(["all", max(r.n_problems for r in runs)] + [r.pass1 for r in runs])
        tables.append(t)
    return tables


def _per_run(data: ReportData, table: ReportTable, cells: Callable[[ReportRun], list[Any] | None],
             note: str) -> ReportTable:
    """Fill a per-run table: the run's cells, `cells(run)` (None skips the run), the run id."""
    for r in sorted(data.runs, key=_sort_key):
        if (values := cells(r)) is not None:
            table.rows.append(_run_cells(data, r) + values + [r.run_id])
    table.note = note
    return table


def format_table(data: ReportData) -> ReportTable:
    stats = format_stats(data.store, [r.run_id for r in data.runs])
    t = _run_table(
        data, "format", "Output format: step tags, missing answers, truncation",
        ["samples", "format (%)", "no answer (%)", "truncated (%)", "tokens", "steps", "run"],
        [INT, PCT, PCT, PCT, NUM, NUM, TEXT],
    )
    return _per_run(data, t, lambda r: s.cells() if (s := stats.get(r.run_id)) is not None else None,
                    "format = share of samples with 'Step k:' tagged steps; truncated = stopped by the token limit, "
                    "among samples whose finish reason is known.")


def _diagnoses(data: ReportData, judge: str | None) -> tuple[dict[tuple[str, str, int], ReportDiagnosis], str]:
    """One diagnosis per (run, problem, sample): a judge's row, `combined`, or the judges' majority."""
    if not data.runs:
        return {}, ""
    rows = diagnosis_rows(data.store, [r.run_id for r in data.runs], judge)
    if judge:
        return {(r.run_id, r.problem_id, r.sample_idx): r for r in rows}, judge
    if any(r.judge == "combined" for r in rows):
        return {(r.run_id, r.problem_id, r.sample_idx): r for r in rows if r.judge == "combined"}, "combined"
    votes: dict[tuple[str, str, int], list[ReportDiagnosis]] = defaultdict(list)
    for r in rows:
        votes[(r.run_id, r.problem_id, r.sample_idx)].append(r)
    chosen = {}
    for key, vs in votes.items():
        located = [v for v in vs if v.error_type] or vs
        top_type = Counter(v.error_type for v in located).most_common(1)[0][0]
        agreeing = [v for v in located if v.error_type == top_type]
        steps = Counter(v.first_error_step for v in agreeing if v.first_error_step is not None)
        chosen[key] = replace(agreeing[0], first_error_step=steps.most_common(1)[0][0] if steps else None)
    return chosen, "majority of judges"


def error_tables(data: ReportData, judge: str | None = None) -> list[ReportTable]:
    diag, source = _diagnoses(data, judge)
    if not diag:
        return []
    by_run: dict[str, list[ReportDiagnosis]] = defaultdict(list)
    for (run_id, _p, _s), d in diag.items():
        by_run[run_id].append(d)
    from qmr_core.diagnose.taxonomy import capability_of  # the taxonomy's own roll-up

    untyped = any(d.error_type is None and d.first_error_step is not None for d in diag.values())
    extra = [NO_TYPE] if untyped else []  # located by --fp-locator alone: a step, no type
    tables = []
    for name, title, order, field_ in (
        ("error_types", f"Error types of wrong answers ({source})", ERROR_TYPE_ORDER, "error_type"),
        ("capabilities", f"Capabilities lost ({source})", CAPABILITY_ORDER, "capability"),
    ):
        t = _run_table(
            data, name, title + ", % of diagnosed wrong samples",
            ["diagnosed"] + [c if len(c) < 14 else c.split()[0] for c in order] + extra + ["unlocated", "run"],
            [INT] + [PCT] * (len(order) + len(extra) + 1) + [TEXT],
        )
        for r in sorted(data.runs, key=_sort_key):
            ds = by_run.get(r.run_id)
            if ds:
                counts = Counter(_label(d, field_, capability_of) for d in ds)
                shares = [counts.get(c, 0) / len(ds) for c in [*order, *extra, None]]
                t.rows.append(_run_cells(data, r) + [len(ds)] + shares + [r.run_id])
        tables.append(t)
    return tables


NO_TYPE = "no type"


def _label(d: ReportDiagnosis, field_: str, capability_of) -> str | None:
    """The diagnosis's type or capability; NO_TYPE for a located step without a type; None: unlocated."""
    v = getattr(d, field_)
    if field_ == "capability" and v is None and d.error_type:
        try:
            v = capability_of(d.error_type)
        except QmrError:
            v = None
    if v is None and d.error_type is None and d.first_error_step is not None:
        return NO_TYPE
    return v


def first_error_positions(data: ReportData, judge: str | None = None) -> dict[str, list[float]]:
    """run -> relative first-error positions ((step + 1) / n_steps) of its diagnosed samples."""
    diag, _ = _diagnoses(data, judge)
    n_steps = step_counts(data.store, [r.run_id for r in data.runs])
    out: dict[str, list[float]] = defaultdict(list)
    for key, d in diag.items():
        step, n = d.first_error_step, n_steps.get(key)
        if step is not None and n and 0 <= step < n:
            out[key[0]].append((step + 1) / n)
    return out


def first_error_table(data: ReportData, judge: str | None = None) -> ReportTable | None:
    positions = first_error_positions(data, judge)
    if not positions:
        return None
    t = _run_table(
        data, "first_error", "Where the first error falls: (wrong step) / (steps in the trace)",
        ["located", "mean pos.", "median pos.", "early (%)", "run"],
        [INT, FLOAT, FLOAT, PCT, TEXT],
    )

    def cells(r: ReportRun) -> list[Any] | None:
        pos = positions.get(r.run_id)
        return [len(pos), statistics.fmean(pos), statistics.median(pos), sum(p <= EARLY for p in pos) / len(pos)] if pos else None

    return _per_run(data, t, cells,
                    f"position = first wrong step (1-based) / steps in the trace; early = position <= {EARLY:.2f}.")


def flips_table(data: ReportData) -> ReportTable | None:
    """Teacher forcing (`qmr diagnose` with a base run): where the quantized model first disagrees with the base trace."""
    t = _run_table(
        data, "teacher_forcing", "Teacher-forced base traces: first token the quantized model would change",
        ["traces", "diverge (%)", "mean flip pos.", "mean logprob", "run"],
        [INT, PCT, FLOAT, FLOAT, TEXT],
    )
    stats = flip_stats(data.store, [r.run_id for r in data.runs])
    if not stats:
        return None
    return _per_run(data, t, lambda r: stats[r.run_id].cells() if r.run_id in stats else None,
                    "flip pos. = step of the first flipped token (1-based) / steps in the base trace.")


def external_verdicts_table(data: ReportData) -> ReportTable | None:
    """Imported runs: the other tool's own per-sample verdicts against qmr's regrade of the same outputs."""
    from qmr_core.importers.verdicts import agreement

    found = agreement(data.store, [r.run_id for r in data.runs])
    if not found:
        return None
    by_run = {r.run_id: r for r in data.runs}
    t = _run_table(
        data, "external_verdicts", "Imported runs: the tool's own verdict vs qmr's regrade",
        ["tool", "metric", "n", "tool acc (%)", "qmr acc (%)", "disagree", "run"],
        [TEXT, TEXT, INT, PCT, PCT, INT, TEXT],
    )
    for a in found:
        r = by_run[a.run_id]
        t.rows.append(_run_cells(data, r) + [a.source, a.metric, a.n, a.tool_right / a.n, a.qmr_right / a.n, a.disagree, a.run_id])
    t.note = "disagree = samples the two graders judge differently; `qmr import disagreements RUN` lists them."
    return t


FLIP_SHORT = {"kl_mean": "KL mean", "kl_max": "KL max", "surprisal_mean": "q surprisal"}


def flip_prediction_table(data: ReportData) -> ReportTable | None:
    """Per quantized run: AUC (lost vs both right) of each divergence measure, with DeLong 95% bounds."""
    results = {r.quant_run_id: r for r in flip_prediction(data.store, [r.run_id for r in data.runs])}
    if not results:
        return None
    cols, kinds = _run_cols(data)
    cols += ["lost", "both right"]
    kinds += [INT, INT]
    for key in METRICS:
        cols += [f"AUC {FLIP_SHORT[key]}", "lo", "hi"]
        kinds += [FLOAT, FLOAT, FLOAT]
    cols.append("run")
    kinds.append(TEXT)
    t = ReportTable("flip_prediction", "Flip prediction: AUC of divergence, lost vs both-right problems", cols, kinds)
    for run in sorted(data.runs, key=_sort_key):
        r = results.get(run.run_id)
        if r is None:
            continue
        cells = _run_cells(data, run) + [r.n_lost, r.n_both_right]
        for key in METRICS:
            a = r.auc[key]
            cells += [a.auc, a.lo, a.hi] if a else [None, None, None]
        t.rows.append(cells + [run.run_id])
    t.note = ("KL mean/max: KL(fp||quant) per token of the full-precision trace, both models under the same prefix; "
              "q surprisal: the fp model's mean surprisal on the quantized trace (post hoc, for contrast). "
              "lo/hi: DeLong 95% interval; 0.5 = chance.")
    return t


def build_report(store: Store, benchmarks: Sequence[str] = (), runs: Sequence[str] = (), judge: str | None = None) -> tuple[ReportData, list[ReportTable]]:
    data = ReportData(store, benchmarks, runs)
    if not data.runs:
        raise QmrError("no runs match" + (f" benchmark(s) {', '.join(benchmarks)}" if benchmarks else "") + " (see `qmr runs`)")
    tables = [accuracy_table(data)]
    tables += _breakdown(data, "subject")
    tables += _breakdown(data, "level")
    tables.append(format_table(data))
    tables += error_tables(data, judge)
    tables += [t for t in (first_error_table(data, judge), flips_table(data), external_verdicts_table(data)) if t is not None]
    from qmr_core.review.accuracy import report_section  # judge accuracy vs blind labels; nothing without labels

    tables += report_section(store, [r.run_id for r in data.runs], judge)
    tables += [t for t in (flip_prediction_table(data),) if t is not None]
    return data, [t for t in tables if t.rows]


__all__ = [
    "FORMATS", "ReportData", "ReportRun", "ReportTable", "build_report", "first_error_positions",
]
