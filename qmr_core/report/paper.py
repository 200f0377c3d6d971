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

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qmr_core.compare import mcnemar_exact
from qmr_core.diagnose.flip_prediction import METRICS, flip_prediction
from qmr_core.errors import QmrError
from qmr_core.report.render import _slug
from qmr_core.store import Store
from qmr_core.store.queries import PRECISION_COLUMNS, short_quant_label

FORMATS = ("md", "latex", "csv", "html")
ERROR_TYPE_ORDER = ("Conceptual", "Method", "Execution", "Reasoning", "Degenerate")
CAPABILITY_ORDER = ("numerical computation", "reasoning planning", "problem understanding", "degenerate output")
EARLY = 1 / 3  # "early" first errors: within the first third of the trace

from qmr_core.tables import FLOAT, INT, NUM, P, PCT, PP, TEXT, ReportTable


# -- reading the store --------------------------------------------------------------------------


@dataclass
class RunRow:
    run_id: str
    model_id: str
    model: str
    base_model_id: str | None
    family_name: str
    method: str
    bits: int | None
    group_size: int | None
    act_bits: int | None
    benchmark: str
    prompt_template: str
    prompt_text: str
    decoding_json: str
    engine: str
    status: str
    n_problems: int = 0
    k_max: int = 0
    pass1: float | None = None
    sd: float | None = None
    label: str = ""
    source_precision: str | None = None
    run_dtype: str | None = None

    @property
    def full_precision(self) -> bool:
        return self.method == "none"

    @property
    def family(self) -> str:
        return self.model_id if self.full_precision or not self.base_model_id else self.base_model_id

    @property
    def quant(self) -> str:
        return short_quant_label(self.method, self.bits, self.group_size, self.act_bits, self.source_precision,
                                 self.run_dtype)

    @property
    def greedy(self) -> bool:
        try:
            return float(json.loads(self.decoding_json).get("temperature") or 0) == 0
        except (ValueError, AttributeError):
            return True


def _has_table(store: Store, name: str) -> bool:
    return bool(store.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [name]))


