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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qmr_core.benchmarks.problems import Problem, row_to_problem
from qmr_core.errors import QmrError
from qmr_core.importers.common import (
    ImportedSample, ImportResult, ModelOverride, ProblemIndex, RunSpec, benchmark_name, model_ref_from_name, norm_text, write_run,
)
from qmr_core.models.registry import ModelRef
from qmr_core.store import Store

__all__ = ["BenchmarkChoice", "ImportResult", "ModelOverride", "import_lm_eval", "map_problem", "task_benchmark"]

ENGINE = "lm-eval"

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
    """(benchmark, subject) for a task lm-eval names; None for tasks qmr does not recognize by name."""
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
class BenchmarkChoice:
    """Which qmr benchmark a task is: `--task TASK=BENCH` first, then `--benchmark BENCH`, then the task's name.

    A benchmark is a name qmr knows (math, math500, gsm8k, sample) or a JSONL path in MATH / GSM8K layout;
    the task's documents are matched to its problems by text.
    """

    default: str | None = None
    per_task: tuple[tuple[str, str], ...] = ()

    def for_task(self, task: str) -> tuple[str, str | None] | None:
        """(benchmark spec, subject) or None when the task is not one to import."""
        for name, bench in self.per_task:
            if name == task:
                return bench, None
        if self.default:
            return self.default, None
        return task_benchmark(task)

    @staticmethod
    def parse(benchmark: str | None, tasks: list[str] | None) -> "BenchmarkChoice":
        pairs = []
        for item in tasks or []:
            task, sep, bench = item.partition("=")
            if not sep or not task.strip() or not bench.strip():
                raise QmrError(f"--task takes TASK=BENCHMARK (e.g. gsm8k_local=gsm8k), not '{item}'")
            pairs.append((task.strip(), bench.strip()))
        return BenchmarkChoice(benchmark.strip() if benchmark else None, tuple(pairs))


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
            filt = rec.get("filter", "none")
            entry["metrics"][filt] = {k: rec.get(k) for k in metric_names}
            entry.setdefault("filtered", {})[filt] = rec.get("filtered_resps")
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
    if "completions" in backend and name and not override.model_id:  # a server: the same identity as qmr's openai engine
        from qmr_core.engines.openai_options import served_model_ref

        return override.apply(served_model_ref(name))
    if not name and not override.model_id:
        raise QmrError("the results file names no model (config.model_args has no pretrained= or model=); pass --model-id")
    return override.apply(model_ref_from_name(name, override.model_id, ENGINE))


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


# -- problems -----------------------------------------------------------------------------------


