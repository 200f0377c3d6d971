"""Import lighteval ``--save-details`` output (details parquet files) for MATH and GSM8K tasks.

lighteval writes, per run, ``<output-dir>/details/<model>/<date>/details_<task>|<shots>_<date>.parquet``
(one row per document: ``doc``, ``model_response``, ``metric``) and
``<output-dir>/results/<model>/results_<date>.json`` (model config, task configs, aggregated metrics).
Each details file becomes one qmr run: its generations regraded by qmr's grader and split into steps,
exactly as `qmr eval` stores its own, with lighteval's per-document metrics kept beside them.

What lighteval does not log is rebuilt the way lighteval built it. The transformers backend stores the
prompt only as token ids, so the prompt is the document's turns (model system prompt, few-shot examples,
instruction, query) rendered with the model's own chat template, as lighteval's PromptManager does
(or joined by blank lines, lighteval's plain-text layout, without one). Backends that log the prompt
(vLLM, endpoints) keep theirs.

Benchmark: ``--benchmark``, else the task's name (gsm8k*, math_500 / math500, math*), else the qmr
benchmark (gsm8k, math500, math) whose problems most documents quote. Documents are matched to qmr's
problems by text; the query may be the whole prompt, so the problem is found inside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qmr_core.benchmarks.problems import Problem
from qmr_core.errors import QmrError
from qmr_core.importers.chat_render import render_messages
from qmr_core.importers.common import (
    ImportedSample, ImportResult, ModelOverride, ProblemIndex, RunSpec, benchmark_name, find_problem_text, math_or_gsm8k_problem,
    model_ref_from_name, write_run,
)
from qmr_core.models.registry import ModelRef
from qmr_core.benchmarks.prompts import Messages
from qmr_core.store import Store

ENGINE = "lighteval"
_DETAILS_FILE = re.compile(r"^details_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.]+|latest)\.parquet$")
_METRIC_ORDER = ("extractive_match", "math_pass@1:1_samples", "em", "exact_match", "quasi_exact_match", "acc")
DETECT_ORDER = ("gsm8k", "math500", "math")


# -- files --------------------------------------------------------------------------------------


def find_details_files(path: Path) -> list[Path]:
    if not path.exists():
        raise QmrError(f"{path} does not exist")
    if path.is_file():
        if path.suffix != ".parquet":
            raise QmrError(f"{path.name} is not a lighteval details file (details_<task>_<date>.parquet)")
        return [path]
    files = sorted(path.rglob("details_*.parquet"))
    if not files:
        raise QmrError(f"no lighteval details_<task>_<date>.parquet files under {path} (was lighteval run with --save-details?)")
    return files


def read_details(path: Path) -> list[dict]:
    """The file's rows, each with lighteval's ``doc``, ``model_response`` and ``metric`` records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=None)
    except (OSError, pa.ArrowException) as exc:
        raise QmrError(f"cannot read {path.name} as a parquet file: {exc}") from None
    missing = {"doc", "model_response", "metric"} - set(table.column_names)
    if missing:
        raise QmrError(f"{path.name} has no {', '.join(sorted(missing))} column: not a lighteval (0.9 or later) details file "
                       f"(its columns: {', '.join(table.column_names[:8])})")
    rows = table.to_pylist()
    for i, row in enumerate(rows, start=1):
        if not isinstance(row["doc"], dict) or not isinstance(row["model_response"], dict):
            raise QmrError(f"{path.name}: row {i} has no doc / model_response record")
    return rows


def task_of(path: Path, rows: list[dict]) -> tuple[str, str | None]:
    """(task name without the few-shot suffix, date id) from the file name, else from the documents."""
    m = _DETAILS_FILE.match(path.name)
    full = m.group("task") if m else str((rows[0]["doc"] if rows else {}).get("task_name") or path.stem)
    return task_name(full), m.group("date") if m else None


def task_name(full: str) -> str:
    """'gsm8k_plain|0' and the older 'suite|gsm8k_plain|0' -> 'gsm8k_plain'."""
    parts = full.split("|")
    if len(parts) >= 2 and parts[-1].isdigit():
        return parts[-2]
    return parts[-1]