def _columns(store: Store, table: str) -> set[str]:
    return {r[0] for r in store.query("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])}


class ReportData:
    """Everything the tables need, read once in a few queries."""

    def __init__(self, store: Store, benchmarks: Sequence[str] = (), runs: Sequence[str] = ()):
        self.store = store
        sql = f"""
            SELECT r.run_id, r.model_id, coalesce(m.name, r.model_id) AS model, m.base_model_id,
                   coalesce(b.name, m.base_model_id, coalesce(m.name, r.model_id)) AS family_name,
                   coalesce(m.method, 'none') AS method, m.bits, m.group_size, m.act_bits, r.benchmark,
                   r.prompt_template, r.prompt_text, r.decoding_json, r.engine, r.status, {PRECISION_COLUMNS}
            FROM runs r LEFT JOIN models m USING (model_id) LEFT JOIN models b ON b.model_id = m.base_model_id
            ORDER BY r.benchmark, r.created_at, r.run_id"""
        # every run can serve as a base run; the report shows those the filters select
        self.candidates = [RunRow(**r) for r in store.query_dicts(sql)]
        self.runs = [
            r for r in self.candidates
            if (not benchmarks or r.benchmark in benchmarks) and (not runs or any(r.run_id.startswith(x) for x in runs))
        ]
        ids = [r.run_id for r in self.candidates]
        self.scores: dict[str, dict[str, float]] = defaultdict(dict)  # run -> problem -> share right
        self.meta: dict[str, tuple[str, int | None]] = {}  # problem -> (subject, level)
        for run_id, pid, score, k, subject, level in store.query(
            """SELECT s.run_id, s.problem_id, avg(CASE WHEN s.correct THEN 1.0 ELSE 0.0 END), count(*),
                      coalesce(nullif(p.subject, ''), '-'), p.level
               FROM samples s LEFT JOIN problems p USING (problem_id)
               WHERE s.run_id IN (SELECT unnest(?)) GROUP BY ALL""",
            [ids],
        ):
            self.scores[run_id][pid] = float(score)
            self.meta[pid] = (subject, level)
        per_idx: dict[str, list[float]] = defaultdict(list)
        for run_id, _idx, acc in store.query(
            """SELECT run_id, sample_idx, avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) FROM samples
               WHERE run_id IN (SELECT unnest(?)) GROUP BY ALL ORDER BY 1, 2""",
            [ids],
        ):
            per_idx[run_id].append(float(acc))
        kmax = dict(store.query("SELECT run_id, max(sample_idx) + 1 FROM samples WHERE run_id IN (SELECT unnest(?)) GROUP BY 1", [ids]))
        for r in self.candidates:
            s = self.scores.get(r.run_id, {})
            r.n_problems = len(s)
            r.pass1 = sum(s.values()) / len(s) if s else None
            r.k_max = int(kmax.get(r.run_id) or 0)
            r.sd = statistics.stdev(per_idx[r.run_id]) if len(per_idx[r.run_id]) > 1 else None
        self._label_runs()
        self.base_of = {r.run_id: self._find_base(r) for r in self.runs if not r.full_precision}
        self.pairs = self._stored_pairs()

    def _label_runs(self) -> None:
        """Short unique labels: 'model quant', plus prompt / decoding / run id only where needed."""
        prompts = {r.prompt_template for r in self.candidates}
        decodings = {r.decoding_json for r in self.candidates}
        engines = {r.engine for r in self.candidates}
        for r in self.candidates:
            parts = [r.family_name, r.quant]
            if len(prompts) > 1:
                parts.append(r.prompt_template)
            if len(decodings) > 1 and not r.greedy:
                parts.append("sampled")
            if len(engines) > 1 and r.engine != "hf":
                parts.append(r.engine)
            r.label = " ".join(parts)
        counts = Counter((r.label, r.benchmark) for r in self.candidates)
        for r in self.candidates:
            if counts[(r.label, r.benchmark)] > 1:
                r.label = f"{r.label} [{r.run_id[:6]}]"

    def _find_base(self, run: RunRow) -> RunRow | None:
        if not run.base_model_id:
            return None
        found = [
            b for b in self.candidates
            if b.model_id == run.base_model_id and b.benchmark == run.benchmark
            and b.prompt_text == run.prompt_text and b.decoding_json == run.decoding_json and b.n_problems
        ]
        return max(found, key=lambda b: (b.n_problems, b.status == "done")) if found else None

    def _stored_pairs(self) -> dict[tuple[str, str], Counter]:
        out: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for base, quant, outcome, n in self.store.query(
            "SELECT base_run_id, quant_run_id, outcome, count(*) FROM pairs GROUP BY ALL"
        ):
            out[(base, quant)][outcome] = int(n)
        return out

    def shared(self, base: RunRow, quant: RunRow) -> list[str]:
        b, q = self.scores.get(base.run_id, {}), self.scores.get(quant.run_id, {})
        return sorted(set(b) & set(q))

    def outcomes(self, base: RunRow, quant: RunRow) -> tuple[Counter, str]:
        stored = self.pairs.get((base.run_id, quant.run_id))
        if stored:
            return stored, "pairs"
        b, q = self.scores[base.run_id], self.scores[quant.run_id]
        counts: Counter = Counter()
        for pid in self.shared(base, quant):
            br, qr = b[pid] > 0.5, q[pid] > 0.5
            counts["both_right" if br and qr else "lost" if br else "gained" if qr else "both_wrong"] += 1
        return counts, "samples"


# -- tables -------------------------------------------------------------------------------------


def _run_cols(data: ReportData) -> tuple[list[str], list[str]]:
    cols, kinds = ["model", "quant", "benchmark"], [TEXT, TEXT, TEXT]
    if len({r.prompt_template for r in data.runs}) > 1:
        cols.append("prompt")
        kinds.append(TEXT)
    return cols, kinds


def _run_cells(data: ReportData, r: RunRow) -> list[Any]:
    cells: list[Any] = [r.family_name, r.quant, r.benchmark]
    if len({x.prompt_template for x in data.runs}) > 1:
        cells.append(r.prompt_template)
    return cells


def _sort_key(r: RunRow) -> tuple:
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


def _column_labels(runs: list[RunRow]) -> dict[str, str]:
    """Column names for runs of one model on one benchmark: the quantization, plus whatever else differs."""
    prompts = {r.prompt_template for r in runs}
    decodings = {r.decoding_json for r in runs}
    engines = {r.engine for r in runs}
    names = {}
    for r in runs:
        parts = [r.quant]
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
    groups: dict[tuple[str, str], list[RunRow]] = defaultdict(list)
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


def format_table(data: ReportData) -> ReportTable:
    cols, kinds = _run_cols(data)
    cols += ["samples", "format (%)", "no answer (%)", "truncated (%)", "tokens", "steps", "run"]
    kinds += [INT, PCT, PCT, PCT, NUM, NUM, TEXT]
    t = ReportTable("format", "Output format: step tags, missing answers, truncation", cols, kinds)
    stats = {
        r[0]: r[1:]
        for r in data.store.query(
            """SELECT run_id, count(*),
                      avg(CASE WHEN step_format = 'tagged' THEN 1.0 ELSE 0.0 END),
                      avg(CASE WHEN extracted_answer IS NULL THEN 1.0 ELSE 0.0 END),
                      avg(CASE WHEN finish_reason = 'length' THEN 1.0 WHEN finish_reason IS NULL OR finish_reason = 'unknown' THEN NULL ELSE 0.0 END),
                      avg(n_tokens), avg(n_steps)
               FROM samples WHERE run_id IN (SELECT unnest(?)) GROUP BY 1""",
            [[r.run_id for r in data.runs]],
        )
    }
    for r in sorted(data.runs, key=_sort_key):
        s = stats.get(r.run_id)
        if s is None:
            continue
        n, fmt, noans, trunc, tokens, steps = s
        t.rows.append(_run_cells(data, r) + [n, fmt, noans, trunc, tokens, steps, r.run_id])
    t.note = "format = share of samples with 'Step k:' tagged steps; truncated = stopped by the token limit, among samples whose finish reason is known."
    return t


def _diagnoses(data: ReportData, judge: str | None) -> tuple[dict[tuple[str, str, int], dict], str]:
    """One diagnosis per (run, problem, sample): a judge's row, `combined`, or the judges' majority."""
    if not data.runs:
        return {}, ""
    cols = _columns(data.store, "diagnoses")
    rows = data.store.query_dicts(
        f"""SELECT run_id, problem_id, sample_idx, judge, first_error_step, error_type, capability
            FROM diagnoses WHERE run_id IN (SELECT unnest(?)) {"AND judge = ?" if judge else ""}""",
        [[r.run_id for r in data.runs]] + ([judge] if judge else []),
    ) if cols else []
    if judge:
        return {(r["run_id"], r["problem_id"], r["sample_idx"]): r for r in rows}, judge
    if any(r["judge"] == "combined" for r in rows):
        return {(r["run_id"], r["problem_id"], r["sample_idx"]): r for r in rows if r["judge"] == "combined"}, "combined"
    votes: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    for r in rows:
        votes[(r["run_id"], r["problem_id"], r["sample_idx"])].append(r)
    chosen = {}
    for key, vs in votes.items():
        located = [v for v in vs if v["error_type"]] or vs
        top_type = Counter(v["error_type"] for v in located).most_common(1)[0][0]
        agreeing = [v for v in located if v["error_type"] == top_type]
        steps = Counter(v["first_error_step"] for v in agreeing if v["first_error_step"] is not None)
        chosen[key] = dict(agreeing[0], first_error_step=steps.most_common(1)[0][0] if steps else None)
    return chosen, "majority of judges"


def error_tables(data: ReportData, judge: str | None = None) -> list[ReportTable]:
    diag, source = _diagnoses(data, judge)
    if not diag:
        return []
    by_run: dict[str, list[dict]] = defaultdict(list)
    for (run_id, _p, _s), d in diag.items():
        by_run[run_id].append(d)
    from qmr_core.diagnose.taxonomy import capability_of  # the taxonomy's own roll-up

    tables = []
    for name, title, order, field_ in (
        ("error_types", f"Error types of wrong answers ({source})", ERROR_TYPE_ORDER, "error_type"),
        ("capabilities", f"Capabilities lost ({source})", CAPABILITY_ORDER, "capability"),
    ):
        cols, kinds = _run_cols(data)
        cols += ["diagnosed"] + [c if len(c) < 14 else c.split()[0] for c in order] + ["unlocated", "run"]
        kinds += [INT] + [PCT] * (len(order) + 1) + [TEXT]
        t = ReportTable(name, title + ", % of diagnosed wrong samples", cols, kinds)
        for r in sorted(data.runs, key=_sort_key):
            ds = by_run.get(r.run_id)
            if not ds:
                continue
            values = []
            for d in ds:
                v = d.get(field_)
                if field_ == "capability" and v is None and d.get("error_type"):
                    try:
                        v = capability_of(d["error_type"])
                    except QmrError:
                        v = None
                values.append(v)
            counts = Counter(values)
            n = len(ds)
            t.rows.append(_run_cells(data, r) + [n] + [counts.get(c, 0) / n for c in order] + [counts.get(None, 0) / n, r.run_id])
        tables.append(t)
    return tables


def first_error_positions(data: ReportData, judge: str | None = None) -> dict[str, list[float]]:
    """run -> relative first-error positions ((step + 1) / n_steps) of its diagnosed samples."""
    diag, _ = _diagnoses(data, judge)
    n_steps = {
        (r, p, s): n
        for r, p, s, n in data.store.query(
            "SELECT run_id, problem_id, sample_idx, n_steps FROM samples WHERE run_id IN (SELECT unnest(?))",
            [[r.run_id for r in data.runs]],
        )
    }
    out: dict[str, list[float]] = defaultdict(list)
    for key, d in diag.items():
        step, n = d.get("first_error_step"), n_steps.get(key)
        if step is not None and n and 0 <= step < n:
            out[key[0]].append((step + 1) / n)
    return out


def first_error_table(data: ReportData, judge: str | None = None) -> ReportTable | None:
    positions = first_error_positions(data, judge)
    if not positions:
        return None
    cols, kinds = _run_cols(data)
    cols += ["located", "mean pos.", "median pos.", "early (%)", "run"]
    kinds += [INT, FLOAT, FLOAT, PCT, TEXT]
    t = ReportTable("first_error", "Where the first error falls: (wrong step) / (steps in the trace)", cols, kinds)
    for r in sorted(data.runs, key=_sort_key):
        pos = positions.get(r.run_id)
        if not pos:
            continue
        t.rows.append(_run_cells(data, r) + [len(pos), statistics.fmean(pos), statistics.median(pos),
                                             sum(p <= EARLY for p in pos) / len(pos), r.run_id])
    t.note = f"position = first wrong step (1-based) / steps in the trace; early = position <= {EARLY:.2f}."
    return t


def flips_table(data: ReportData) -> ReportTable | None:
    """Teacher forcing (`qmr diagnose` with a base run): where the quantized model first disagrees with the base trace."""
    if not _has_table(data.store, "flips"):
        return None
    rows = data.store.query(
        """SELECT f.quant_run_id, count(*), avg(CASE WHEN f.first_flip_token IS NULL THEN 0.0 ELSE 1.0 END),
                  avg((f.first_flip_step + 1.0) / nullif(s.n_steps, 0)), avg(f.mean_logprob)
           FROM flips f LEFT JOIN samples s ON s.run_id = f.base_run_id AND s.problem_id = f.problem_id AND s.sample_idx = f.sample_idx
           WHERE f.quant_run_id IN (SELECT unnest(?)) GROUP BY 1""",
        [[r.run_id for r in data.runs]],
    )
    if not rows:
        return None
    stats = {r[0]: r[1:] for r in rows}
    cols, kinds = _run_cols(data)
    cols += ["traces", "diverge (%)", "mean flip pos.", "mean logprob", "run"]
    kinds += [INT, PCT, FLOAT, FLOAT, TEXT]
    t = ReportTable("teacher_forcing", "Teacher-forced base traces: first token the quantized model would change", cols, kinds)
    for r in sorted(data.runs, key=_sort_key):
        if r.run_id in stats:
            t.rows.append(_run_cells(data, r) + list(stats[r.run_id]) + [r.run_id])
    t.note = "flip pos. = step of the first flipped token (1-based) / steps in the base trace."
    return t


def external_verdicts_table(data: ReportData) -> ReportTable | None:
    """Imported runs: the other tool's own per-sample verdicts against qmr's regrade of the same outputs."""
    from qmr_core.importers.verdicts import agreement

    found = agreement(data.store, [r.run_id for r in data.runs])
    if not found:
        return None
    by_run = {r.run_id: r for r in data.runs}
    cols, kinds = _run_cols(data)
    cols += ["tool", "metric", "n", "tool acc (%)", "qmr acc (%)", "disagree", "run"]
    kinds += [TEXT, TEXT, INT, PCT, PCT, INT, TEXT]
    t = ReportTable("external_verdicts", "Imported runs: the tool's own verdict vs qmr's regrade", cols, kinds)
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
    "FORMATS", "ReportData", "ReportTable", "build_report", "first_error_positions",
]
