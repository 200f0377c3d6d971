"""Import an Inspect AI eval log (``.eval`` or ``.json``) of a MATH or GSM8K task as a qmr run.

The log is read through Inspect's own API (``inspect_ai.log.read_eval_log``) where inspect-ai is installed
(the ``interop`` extra); without it only ``.json`` logs can be read (``.eval`` archives are zstd-compressed).
Each sample's problem is matched to qmr's problem of the benchmark by text (the sample input may be a whole
prompt that quotes it), its completion is regraded by qmr, and every Inspect score is kept beside qmr's verdict.
Epochs become sample indices. The stored prompt is the sample's messages rendered with the model's own chat
template when qmr can load the model (what Inspect's hf provider feeds it), so it pairs with `qmr eval` runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qmr_core.benchmarks.problems import Problem
from qmr_core.errors import QmrError
from qmr_core.importers.chat_render import render_messages
from qmr_core.importers.common import (
    ImportedSample, ImportResult, ModelOverride, ProblemIndex, RunSpec, benchmark_name, find_problem_text,
    math_or_gsm8k_problem, model_ref_from_name, write_run,
)
from qmr_core.importers.lm_eval import task_benchmark
from qmr_core.models.registry import ModelRef
from qmr_core.store import Store

ENGINE = "inspect"
LOCAL_PROVIDERS = ("hf", "vllm", "sglang", "transformer_lens")
_HEAVY_SAMPLE_FIELDS = {"events", "attachments", "events_data", "timelines", "store"}


def read_log(path: Path) -> dict[str, Any]:
    """The log as plain data: Inspect's own reader where installed, else JSON logs as they are."""
    if not path.is_file():
        raise QmrError(f"{path} is not a file (pass an Inspect log: .eval or .json)")
    try:
        from inspect_ai.log import read_eval_log
        have_inspect = True
    except ImportError:
        have_inspect = False
    if have_inspect:
        try:
            log = read_eval_log(str(path))
        except Exception as exc:  # Inspect raises many types for a bad file; one line names it
            first = (str(exc).strip().splitlines() or [""])[0]
            raise QmrError(f"{path.name} is not an Inspect eval log that Inspect can read ({type(exc).__name__}: {first})") from None
        data = log.model_dump(mode="json", exclude={"samples": {"__all__": _HEAVY_SAMPLE_FIELDS}})
    elif path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise QmrError(f"cannot read {path.name} as JSON: {exc}") from None
    else:
        raise QmrError(f"{path.name}: .eval logs are read through Inspect's own API: pip install inspect-ai "
                       "(or install qmr's interop extra), or write the log with --log-format json")
    if not isinstance(data, dict) or not isinstance(data.get("eval"), dict):
        raise QmrError(f"{path.name} is not an Inspect eval log (no 'eval' header)")
    if not data.get("samples"):
        raise QmrError(f"{path.name} holds no samples (status: {data.get('status')}); was it written with samples?")
    return data


def _model(ev: dict, override: ModelOverride) -> tuple[ModelRef, str | None]:
    """(qmr model, the local folder the provider loaded, if any)."""
    provider, _, name = str(ev.get("model") or "").partition("/")
    args = ev.get("model_args") or {}
    folder = args.get("model_path") if isinstance(args.get("model_path"), str) else None
    if provider in LOCAL_PROVIDERS:
        local = folder or name
        return override.apply(model_ref_from_name(local, override.model_id, ENGINE)), folder
    full = str(ev.get("model") or "")
    if override.model_id or not full:
        return override.apply(model_ref_from_name(full, override.model_id, ENGINE)), None
    return override.apply(ModelRef(f"{ENGINE}:{full}", full, full, ENGINE)), None  # an API model: its provider name


def _decoding(ev: dict) -> dict[str, Any]:
    cfg = ev.get("model_generate_config") or {}
    provider = str(ev.get("model") or "").partition("/")[0]
    temperature = cfg.get("temperature")
    if temperature is None and provider == "hf":  # Inspect's hf provider samples unless do_sample=False
        temperature = 0.0 if (ev.get("model_args") or {}).get("do_sample") is False else 1.0
    sampling = temperature is None or float(temperature) > 0
    return {"max_new_tokens": cfg.get("max_tokens"), "temperature": None if temperature is None else float(temperature),
            "top_p": cfg.get("top_p") if sampling else None, "seed": cfg.get("seed") if sampling else None,
            "n_samples": int((ev.get("config") or {}).get("epochs") or 1), "stop": cfg.get("stop_seqs")}


