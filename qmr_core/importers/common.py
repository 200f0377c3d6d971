"""What every importer shares: problems matched to qmr's ids by text, a run row, graded samples, tool verdicts.

An importer reads another tool's files into `ImportedSample`s under a `RunSpec`; `write_run` stores them
exactly as `qmr eval` stores its own samples (graded by qmr, split into steps) and keeps the tool's own
verdicts beside qmr's (`external_verdicts`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qmr_core.benchmarks.registry import REGISTRY, benchmark_name_for_path, load_benchmark
from qmr_core.benchmarks.problems import LoadReport, Problem, row_to_problem
from qmr_core.engines.base import Generation
from qmr_core.errors import QmrError
from qmr_core.generate.evaluate import register_model, sample_rows, store_problems, write_batch
from qmr_core.importers.verdicts import ExternalVerdict, write_external_verdicts
from qmr_core.models.registry import ModelRef, alias_of_float_copy, resolve_model
from qmr_core.store import Store
from qmr_core.store.imports import write_imported_run

BATCH = 256


def benchmark_name(spec: str) -> str:
    """The benchmark name runs and problem ids use: a registered name as is, a file's stem for a path."""
    return spec if spec in REGISTRY or spec.startswith("hf:") else benchmark_name_for_path(Path(spec).expanduser())


def norm_text(text: str) -> str:
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
                    index.setdefault(norm_text(p.problem), p)
                self._cache[benchmark] = index
        return self._cache[benchmark]

    def require(self, spec: str) -> None:
        """A benchmark the user names must load: it is what ids are matched against."""
        if self.get(spec) is None:
            load_benchmark(spec)  # raises the loader's own error line


def find_problem_text(text: str, index: dict[str, Problem] | None) -> Problem | None:
    """qmr's problem whose text is `text`, also when `text` is a whole prompt that quotes it."""
    if index is None:
        return None
    key = norm_text(text)
    if (found := index.get(key)) is not None:
        return found
    # an Inspect/lighteval input is often the whole prompt: find the problem it contains (longest first)
    hits = [p for t, p in index.items() if len(t) >= 20 and t in key]
    return max(hits, key=lambda p: len(p.problem)) if hits else None


def hashed_id(text: str) -> str:
    return hashlib.sha256(norm_text(text).encode()).hexdigest()[:12]


def model_ref_from_name(name: str, model_id: str | None, tool: str) -> ModelRef:
    """The qmr model a tool's model name stands for: qmr's id where it is the same model, else `<tool>:<name>`."""
    if model_id:
        return ModelRef(model_id, model_id, name or model_id, tool)
    if not name:
        raise QmrError(f"the {tool} log names no model; pass --model-id")
    if (alias := alias_of_float_copy(name)) is not None:
        return resolve_model(alias)  # qmr's own float copy of a bundled model: the alias's id
    try:
        return resolve_model(name)  # a local folder / hub id: the same model row as `qmr eval` uses
    except QmrError:
        return ModelRef(f"{tool}:{name}", name, name, tool)


@dataclass(frozen=True)
class ModelOverride:
    model_id: str | None = None
    base_model_id: str | None = None
    method: str | None = None
    bits: int | None = None
    group_size: int | None = None

    def check(self) -> None:
        if self.base_model_id and not self.method:
            raise QmrError("--base-model marks a quantized model: give --method (and --bits) too")

    def apply(self, ref: ModelRef) -> ModelRef:
        if self.base_model_id or self.method:
            return ModelRef(ref.model_id, ref.name, ref.source, ref.kind, None, self.base_model_id or ref.base_model_id)
        return ref

    def model_extra(self, backend: str) -> dict[str, Any] | None:
        extra: dict[str, Any] = {}
        if self.method:
            extra.update(method=self.method, bits=self.bits, group_size=self.group_size, backend=backend)
        if self.base_model_id:
            extra["base_model_id"] = self.base_model_id
        return extra or None


@dataclass
class ImportedSample:
    problem: Problem
    sample_idx: int
    output: str
    prompt: str | None
    finish_reason: str | None = None  # eos | length | None (unknown)
    n_tokens: int | None = None
    verdicts: list[tuple[str, Any, str | None]] = field(default_factory=list)  # (metric, value, extracted)


