"""Import lm-evaluation-harness ``--log_samples`` output for its MATH and GSM8K tasks.

lm-eval writes, per model, ``results_<date>.json`` (configs, metrics, model args) and one
``samples_<task>_<date>.jsonl`` per task, with one line per (document, filter): ``doc_id``, ``doc``,
``arguments`` (the exact prompt), ``resps`` (raw generations; several with ``repeats``),
``filtered_resps`` and the task's metrics. Each task becomes one qmr run whose samples are regraded
by qmr's grader and split into steps, exactly as `qmr eval` does; lm-eval's own verdicts are kept in
the run's engine_json and compared in the import summary.

Tasks and benchmarks: ``gsm8k`` and ``gsm8k_cot*`` -> gsm8k; ``minerva_math500``, ``hendrycks_math500``
and any task named like math500 -> math500; ``minerva_math_<subject>`` and ``hendrycks_math_<subject>``
-> math (subject from the task name). Other tasks are skipped with a note.

Problem ids. A document is matched to qmr's own problem of that benchmark (the ``math``, ``math500``
or ``gsm8k`` files qmr loads) by its problem text, whitespace-normalized, so imported and native runs
share ids (``math500/test/algebra/1.json``, ``gsm8k/test/17``) and compare problem by problem;
matched problems keep qmr's gold answer, subject and level. lm-eval's MATH tasks drop the ids and
levels from their documents, which is why text is the key. Without qmr's data files: GSM8K documents
take ``gsm8k/test/<doc_id>`` (lm-eval's doc_id is the row of the test split, the file order qmr
uses); a document with a ``unique_id`` keeps it; any other takes ``<benchmark>/lm-eval/<sha256 of
the problem text, 12 hex>``, stable across imports, shared by every import of the same problem, but
not by native runs. The gold answer of an unmatched MATH document is the last ``\\boxed{}`` of its
reference solution, as qmr's loader does (not minerva's normalized ``answer`` field).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qmr_core.benchmarks import LoadReport, Problem, _row_to_problem, load_benchmark
from qmr_core.engines.base import Generation
from qmr_core.errors import QmrError
from qmr_core.evaluate import register_model, sample_rows, store_problems, write_batch
from qmr_core.model_registry import ModelRef, resolve_model
from qmr_core.store import Store, upsert_rows

ENGINE = "lm-eval"
BATCH = 256

MATH_SUBJECTS = {
    "algebra": "Algebra",
    "counting_and_prob": "Counting & Probability",
    "counting_and_probability": "Counting & Probability",
    "geometry": "Geometry",
    "intermediate_algebra": "Intermediate Algebra",
    "num_theory": "Number Theory",
    "number_theory": "Number Theory",
    "prealgebra": "Prealgebra",
    "precalc": "Precalculus",
    "precalculus": "Precalculus",
}
_SAMPLES_FILE = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")


def task_benchmark(task: str) -> tuple[str, str | None] | None:
    """(benchmark, subject) for a task lm-eval names; None for tasks qmr does not import."""
    t = task.lower()
    if t == "gsm8k" or t.startswith("gsm8k_cot"):
        return "gsm8k", None
    if re.search(r"math_?500", t):
        return "math500", None
    m = re.fullmatch(r"(?:minerva_math|hendrycks_math)(?:_(?P<subj>[a-z_]+))?", t)
    if m:
        subj = m.group("subj")
        if subj is None:
            return "math", None
        if subj in MATH_SUBJECTS:
            return "math", MATH_SUBJECTS[subj]
    return None


@dataclass(frozen=True)
class ModelOverride:
    model_id: str | None = None
    base_model_id: str | None = None
    method: str | None = None
    bits: int | None = None
    group_size: int | None = None


@dataclass
class ImportResult:
    run_id: str
    task: str
    benchmark: str
    model_id: str
    n_problems: int = 0
    n_samples: int = 0
    n_mapped: int = 0
    qmr_score: float = 0.0
    lm_eval_score: float | None = None
    lm_eval_metric: str | None = None
    n_disagree: int | None = None
    notes: list[str] = field(default_factory=list)


# -- files --------------------------------------------------------------------------------------


def find_sample_files(path: Path) -> list[Path]:
    if not path.exists():
        raise QmrError(f"{path} does not exist")
    if path.is_file():
        if not _SAMPLES_FILE.match(path.name):
            raise QmrError(f"{path.name} is not an lm-eval samples file (samples_<task>_<date>.jsonl)")
        return [path]
    files = sorted(p for p in path.rglob("samples_*.jsonl") if _SAMPLES_FILE.match(p.name))
    if not files:
        raise QmrError(f"no lm-eval samples_<task>_<date>.jsonl files under {path} (was lm-eval run with --log_samples?)")
    return files


def _task_of(samples_file: Path) -> str:
    m = _SAMPLES_FILE.match(samples_file.name)
    assert m is not None
    return m.group("task")


def results_for(samples_file: Path) -> dict:
    """The results_<date>.json written with a samples file (same folder, same date stamp)."""
    m = _SAMPLES_FILE.match(samples_file.name)
    assert m is not None
    candidate = samples_file.with_name(f"results_{m.group('date')}.json")
    if not candidate.is_file():
        raise QmrError(f"{candidate.name} is missing next to {samples_file.name}: lm-eval writes both; "
                       "qmr needs it for the model and the task config")
    try:
        return json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QmrError(f"cannot read {candidate}: {exc}") from exc


def read_samples(path: Path) -> list[dict]:
    """One record per document: lm-eval logs a document once per filter, with the same responses."""
    docs: dict[int, dict] = {}
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise QmrError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                doc_id = int(rec["doc_id"])
                resps = rec["resps"]
                if not isinstance(rec["doc"], dict):
                    raise TypeError("doc is not an object")
            except (ValueError, KeyError, TypeError) as exc:
                raise QmrError(f"{path.name}:{line_no}: not an lm-eval sample record ({exc})") from None
            entry = docs.setdefault(doc_id, {"doc_id": doc_id, "doc": rec["doc"], "resps": resps,
                                             "arguments": rec.get("arguments"), "metrics": {}})
            metric_names = rec.get("metrics") or []
            entry["metrics"][rec.get("filter", "none")] = {k: rec.get(k) for k in metric_names}
    return [docs[k] for k in sorted(docs)]


def _generations(resps: Any) -> list[str]:
    """Raw generations of a document: resps is [[text, ...]] (one request, one text per repeat)."""
    if isinstance(resps, list) and resps and isinstance(resps[0], list):
        resps = resps[0]
    if isinstance(resps, str):
        return [resps]
    return [r if isinstance(r, str) else str(r) for r in resps or []]


def _prompt(arguments: Any) -> str | None:
    if isinstance(arguments, dict):  # {"gen_args_0": {"arg_0": context, "arg_1": gen_kwargs}}
        first = arguments.get("gen_args_0") or {}
        value = first.get("arg_0") if isinstance(first, dict) else None
    elif isinstance(arguments, list) and arguments:
        value = arguments[0][0] if isinstance(arguments[0], list) and arguments[0] else arguments[0]
    else:
        value = None
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- identity -----------------------------------------------------------------------------------


def parse_model_args(text: Any) -> dict[str, str]:
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    out: dict[str, str] = {}
    for part in str(text or "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def model_ref(results: dict, override: ModelOverride) -> ModelRef:
    cfg = results.get("config") or {}
    args = parse_model_args(cfg.get("model_args"))
    backend = str(cfg.get("model") or "")
    name = args.get("pretrained") or args.get("model") or results.get("model_name") or ""
    if override.model_id:
        ref = ModelRef(override.model_id, override.model_id, name or override.model_id, "lm-eval")
    elif not name:
        raise QmrError("the results file names no model (config.model_args has no pretrained= or model=); pass --model-id")
    elif "completions" in backend:  # an OpenAI-compatible server: the same identity as qmr's openai engine
        from qmr_core.engines.openai_api import served_model_ref

        ref = served_model_ref(name)
    else:
        try:
            ref = resolve_model(name)  # a local folder / hub id: the same model row as `qmr eval` uses
        except QmrError:
            ref = ModelRef(f"lm-eval:{name}", name, name, "lm-eval")
    if override.base_model_id or override.method:
        ref = ModelRef(ref.model_id, ref.name, ref.source, ref.kind, None, override.base_model_id or ref.base_model_id)
    return ref


def _decoding(cfg: dict) -> dict:
    gen = dict(cfg.get("generation_kwargs") or {})
    sampling = bool(gen.get("do_sample")) and float(gen.get("temperature") or 0) > 0
    until = gen.get("until")
    return {
        "max_new_tokens": gen.get("max_gen_toks", 256),  # lm-eval's default budget
        "temperature": float(gen.get("temperature") or 0) if sampling else 0.0,
        "top_p": gen.get("top_p") if sampling else None,
        "n_samples": int(cfg.get("repeats") or 1),
        "seed": None,
        "stop": [until] if isinstance(until, str) else until,
    }


PROMPT_KEYS = ("doc_to_text", "description", "num_fewshot", "fewshot_config", "target_delimiter", "fewshot_delimiter",
               "fewshot_split", "doc_to_target")


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable(value: Any) -> Any:
    """lm-eval writes some config entries as '<function f at 0x7f...>': drop the address, which changes every run."""
    if isinstance(value, str):
        return _ADDRESS.sub("", value)
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _prompt_text(task: str, cfg: dict, results: dict) -> str:
    """The prompt recipe (lm-eval's config, not one rendered prompt: each sample keeps its exact prompt)."""
    recipe = {k: _stable(cfg.get(k)) for k in PROMPT_KEYS if cfg.get(k) is not None}
    recipe["num_fewshot"] = (results.get("n-shot") or {}).get(task, recipe.get("num_fewshot"))
    for k in ("chat_template_sha", "system_instruction_sha", "fewshot_as_multiturn"):
        if results.get(k) is not None:
            recipe[k] = results[k]
    return f"lm-eval task {task}\n" + json.dumps(recipe, sort_keys=True, ensure_ascii=False, default=str)


def _run_id(model_id: str, benchmark: str, prompt_text: str, decoding: dict, engine_key: dict) -> str:
    identity = {"model": model_id, "benchmark": benchmark, "prompt": prompt_text, "decoding": decoding, "engine": engine_key}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


# -- problems -----------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.split())


class ProblemIndex:
    """qmr's own problems of a benchmark, by normalized text (loaded once, None when not available)."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, Problem] | None] = {}

    def get(self, benchmark: str) -> dict[str, Problem] | None:
        if benchmark not in self._cache:
            try:
                problems = load_benchmark(benchmark, LoadReport(benchmark))
            except QmrError:
                self._cache[benchmark] = None
            else:
                index: dict[str, Problem] = {}
                for p in problems:
                    index.setdefault(_norm(p.problem), p)
                self._cache[benchmark] = index
        return self._cache[benchmark]


def map_problem(doc: dict, doc_id: int, benchmark: str, subject: str | None, index: dict[str, Problem] | None) -> tuple[Problem, str]:
    """(problem, how it was mapped: 'text' | 'doc_id' | 'unique_id' | 'hash')."""
    text = doc.get("problem") if benchmark != "gsm8k" else doc.get("question")
    if not isinstance(text, str) or not text.strip():
        raise QmrError(f"document {doc_id} has no {'question' if benchmark == 'gsm8k' else 'problem'} text")
    if index is not None and (found := index.get(_norm(text))) is not None:
        return found, "text"
    if benchmark == "gsm8k":
        row = {"question": text, "answer": doc.get("answer")}
        if index is None:  # qmr's GSM8K file is absent: lm-eval's doc_id is the test-split row
            return _row_to_problem(row, benchmark, doc_id + 1), "doc_id"
        row["unique_id"] = f"lm-eval/{hashlib.sha256(_norm(text).encode()).hexdigest()[:12]}"
        return _row_to_problem(row, benchmark, doc_id + 1), "hash"
    row = {"problem": text, "solution": doc.get("solution") or "", "subject": doc.get("subject") or doc.get("type") or subject,
           "level": doc.get("level")}
    if not re.search(r"\\boxed", row["solution"]):
        row["answer"] = doc.get("answer")
    how = "unique_id" if doc.get("unique_id") and index is None else "hash"
    row["unique_id"] = doc["unique_id"] if how == "unique_id" else f"lm-eval/{hashlib.sha256(_norm(text).encode()).hexdigest()[:12]}"
    return _row_to_problem(row, benchmark, doc_id + 1), how


# -- import -------------------------------------------------------------------------------------


def _lm_eval_metric(task_results: dict) -> tuple[str | None, str | None, float | None]:
    """(metric, filter, value) lm-eval reports for a task: math_verify, else exact_match; strict filter first."""
    found: dict[tuple[str, str], float] = {}
    for key, value in task_results.items():
        metric, sep, filt = key.partition(",")
        if sep and isinstance(value, (int, float)) and not metric.endswith("_stderr"):
            found[(metric, filt)] = float(value)
    for metric in ("math_verify", "exact_match", "acc"):
        for filt in ("none", "strict-match", "flexible-extract"):
            if (metric, filt) in found:
                return metric, filt, found[(metric, filt)]
        for (m, f), v in found.items():
            if m == metric:
                return m, f, v
    return None, None, None


def import_samples_file(store: Store, path: Path, override: ModelOverride, index: ProblemIndex,
                        on_progress: Callable[[int], None] | None = None) -> ImportResult | None:
    task = _task_of(path)
    bench = task_benchmark(task)
    if bench is None:
        return None
    benchmark, subject = bench
    results = results_for(path)
    cfg = (results.get("configs") or {}).get(task) or {}
    ref = model_ref(results, override)
    decoding = _decoding(cfg)
    prompt_text = _prompt_text(task, cfg, results)
    lm_cfg = results.get("config") or {}
    engine_key = {"engine": ENGINE, "backend": lm_cfg.get("model"), "model_args": _stable(lm_cfg.get("model_args"))}
    run_id = _run_id(ref.model_id, benchmark, prompt_text, decoding, engine_key)
    docs = read_samples(path)
    if not docs:
        raise QmrError(f"{path.name} holds no samples")
    result = ImportResult(run_id, task, benchmark, ref.model_id)
    local = index.get(benchmark)
    if local is None:
        result.notes.append(f"qmr's {benchmark} data is not available here: ids are not checked against it")

    mapped: list[tuple[dict, Problem]] = []
    how_counts: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = {}
    for d in docs:
        problem, how = map_problem(d["doc"], d["doc_id"], benchmark, subject, local)
        if problem.problem_id in seen:  # two documents, one problem (duplicate text): keep the first
            result.notes.append(f"doc {d['doc_id']} repeats doc {seen[problem.problem_id]} ({problem.problem_id}); skipped")
            continue
        seen[problem.problem_id] = d["doc_id"]
        how_counts[how] += 1
        mapped.append((d, problem))
    result.n_problems = len(mapped)
    result.n_mapped = how_counts["text"]
    unmatched = result.n_problems - how_counts["text"]
    if local is not None and unmatched:
        result.notes.append(f"{unmatched} documents not found in qmr's {benchmark} by text: stored under {benchmark}/lm-eval/<hash> ids")
    if how_counts["doc_id"]:
        result.notes.append(f"{how_counts['doc_id']} GSM8K ids taken from lm-eval's doc_id (test/<doc_id>), unverified")

    extra: dict[str, Any] = {}
    if override.method:
        extra.update(method=override.method, bits=override.bits, group_size=override.group_size, backend=ENGINE)
    if override.base_model_id:
        extra["base_model_id"] = override.base_model_id
    register_model(store, ref, extra or None)
    store_problems(store, [p for _, p in mapped])
    metric, filt, score = _lm_eval_metric((results.get("results") or {}).get(task) or {})
    engine_json = {
        "engine": ENGINE, "source": str(path), "lm_eval_version": results.get("lm_eval_version"),
        "backend": lm_cfg.get("model"), "model_args": lm_cfg.get("model_args"), "task": task,
        "task_version": (results.get("versions") or {}).get(task), "limit": lm_cfg.get("limit"),
        "lm_eval_results": (results.get("results") or {}).get(task), "date": results.get("date"),
        "transformers_version": results.get("transformers_version"),
    }
    with store.transaction() as con:
        exists = con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone()
        row = {"run_id": run_id, "model_id": ref.model_id, "benchmark": benchmark, "prompt_template": f"lm-eval:{task}",
               "prompt_text": prompt_text, "decoding_json": json.dumps(decoding, sort_keys=True),
               "engine": ENGINE, "engine_json": json.dumps(engine_json, sort_keys=True, default=str), "status": "done"}
        if exists:
            con.execute("UPDATE runs SET engine_json = ?, status = 'done', finished_at = current_timestamp WHERE run_id = ?",
                        [row["engine_json"], run_id])
        else:
            upsert_rows(con, "runs", [row])
            con.execute("UPDATE runs SET finished_at = current_timestamp WHERE run_id = ?", [run_id])

    n_right = 0
    disagree = 0
    comparable = 0
    samples: list[dict] = []
    steps: list[dict] = []
    for d, problem in mapped:
        texts = _generations(d["resps"])
        prompt = _prompt(d["arguments"])
        lm_verdict = None
        if metric and len(texts) == 1:
            per_filter = d["metrics"].get(filt) or next(iter(d["metrics"].values()), {})
            value = per_filter.get(metric)
            lm_verdict = bool(value) if isinstance(value, (int, float, bool)) else None
        for idx, text in enumerate(texts):
            gen = Generation(text=text, prompt=prompt or "", n_prompt_tokens=0, n_tokens=0, finish_reason="", latency_ms=0.0)
            sample, sample_steps = sample_rows(run_id, problem, idx, gen)
            # lm-eval logs no token counts, finish reasons or timings: unknown, not zero
            sample.update(prompt=prompt, n_prompt_tokens=None, n_tokens=None, latency_ms=None, finish_reason=None)
            samples.append(sample)
            steps += sample_steps
            n_right += int(sample["correct"])
            if lm_verdict is not None:
                comparable += 1
                disagree += int(lm_verdict != sample["correct"])
        if len(samples) >= BATCH:
            write_batch(store, samples, steps)
            if on_progress:
                on_progress(len(samples))
            samples, steps = [], []
    if samples:
        write_batch(store, samples, steps)
        if on_progress:
            on_progress(len(samples))
    result.n_samples = sum(len(_generations(d["resps"])) for d, _ in mapped)
    result.qmr_score = n_right / result.n_samples if result.n_samples else 0.0
    result.lm_eval_score, result.lm_eval_metric = score, (f"{metric},{filt}" if metric else None)
    result.n_disagree = disagree if comparable else None
    return result


def import_lm_eval(store: Store, path: Path, override: ModelOverride | None = None,
                   on_progress: Callable[[int], None] | None = None) -> list[ImportResult]:
    """Import every MATH / GSM8K samples file under ``path``; returns one result per imported task."""
    override = override or ModelOverride()
    if override.base_model_id and not override.method:
        raise QmrError("--base-model marks a quantized model: give --method (and --bits) too")
    index = ProblemIndex()
    files = find_sample_files(path)
    if override.model_id:
        names = {str((results_for(f).get("config") or {}).get("model_args")) for f in files if task_benchmark(_task_of(f))}
        if len(names) > 1:
            raise QmrError(f"{path} holds results of {len(names)} different models; --model-id names one: "
                           "import each model's folder on its own")
    results = []
    skipped = []
    for f in files:
        r = import_samples_file(store, f, override, index, on_progress)
        if r is None:
            skipped.append(_task_of(f))
        else:
            results.append(r)
    if not results:
        raise QmrError(f"no MATH or GSM8K task among {', '.join(sorted(set(skipped)))} (qmr imports gsm8k, gsm8k_cot*, "
                       "minerva_math*, hendrycks_math*)")
    if skipped and results:
        results[0].notes.append(f"skipped tasks qmr does not import: {', '.join(sorted(set(skipped)))}")
    return results