def results_for(path: Path, date: str | None) -> dict:
    """The results_<date>.json of the same run: <output-dir>/results/<model>/, next to <output-dir>/details/."""
    if date is None:
        return {}
    for folder in path.parents:
        if folder.name == "details":
            found = sorted((folder.parent / "results").rglob(f"results_{date}.json"))
            if found:
                try:
                    return json.loads(found[0].read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise QmrError(f"cannot read {found[0]}: {exc}") from None
            break
    return {}


# -- identity -----------------------------------------------------------------------------------


def model_from_path(path: Path) -> str:
    """lighteval's model name as its details folder spells it: details/<model_name>/<date>/ (a hub id org/name)."""
    for folder in path.parents:
        if folder.name == "details":
            rel = path.parent.parent.relative_to(folder)
            return "" if str(rel) == "." else rel.as_posix()
    return ""


def model_ref(results: dict, path: Path, override: ModelOverride) -> ModelRef:
    general = results.get("config_general") or {}
    name = str(general.get("model_name") or (general.get("model_config") or {}).get("model_name") or "")
    name = name or model_from_path(path)
    if not name and not override.model_id:
        raise QmrError(f"no lighteval results_<date>.json found for {path.name} (it names the model): "
                       "keep lighteval's results/ folder next to details/, or pass --model-id")
    return override.apply(model_ref_from_name(name, override.model_id, ENGINE))


def token_budget(model_cfg: dict, doc: dict) -> int | None:
    """lighteval's transformers backend generates the task's generation_size; the others let
    generation_parameters.max_new_tokens win over it."""
    task_size = doc.get("generation_size")
    asked = (model_cfg.get("generation_parameters") or {}).get("max_new_tokens")
    if "continuous_batching" in model_cfg and not model_cfg.get("continuous_batching"):
        return task_size
    return asked or task_size


def decoding(model_cfg: dict, doc: dict) -> dict:
    gen = model_cfg.get("generation_parameters") or {}
    temperature = float(gen.get("temperature") or 0.0)
    sampling = temperature > 0
    return {
        "max_new_tokens": token_budget(model_cfg, doc),
        "temperature": temperature if sampling else 0.0,
        "top_p": gen.get("top_p") if sampling else None,
        "n_samples": int(doc.get("num_samples") or 1),
        "seed": gen.get("seed") if sampling else None,
        "stop": list(doc.get("stop_sequences") or []) or None,
    }


PROMPT_KEYS = ("prompt_function", "num_fewshots", "few_shots_split", "few_shots_select", "hf_repo", "hf_subset")


def prompt_recipe(task: str, results: dict, task_cfg: dict) -> str:
    """The prompt recipe (lighteval's task config and system prompt; each sample keeps its exact prompt)."""
    model_cfg = (results.get("config_general") or {}).get("model_config") or {}
    recipe = {k: task_cfg.get(k) for k in PROMPT_KEYS if task_cfg.get(k) is not None}
    for key in ("system_prompt", "override_chat_template"):
        if model_cfg.get(key) is not None:
            recipe[key] = model_cfg[key]
    return f"lighteval task {task}\n" + json.dumps(recipe, sort_keys=True, ensure_ascii=False, default=str)


# -- prompts ------------------------------------------------------------------------------------


def _gold(doc: dict) -> str | None:
    choices = doc.get("choices") or []
    gold = doc.get("gold_index")
    index = gold[0] if isinstance(gold, list) and gold else gold
    if isinstance(index, int) and 0 <= index < len(choices):
        return str(choices[index])
    return str(choices[0]) if choices else None


def _without_instruction(query: str, instruction: str | None) -> str:
    if instruction and query.startswith(instruction):
        return query[len(instruction):].strip()
    return query


def doc_messages(doc: dict, system_prompt: str | None) -> Messages:
    """The chat turns lighteval's PromptManager builds for a document (the instruction goes before the first query)."""
    instruction = doc.get("instruction")
    messages: Messages = [{"role": "system", "content": system_prompt}] if system_prompt is not None else []
    used = False
    for ix, shot in enumerate(doc.get("fewshot_samples") or []):
        query = _without_instruction(str(shot.get("query") or ""), shot.get("instruction"))
        if ix == 0 and instruction is not None:
            query, used = instruction + query, True
        messages += [{"role": "user", "content": query}, {"role": "assistant", "content": _gold(shot) or ""}]
    query = _without_instruction(str(doc.get("query") or ""), instruction)
    messages.append({"role": "user", "content": query if used or instruction is None else instruction + query})
    return messages


def doc_plain_text(doc: dict, system_prompt: str | None) -> str:
    """lighteval's prompt for a model without a chat template: the parts joined by blank lines."""
    instruction = doc.get("instruction")
    parts = [p for p in (system_prompt, instruction) if p is not None]
    for shot in doc.get("fewshot_samples") or []:
        query = _without_instruction(str(shot.get("query") or ""), shot.get("instruction"))
        parts.append(query + " " + (_gold(shot) or "").strip())
    parts.append(_without_instruction(str(doc.get("query") or ""), instruction))
    return "\n\n".join(parts)


def sample_prompt(ref: ModelRef, row: dict, model_cfg: dict) -> str:
    logged = row["model_response"].get("input")
    if isinstance(logged, str) and logged:
        return logged
    if isinstance(logged, list) and logged and all(isinstance(m, dict) for m in logged):
        return render_messages(ref, logged)
    doc, system = row["doc"], model_cfg.get("system_prompt")
    if model_cfg.get("override_chat_template") is False:
        return doc_plain_text(doc, system)
    source = str(model_cfg.get("tokenizer") or model_cfg.get("model_name") or "")
    return render_messages(ref, doc_messages(doc, system), source or None, fallback=lambda _m: doc_plain_text(doc, system))


# -- problems -----------------------------------------------------------------------------------


def task_benchmark(task: str) -> str | None:
    t = task.lower()
    if "gsm8k" in t:
        return "gsm8k"
    if re.search(r"math_?500", t):
        return "math500"
    if re.match(r"(minerva_|hendrycks_)?math\b|math:", t):
        return "math"
    return None


def _doc_texts(doc: dict) -> list[str]:
    specific = doc.get("specific") or {}
    texts = [doc.get("original_query")] + [specific.get(k) for k in ("problem", "question")] + [doc.get("query")]
    return [t for t in texts if isinstance(t, str) and t.strip()]


def find_problem(doc: dict, index: dict[str, Problem] | None) -> Problem | None:
    for text in _doc_texts(doc):
        if (found := find_problem_text(text, index)) is not None:
            return found
    return None


def detect_benchmark(rows: list[dict], index: ProblemIndex) -> str | None:
    """The qmr benchmark whose problems the most documents quote (at least half of them)."""
    best, best_n = None, 0
    for name in DETECT_ORDER:
        n = sum(find_problem(r["doc"], index.get(name)) is not None for r in rows)
        if n > best_n:
            best, best_n = name, n
    return best if best_n * 2 >= len(rows) else None


def map_problem(doc: dict, line_no: int, benchmark: str, index: dict[str, Problem] | None) -> tuple[Problem, bool]:
    """(problem, found in qmr's data by text); a document qmr does not have gets a stable hashed id."""
    found = find_problem(doc, index)
    if found is not None:
        return found, True
    texts = _doc_texts(doc)
    if not texts:
        raise QmrError(f"document {doc.get('id')} has no query text: is this a MATH or GSM8K task?")
    return math_or_gsm8k_problem(texts[0], benchmark, line_no, _gold(doc)), False


# -- import -------------------------------------------------------------------------------------


def primary_metric(rows: list[dict]) -> str | None:
    names = [k for k, v in (rows[0].get("metric") or {}).items() if v is not None] if rows else []
    for preferred in _METRIC_ORDER:
        if preferred in names:
            return preferred
    return names[0] if names else None


def _extracted(doc: dict) -> str | None:
    preds = (doc.get("specific") or {}).get("extracted_predictions")
    if isinstance(preds, list) and preds:
        return str(preds[0])
    return None


def finish_reason(tokens: Any, budget: int | None, batch_size: Any) -> str | None:
    """'eos' when fewer tokens than the budget came back; 'length' at the budget only when nothing was padded
    (batch size 1: lighteval pads a batch's outputs to its longest, so a full-length output may be padding)."""
    if not isinstance(tokens, list) or not budget:
        return None
    if len(tokens) < budget:
        return "eos"
    return "length" if batch_size == 1 else None


def _samples(rows: list[tuple[dict, Problem]], ref: ModelRef, model_cfg: dict, budget: int | None) -> list[ImportedSample]:
    out: list[ImportedSample] = []
    for row, problem in rows:
        response = row["model_response"]
        texts = [t if isinstance(t, str) else str(t) for t in response.get("text") or []]
        tokens = response.get("output_tokens") or []
        prompt = sample_prompt(ref, row, model_cfg)
        metrics = {k: v for k, v in (row.get("metric") or {}).items() if v is not None}
        # with several samples lighteval scores the document (pass@k, maj@k), not each sample
        verdicts = [(k, v, _extracted(row["doc"])) for k, v in metrics.items()] if len(texts) == 1 else []
        for idx, text in enumerate(texts):
            reason = finish_reason(tokens[idx] if idx < len(tokens) else None, budget, model_cfg.get("batch_size"))
            out.append(ImportedSample(problem, idx, text, prompt, reason, verdicts=verdicts if idx == 0 else []))
    return out


def _map_rows(rows: list[dict], benchmark: str, local: dict[str, Problem] | None,
              result: ImportResult) -> list[tuple[dict, Problem]]:
    mapped: list[tuple[dict, Problem]] = []
    seen: dict[str, Any] = {}
    for line_no, row in enumerate(sorted(rows, key=lambda r: _doc_order(r["doc"])), start=1):
        problem, found = map_problem(row["doc"], line_no, benchmark, local)
        if problem.problem_id in seen:  # two documents, one problem (duplicate text): keep the first
            first = seen[problem.problem_id]
            result.notes.append(f"doc {row['doc'].get('id')} repeats doc {first} ({problem.problem_id}); skipped")
            continue
        seen[problem.problem_id] = row["doc"].get("id")
        result.n_mapped += int(found)
        mapped.append((row, problem))
    result.n_problems = len(mapped)
    if local is not None and result.n_mapped < result.n_problems:
        result.notes.append(f"{result.n_problems - result.n_mapped} documents not found in qmr's {benchmark} by text: "
                            f"stored under {benchmark}/import/<hash> ids")
    return mapped


def _doc_order(doc: dict) -> tuple[int, str]:
    """lighteval shuffles documents before logging them; its doc id is the row of the evaluated split."""
    doc_id = str(doc.get("id") or "")
    return (int(doc_id), "") if doc_id.isdigit() else (1 << 30, doc_id)


def import_details_file(store: Store, path: Path, override: ModelOverride, index: ProblemIndex,
                        benchmark_spec: str | None = None,
                        on_progress: Callable[[int], None] | None = None) -> ImportResult:
    rows = read_details(path)
    if not rows:
        raise QmrError(f"{path.name} holds no documents")
    task, date = task_of(path, rows)
    spec = benchmark_spec or task_benchmark(task) or detect_benchmark(rows, index)
    if spec is None:
        raise QmrError(f"cannot tell which benchmark task {task} is (its documents quote no GSM8K, MATH-500 or MATH "
                       "problem qmr has): say it with --benchmark gsm8k|math500|math|PATH")
    benchmark = benchmark_name(spec)
    results = results_for(path, date)
    general = results.get("config_general") or {}
    model_cfg = dict(general.get("model_config") or {})
    model_cfg.setdefault("model_name", general.get("model_name"))
    task_cfg: dict = next((v for k, v in (results.get("config_tasks") or {}).items() if task_name(k) == task), {})
    ref = model_ref(results, path, override)
    local = index.get(spec)
    result = ImportResult("", task, benchmark, ref.model_id)
    if not results:
        result.notes.append("no results_<date>.json next to the details: model settings (system prompt, decoding) unknown")
    if local is None:
        result.notes.append(f"qmr's {benchmark} data is not available here: ids are not checked against it")
    if not any(r["model_response"].get("text") for r in rows):
        raise QmrError(f"{path.name} holds no generated text (a log-likelihood task?): qmr imports generative tasks")
    mapped = _map_rows(rows, benchmark, local, result)
    dec = decoding(model_cfg, rows[0]["doc"])
    # like lm-eval's: a later lighteval run of the same model, task and settings updates the same qmr run
    engine_key = {"engine": ENGINE, "model_name": model_cfg.get("model_name"), "dtype": model_cfg.get("dtype"), "task": task}
    metric = primary_metric(rows)
    task_results: dict = next((v for k, v in (results.get("results") or {}).items() if task_name(k) == task), {})
    engine_json = {"engine": ENGINE, "source": str(path), "task": task, "date": date, "model_config": model_cfg,
                   "task_config": task_cfg, "lighteval_results": task_results,
                   "lighteval_sha": general.get("lighteval_sha")}
    run = RunSpec(ENGINE, ref, benchmark, f"lighteval:{task}", prompt_recipe(task, results, task_cfg), dec,
                  engine_key, engine_json)
    written = write_run(store, run, _samples(mapped, ref, model_cfg, dec["max_new_tokens"]),
                        override.model_extra(ENGINE), on_progress, primary_metric=metric)
    score = task_results.get(metric) if metric else None
    result.add_written(run.run_id, written, float(score) if isinstance(score, (int, float)) else None, metric)
    return result


def import_lighteval(store: Store, path: Path, override: ModelOverride | None = None, benchmark: str | None = None,
                     on_progress: Callable[[int], None] | None = None) -> list[ImportResult]:
    """Import every lighteval details file under ``path`` (or the one file); one run per file."""
    override = override or ModelOverride()
    override.check()
    index = ProblemIndex()
    if benchmark:
        index.require(benchmark)
    files = find_details_files(path)
    if override.model_id and len({f.parent.parent for f in files}) > 1:
        raise QmrError(f"{path} holds details of {len({f.parent.parent for f in files})} models; --model-id names one: "
                       "import each model's folder on its own")
    return [import_details_file(store, f, override, index, benchmark, on_progress) for f in files]