def _messages(sample: dict) -> list[dict[str, str]]:
    """The conversation up to the model's answer, as chat messages of plain text."""
    raw = sample.get("input")
    msgs = [{"role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])
    out = []
    for m in msgs:
        content = m.get("content")
        if isinstance(content, list):  # content blocks: keep the text ones
            content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
        out.append({"role": str(m.get("role")), "content": str(content or "")})
    return out


def _finish(sample: dict, max_tokens: int | None) -> str | None:
    output = sample.get("output") or {}
    choices = output.get("choices") or [{}]
    reason = str(choices[0].get("stop_reason") or output.get("stop_reason") or "unknown")
    if reason == "stop":
        return "eos"
    if reason in ("max_tokens", "model_length"):
        return "length"
    used = (output.get("usage") or {}).get("output_tokens")
    if max_tokens and isinstance(used, int):  # providers that say "unknown" (hf): the budget tells
        return "length" if used >= max_tokens else "eos"
    return None


def _completion(sample: dict) -> str:
    output = sample.get("output") or {}
    if isinstance(output.get("completion"), str):
        return output["completion"]
    choices = output.get("choices") or []
    message = (choices[0] or {}).get("message") if choices else None
    content = (message or {}).get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content or "")


def _verdicts(sample: dict) -> list[tuple[str, Any, str | None]]:
    out = []
    for name, score in (sample.get("scores") or {}).items():
        if isinstance(score, dict):
            out.append((str(name), score.get("value"), score.get("answer")))
    return out


def _benchmark(task: str, benchmark: str | None) -> str:
    if benchmark:
        return benchmark
    known = task_benchmark(task)
    if known is None:
        raise QmrError(f"task '{task}' is not named like a MATH or GSM8K task: say which benchmark it is with "
                       "--benchmark gsm8k|math|math500|PATH")
    return known[0]


def _samples(data: dict, ref: ModelRef, folder: str | None, bench: str, local: dict[str, Problem] | None,
             max_tokens: int | None, result: ImportResult) -> tuple[list[ImportedSample], int]:
    """The log's samples on qmr's problems (a repeated (problem, epoch) is skipped with a note); how many
    were not found in qmr's data by text."""
    samples: list[ImportedSample] = []
    seen: dict[tuple[str, int], Any] = {}
    unmatched = 0
    for line_no, s in enumerate(data["samples"], start=1):
        messages = _messages(s)
        text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        problem = find_problem_text(text, local)
        if problem is None:
            unmatched += 1
            target = s.get("target")
            gold = target[0] if isinstance(target, list) and target else target
            problem = math_or_gsm8k_problem(text, bench, line_no, None if gold is None else str(gold))
        idx = int(s.get("epoch") or 1) - 1
        if (problem.problem_id, idx) in seen:
            result.notes.append(f"sample {s.get('id')} repeats sample {seen[(problem.problem_id, idx)]} ({problem.problem_id}); skipped")
            continue
        seen[(problem.problem_id, idx)] = s.get("id")
        n_tokens = ((s.get("output") or {}).get("usage") or {}).get("output_tokens")
        samples.append(ImportedSample(problem, idx, _completion(s), render_messages(ref, messages, folder),
                                      _finish(s, max_tokens), n_tokens if isinstance(n_tokens, int) else None,
                                      _verdicts(s)))
    return samples, unmatched


def _run_spec(path: Path, data: dict, task: str, ref: ModelRef, bench: str, decoding: dict) -> RunSpec:
    ev = data["eval"]
    recipe = {"task": task, "task_args": ev.get("task_args"), "solver": ev.get("solver"),
              "plan": [st.get("solver") for st in ((data.get("plan") or {}).get("steps") or [])],
              "system_message": (ev.get("model_generate_config") or {}).get("system_message")}
    return RunSpec(ENGINE, ref, bench, f"inspect:{task}", f"inspect task {task}\n" + json.dumps(recipe, sort_keys=True, default=str),
                   decoding, {"engine": ENGINE, "model": ev.get("model"), "model_args": ev.get("model_args")},
                   {"engine": ENGINE, "source": str(path), "inspect_version": (data.get("version")), "task": task,
                    "task_version": ev.get("task_version"), "model": ev.get("model"), "model_args": ev.get("model_args"),
                    "created": ev.get("created"), "results": data.get("results"), "packages": ev.get("packages")})


def _tool_score(data: dict) -> tuple[str | None, float | None]:
    """inspect's primary scorer and its accuracy."""
    headline = (data.get("results") or {}).get("headline") or {}
    scores = (data.get("results") or {}).get("scores") or []
    primary = headline.get("scorer") or (scores[0].get("name") if scores else None)
    metrics = next((sc.get("metrics") or {} for sc in scores if sc.get("name") == primary), {})
    accuracy = (metrics.get("accuracy") or {}).get("value") if isinstance(metrics, dict) else None
    return primary, float(accuracy) if isinstance(accuracy, (int, float)) else None


def import_inspect(store: Store, path: Path, override: ModelOverride | None = None, benchmark: str | None = None,
                   on_progress: Callable[[int], None] | None = None) -> ImportResult:
    override = override or ModelOverride()
    override.check()
    data = read_log(path)
    ev = data["eval"]
    task = str(ev.get("task") or "task")
    spec = _benchmark(task, benchmark)
    index = ProblemIndex()
    if benchmark:
        index.require(spec)
    bench = benchmark_name(spec)
    ref, folder = _model(ev, override)
    decoding = _decoding(ev)
    local = index.get(spec)
    result = ImportResult("", task, bench, ref.model_id)
    if local is None:
        result.notes.append(f"qmr's {bench} data is not available here: ids are not checked against it")
    samples, unmatched = _samples(data, ref, folder, bench, local, decoding["max_new_tokens"], result)
    if unmatched and local is not None:
        result.notes.append(f"{unmatched} samples not found in qmr's {bench} by text: stored under {bench}/import/<hash> ids")
    primary, accuracy = _tool_score(data)
    run = _run_spec(path, data, task, ref, bench, decoding)
    written = write_run(store, run, samples, override.model_extra(ENGINE), on_progress, primary_metric=primary)
    result.n_problems = len({s.problem.problem_id for s in samples})
    result.n_mapped = result.n_problems - unmatched if local is not None else 0
    result.add_written(run.run_id, written, accuracy, f"{primary} accuracy" if primary else None)
    return result