@dataclass
class RunSpec:
    tool: str
    ref: ModelRef
    benchmark: str
    prompt_template: str
    prompt_text: str
    decoding: dict[str, Any]
    engine_key: dict[str, Any]
    engine_json: dict[str, Any]

    @property
    def run_id(self) -> str:
        identity = {"model": self.ref.model_id, "benchmark": self.benchmark, "prompt": self.prompt_text,
                    "decoding": self.decoding, "engine": self.engine_key}
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class ImportResult:
    """One imported run: what was read, how it mapped to qmr's ids, and the tool's score beside qmr's."""

    run_id: str
    task: str
    benchmark: str
    model_id: str
    n_problems: int = 0
    n_samples: int = 0
    n_mapped: int = 0
    qmr_score: float = 0.0
    tool_score: float | None = None
    tool_metric: str | None = None
    n_disagree: int | None = None
    notes: list[str] = field(default_factory=list)

    def add_written(self, run_id: str, written: WriteResult, tool_score: float | None, tool_metric: str | None) -> None:
        """What write_run stored, and the tool's own score beside qmr's."""
        self.run_id, self.n_samples = run_id, written.n_samples
        self.qmr_score = written.n_right / written.n_samples if written.n_samples else 0.0
        self.tool_score, self.tool_metric = tool_score, tool_metric
        self.n_disagree = written.disagree if written.comparable else None


@dataclass
class WriteResult:
    n_samples: int = 0  # written
    n_right: int = 0  # graded right by qmr
    comparable: int = 0  # of those the tool also judged (under the primary metric)
    disagree: int = 0  # of the comparable ones, judged otherwise by the tool


def write_run(store: Store, spec: RunSpec, samples: list[ImportedSample], model_extra: dict[str, Any] | None,
              on_progress: Callable[[int], None] | None = None, primary_metric: str | None = None) -> WriteResult:
    """Store the run, its problems and its samples (regraded by qmr), with the tool's verdicts beside them.

    `primary_metric` is the tool metric whose verdicts are counted against qmr's in the result.
    """
    run_id = spec.run_id
    register_model(store, spec.ref, model_extra)
    store_problems(store, list({s.problem.problem_id: s.problem for s in samples}.values()))
    write_imported_run(store, {
        "run_id": run_id, "model_id": spec.ref.model_id, "benchmark": spec.benchmark,
        "prompt_template": spec.prompt_template, "prompt_text": spec.prompt_text,
        "decoding_json": json.dumps(spec.decoding, sort_keys=True), "engine": spec.tool,
        "engine_json": json.dumps(spec.engine_json, sort_keys=True, default=str), "status": "done"})
    result = WriteResult()
    rows: list[dict] = []
    steps: list[dict] = []
    external: list[ExternalVerdict] = []
    for s in samples:
        gen = Generation(text=s.output, prompt=s.prompt or "", n_prompt_tokens=0, n_tokens=s.n_tokens or 0,
                         finish_reason=s.finish_reason or "", latency_ms=0.0)
        sample, sample_steps = sample_rows(run_id, s.problem, s.sample_idx, gen)
        # other tools rarely log token counts, finish reasons or timings: unknown, not zero
        sample.update(prompt=s.prompt, n_prompt_tokens=None, n_tokens=s.n_tokens, latency_ms=None,
                      finish_reason=s.finish_reason)
        rows.append(sample)
        steps += sample_steps
        result.n_samples += 1
        result.n_right += int(sample["correct"])
        for metric, value, extracted in s.verdicts:
            v = ExternalVerdict(run_id, s.problem.problem_id, s.sample_idx, spec.tool, metric, value, extracted)
            external.append(v)
            if metric == primary_metric and v.correct is not None:
                result.comparable += 1
                result.disagree += int(v.correct != sample["correct"])
        if len(rows) >= BATCH:
            write_batch(store, rows, steps)
            if on_progress:
                on_progress(len(rows))
            rows, steps = [], []
    if rows:
        write_batch(store, rows, steps)
        if on_progress:
            on_progress(len(rows))
    write_external_verdicts(store, external)
    return result


def math_or_gsm8k_problem(text: str, benchmark: str, line_no: int, gold: str | None, solution: str = "",
                          subject: str | None = None, level: Any = None) -> Problem:
    """A problem for a document qmr's data does not have, under a stable `<benchmark>/<tool>/<hash>`-style id."""
    row: dict[str, Any]
    if benchmark == "gsm8k" or (gold is not None and re.fullmatch(r"-?[\d,]+(\.\d+)?", gold.strip() or "x")):
        row = {"question": text, "answer": f"#### {gold}", "unique_id": f"import/{hashed_id(text)}"}
    else:
        row = {"problem": text, "solution": solution, "answer": gold, "subject": subject, "level": level,
               "unique_id": f"import/{hashed_id(text)}"}
    try:
        return row_to_problem(row, benchmark, line_no)
    except ValueError as exc:
        raise QmrError(f"sample {line_no}: {exc}") from None