def _doc_text(doc: dict) -> str | None:
    for key in ("problem", "question"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def map_problem(doc: dict, doc_id: int, benchmark: str, subject: str | None, index: dict[str, Problem] | None) -> tuple[Problem, str]:
    """(problem, how it was mapped: 'text' | 'doc_id' | 'unique_id' | 'hash')."""
    text = _doc_text(doc)
    if text is None:
        raise QmrError(f"document {doc_id} has no 'problem' or 'question' text: is this task a MATH or GSM8K task?")
    if index is not None and (found := index.get(norm_text(text))) is not None:
        return found, "text"
    hashed = f"lm-eval/{hashlib.sha256(norm_text(text).encode()).hexdigest()[:12]}"
    if "question" in doc and "problem" not in doc:  # GSM8K layout
        row: dict[str, Any] = {"question": text, "answer": doc.get("answer")}
        if index is None and benchmark == "gsm8k":  # qmr's GSM8K file is absent: lm-eval's doc_id is the test-split row
            return row_to_problem(row, benchmark, doc_id + 1), "doc_id"
        row["unique_id"] = hashed
        return row_to_problem(row, benchmark, doc_id + 1), "hash"
    row = {"problem": text, "solution": doc.get("solution") or "", "subject": doc.get("subject") or doc.get("type") or subject,
           "level": doc.get("level")}
    if not re.search(r"\\boxed", row["solution"]):
        row["answer"] = doc.get("answer")
    how = "unique_id" if doc.get("unique_id") and index is None else "hash"
    row["unique_id"] = doc["unique_id"] if how == "unique_id" else hashed
    return row_to_problem(row, benchmark, doc_id + 1), how


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


def _doc_verdicts(doc: dict) -> list[tuple[str, Any, str | None]]:
    """lm-eval's own verdict for each (metric, filter) of a document, with the answer that filter extracted."""
    out = []
    for filt, metrics in doc["metrics"].items():
        filtered = (doc.get("filtered") or {}).get(filt)
        extracted = filtered[0] if isinstance(filtered, list) and filtered else filtered
        if isinstance(extracted, list):
            extracted = extracted[0] if extracted else None
        for metric, value in metrics.items():
            out.append((f"{metric},{filt}", value, None if extracted is None else str(extracted)))
    return out


def _map_docs(docs: list[dict], benchmark: str, subject: str | None, local: dict[str, Problem] | None,
              result: ImportResult) -> list[tuple[dict, Problem]]:
    """Each document's qmr problem (the first of documents sharing one), with notes on how they were found."""
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
    return mapped


def _samples(mapped: list[tuple[dict, Problem]]) -> list[ImportedSample]:
    samples: list[ImportedSample] = []
    for d, problem in mapped:
        texts = _generations(d["resps"])
        prompt = _prompt(d["arguments"])
        # with repeats lm-eval logs one aggregated value per document, not per sample: no per-sample verdicts
        verdicts = _doc_verdicts(d) if len(texts) == 1 else []
        samples += [ImportedSample(problem, idx, text, prompt, verdicts=verdicts if idx == 0 else [])
                    for idx, text in enumerate(texts)]
    return samples


def _run_spec(path: Path, task: str, results: dict, ref: ModelRef, benchmark: str) -> RunSpec:
    cfg = (results.get("configs") or {}).get(task) or {}
    lm_cfg = results.get("config") or {}
    engine_key = {"engine": ENGINE, "backend": lm_cfg.get("model"), "model_args": _stable(lm_cfg.get("model_args"))}
    engine_json = {
        "engine": ENGINE, "source": str(path), "lm_eval_version": results.get("lm_eval_version"),
        "backend": lm_cfg.get("model"), "model_args": lm_cfg.get("model_args"), "task": task,
        "task_version": (results.get("versions") or {}).get(task), "limit": lm_cfg.get("limit"),
        "lm_eval_results": (results.get("results") or {}).get(task), "date": results.get("date"),
        "transformers_version": results.get("transformers_version"),
    }
    return RunSpec(ENGINE, ref, benchmark, f"lm-eval:{task}", _prompt_text(task, cfg, results), _decoding(cfg), engine_key,
                   engine_json)


def import_samples_file(store: Store, path: Path, override: ModelOverride, index: ProblemIndex,
                        on_progress: Callable[[int], None] | None = None,
                        choice: BenchmarkChoice | None = None) -> ImportResult | None:
    task = _task_of(path)
    bench = (choice or BenchmarkChoice()).for_task(task)
    if bench is None:
        return None
    spec, subject = bench
    benchmark = benchmark_name(spec)
    results = results_for(path)
    ref = model_ref(results, override)
    run = _run_spec(path, task, results, ref, benchmark)
    docs = read_samples(path)
    if not docs:
        raise QmrError(f"{path.name} holds no samples")
    local = index.get(spec)
    result = ImportResult("", task, benchmark, ref.model_id)
    if local is None:
        result.notes.append(f"qmr's {benchmark} data is not available here: ids are not checked against it")
    mapped = _map_docs(docs, benchmark, subject, local, result)
    metric, filt, score = _lm_eval_metric((results.get("results") or {}).get(task) or {})
    primary = f"{metric},{filt}" if metric else None
    written = write_run(store, run, _samples(mapped), override.model_extra(ENGINE), on_progress, primary_metric=primary)
    result.add_written(run.run_id, written, score, primary)
    return result


def import_lm_eval(store: Store, path: Path, override: ModelOverride | None = None,
                   on_progress: Callable[[int], None] | None = None,
                   choice: BenchmarkChoice | None = None) -> list[ImportResult]:
    """Import every MATH / GSM8K samples file under ``path``; returns one result per imported task."""
    override = override or ModelOverride()
    choice = choice or BenchmarkChoice()
    override.check()
    index = ProblemIndex()
    for spec in {s for s in (choice.default, *(b for _, b in choice.per_task)) if s is not None}:
        index.require(spec)
    files = find_sample_files(path)
    if override.model_id:
        names = {str((results_for(f).get("config") or {}).get("model_args")) for f in files if choice.for_task(_task_of(f))}
        if len(names) > 1:
            raise QmrError(f"{path} holds results of {len(names)} different models; --model-id names one: "
                           "import each model's folder on its own")
    results = []
    skipped = []
    for f in files:
        r = import_samples_file(store, f, override, index, on_progress, choice)
        if r is None:
            skipped.append(_task_of(f))
        else:
            results.append(r)
    if not results:
        raise QmrError(f"no MATH or GSM8K task among {', '.join(sorted(set(skipped)))}: qmr recognizes gsm8k, gsm8k_cot*, "
                       "minerva_math*, hendrycks_math* by name; for another task say which benchmark it is with "
                       "--benchmark gsm8k (every task) or --task NAME=gsm8k")
    if skipped and results:
        results[0].notes.append(f"skipped tasks qmr does not import: {', '.join(sorted(set(skipped)))}")
    return results
