"""The eval loop: benchmark -> prompts -> engine -> steps -> grading -> store, resumable.

A run is identified by a hash of (model, benchmark, prompt template, decoding, engine kind and
dtype). Running the same command again finds the run and generates only the samples it lacks.
Filters such as --limit or --subject choose which problems must be present; a larger --limit
extends the same run. Each batch is written in one transaction, so a killed process loses at most
the batch in flight and never writes a sample twice (the primary key is (run, problem, sample));
served engines store samples as their requests complete (execute_streaming, below).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, cast

from qmr_core import __version__
from qmr_core.benchmarks.registry import Problem
from qmr_core.engines.base import Decoding, Engine, Generation
from qmr_core.engines.completions import Completions
from qmr_core.errors import QmrError
from qmr_core.grading import GRADER_VERSION, grade, warm_up
from qmr_core.models.precision import source_precision
from qmr_core.models.registry import ModelRef
from qmr_core.benchmarks.prompts import Messages, PromptTemplate
from qmr_core.benchmarks.steps import split_steps
from qmr_core.store import Store
from qmr_core.store.eval_runs import (mark_run_done, open_run, problem_hashes, set_run_status, stored_sample_keys,
                                     write_problems, write_samples)
from qmr_core.store.models import add_model
from qmr_core.store.records import ModelRecord


def make_run_id(model_id: str, benchmark: str, template: PromptTemplate, decoding: Decoding, engine_key: dict) -> str:
    identity = {
        "model": model_id,
        "benchmark": benchmark,
        "prompt": template.text(),
        "decoding": decoding.as_dict(),
        "engine": engine_key,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return digest[:12]


@dataclass
class RunPlan:
    run_id: str
    model: ModelRef
    benchmark: str
    template: PromptTemplate
    decoding: Decoding
    engine_key: dict
    problems: list[Problem]
    pending: list[tuple[Problem, int]]  # (problem, sample_idx) still to generate


@dataclass
class BatchStats:
    done: int = 0
    total: int = 0
    correct: int = 0
    tokens: int = 0
    seconds: float = 0.0
    history: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.done if self.done else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def _model_row(ref: ModelRef, precision: str | None, extra: dict | None = None) -> ModelRecord:
    rtn = ref.rtn
    method = "rtn" if rtn else "none"
    spec = rtn.as_dict() if rtn else {}
    if ref.adapter:  # a recovery adapter: the quantized base's method plus the LoRA
        method = "lora" if method == "none" else f"{method}+lora"
        spec["adapter"] = ref.adapter
    record = ModelRecord(
        model_id=ref.model_id, name=ref.name, source=ref.adapter or ref.source, base_model_id=ref.base_model_id,
        method=method, bits=rtn.bits if rtn else None, group_size=rtn.group_size if rtn else None,
        is_symmetric=rtn.symmetric if rtn else None, backend="qmr-rtn" if rtn else None,
        backend_version=__version__ if rtn else None, spec_json=json.dumps(spec) if spec else None,
        source_precision=precision,
    )
    return replace(record, **(extra or {}))


def register_model(store: Store, ref: ModelRef, extra: dict | None = None) -> None:
    """Record a model unless the store already knows it (quantize records richer rows first)."""
    precision = source_precision(ref)
    base = ModelRecord(ref.base_model_id, ref.base_model_id, ref.source, "none",
                       source_precision=precision) if ref.base_model_id else None
    add_model(store, _model_row(ref, precision, extra), base, fill=extra)


def store_problems(store: Store, problems: Sequence[Problem]) -> None:
    """Upsert problems; refuse if an id already stands for different content (a different file)."""
    if not problems:
        return
    known = problem_hashes(store, [p.problem_id for p in problems])
    for p in problems:
        stored = known.get(p.problem_id)
        if stored is not None and stored != p.content_hash():
            raise QmrError(
                f"problem {p.problem_id} in the store differs from the one loaded now; "
                "two different files share the benchmark name (rename one of them)"
            )
    rows = []
    for p in problems:
        row = p.as_row()
        row["content_hash"] = p.content_hash()
        rows.append(row)
    write_problems(store, rows)


def plan_run(
    store: Store,
    model: ModelRef,
    benchmark: str,
    problems: Sequence[Problem],
    template: PromptTemplate,
    decoding: Decoding,
    engine_key: dict,
) -> RunPlan:
    run_id = make_run_id(model.model_id, benchmark, template, decoding, engine_key)
    done = stored_sample_keys(store, run_id)
    pending = [
        (p, k) for k in range(decoding.n_samples) for p in problems if (p.problem_id, k) not in done
    ]
    return RunPlan(run_id, model, benchmark, template, decoding, engine_key, list(problems), pending)


def start_run(store: Store, plan: RunPlan, engine_json: dict, parent_run_id: str | None = None) -> None:
    open_run(store, {
        "run_id": plan.run_id,
        "model_id": plan.model.model_id,
        "benchmark": plan.benchmark,
        "prompt_template": plan.template.name,
        "prompt_text": plan.template.text(),
        "decoding_json": json.dumps(plan.decoding.as_dict(), sort_keys=True),
        "engine": engine_json.get("engine") or plan.engine_key.get("engine", "hf"),
        "engine_json": json.dumps(engine_json, sort_keys=True),
        "parent_run_id": parent_run_id,
        "status": "running",
        "qmr_version": __version__,
    })


def finish_run(store: Store, run_id: str, status: str = "done") -> None:
    set_run_status(store, run_id, status)


def mark_complete(store: Store, run_id: str) -> None:
    """A re-run found every sample stored: the run is done, whatever an earlier process left it as."""
    mark_run_done(store, run_id)


def sample_rows(run_id: str, problem: Problem, sample_idx: int, gen: Generation) -> tuple[dict, list[dict]]:
    """One graded sample and its steps, as store rows."""
    verdict = grade(problem.answer, gen.text, problem.kind, problem=problem.problem, finish_reason=gen.finish_reason)
    split = split_steps(gen.text)
    sample = {
        "run_id": run_id,
        "problem_id": problem.problem_id,
        "sample_idx": sample_idx,
        "prompt": gen.prompt,
        "output": gen.text,
        "extracted_answer": verdict.extracted,
        "extract_method": verdict.extract_method,
        "correct": bool(verdict.correct),
        "grade_rule": verdict.rule,
        "grader_version": GRADER_VERSION,
        "step_format": split.method,
        "n_steps": len(split.steps),
        "n_prompt_tokens": gen.n_prompt_tokens,
        "n_tokens": gen.n_tokens,
        "latency_ms": gen.latency_ms,
        "finish_reason": gen.finish_reason,
    }
    steps = [
        {
            "run_id": run_id,
            "problem_id": problem.problem_id,
            "sample_idx": sample_idx,
            "step_idx": s.idx,
            "text": s.text,
            "span_start": s.start,
            "span_end": s.end,
        }
        for s in split.steps
    ]
    return sample, steps


def write_batch(store: Store, samples: list[dict], steps: list[dict]) -> None:
    write_samples(store, samples, steps)


def execute_run(
    store: Store,
    plan: RunPlan,
    engine: Engine,
    batch_size: int = 8,
    on_batch: Callable[[BatchStats], None] | None = None,
) -> BatchStats:
    """Generate, grade and store every pending sample of `plan`, batch by batch; engines that stream
    (served ones) store each sample as its request completes (execute_streaming)."""
    if batch_size < 1:
        raise QmrError("--batch-size must be >= 1")
    stats = BatchStats(total=len(plan.pending))
    if plan.pending:
        warm_up(wait=False)  # grader workers import while the first batch generates
    if hasattr(engine, "stream"):
        return execute_streaming(store, plan, cast(StreamingEngine, engine), stats, on_batch)
    # Longest prompts first: similar lengths share a batch (less padding) and memory peaks early.
    by_sample: dict[int, list[Problem]] = {}
    for problem, idx in plan.pending:
        by_sample.setdefault(idx, []).append(problem)
    for sample_idx, problems in sorted(by_sample.items()):
        problems = sorted(problems, key=lambda p: len(p.problem), reverse=True)
        for start in range(0, len(problems), batch_size):
            chunk = problems[start : start + batch_size]
            messages = [plan.template.render(p) for p in chunk]
            t0 = time.perf_counter()
            generations = engine.generate(messages, plan.decoding, sample_idx=sample_idx)
            elapsed = time.perf_counter() - t0
            samples, steps = [], []
            for problem, gen in zip(chunk, generations, strict=True):
                sample, sample_steps = sample_rows(plan.run_id, problem, sample_idx, gen)
                samples.append(sample)
                steps += sample_steps
                stats.correct += int(sample["correct"])
                stats.tokens += gen.n_tokens
            write_batch(store, samples, steps)
            stats.done += len(chunk)
            stats.seconds += elapsed
            if on_batch:
                on_batch(stats)
    return stats


# -- streaming: the eval loop for engines that hand back each completion as it arrives (served engines) --
#
# Every pending request is started at once (the engine keeps ``concurrency`` per endpoint in flight);
# each completion is graded as it comes and stored in small transactions: as soon as ``flush_every_n``
# samples wait, or the oldest waiting sample has waited ``flush_every_s``. No request waits for a slower
# one, and a killed process loses the requests in flight and at most the last second's completions,
# never writing a sample twice (the store's key is (run, problem, sample)). On any error the
# completions already received are stored before the error goes on.

FLUSH_EVERY_S = 1.0
FLUSH_EVERY_N = 32


class StreamingEngine(Protocol):
    def stream(self, requests: list[tuple[Messages, int]], decoding: Decoding) -> Completions: ...


def pending_order(pending: list[tuple[Problem, int]]) -> list[tuple[Problem, int]]:
    """Sample index first, then longest prompts first (the long ones start early, as in batch mode)."""
    return sorted(pending, key=lambda item: (item[1], -len(item[0].problem)))


class _Buffer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.samples: list[dict] = []
        self.steps: list[dict] = []
        self.since = 0.0

    def add(self, sample: dict, steps: list[dict]) -> None:
        if not self.samples:
            self.since = time.monotonic()
        self.samples.append(sample)
        self.steps += steps

    def due(self, every_n: int, every_s: float) -> bool:
        return bool(self.samples) and (len(self.samples) >= every_n or time.monotonic() - self.since >= every_s)

    def wait_s(self, every_s: float) -> float | None:
        return max(0.0, self.since + every_s - time.monotonic()) if self.samples else None

    def flush(self) -> None:
        if self.samples:
            write_batch(self.store, self.samples, self.steps)
            self.samples, self.steps = [], []


def execute_streaming(store: Store, plan: RunPlan, engine: StreamingEngine, stats: BatchStats,
                      on_progress: Callable[[BatchStats], None] | None = None,
                      flush_every_n: int = FLUSH_EVERY_N, flush_every_s: float = FLUSH_EVERY_S) -> BatchStats:
    """Generate, grade and store every pending sample of ``plan`` as its request completes."""
    items = pending_order(plan.pending)
    started = time.perf_counter()
    buffer = _Buffer(store)
    handle = engine.stream([(plan.template.render(p), idx) for p, idx in items], plan.decoding)
    try:
        while handle.received < handle.total:
            got = handle.next(timeout=buffer.wait_s(flush_every_s))
            if got is not None:
                i, gen = got
                _take(buffer, stats, plan.run_id, items[i], gen)
                stats.seconds = time.perf_counter() - started
                if on_progress:
                    on_progress(stats)
            if buffer.due(flush_every_n, flush_every_s):
                buffer.flush()
        buffer.flush()
    except BaseException:
        handle.close()
        try:
            buffer.flush()  # completed samples are good samples, whatever stopped the rest
        except Exception:
            pass
        raise
    handle.close()
    return stats


def _take(buffer: _Buffer, stats: BatchStats, run_id: str, item: tuple[Problem, int], gen: Generation) -> None:
    problem, sample_idx = item
    sample, steps = sample_rows(run_id, problem, sample_idx, gen)
    buffer.add(sample, steps)
    stats.done += 1
    stats.correct += int(sample["correct"])
    stats.tokens += gen.n_tokens
