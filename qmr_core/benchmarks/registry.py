"""Benchmarks: the Problem record, loaders for MATH / MATH-500 / GSM8K JSONL, and a registry of names.

A benchmark is named either by a registered short name (``math``, ``math500``, ``gsm8k``, ``sample``)
or by a path to a JSONL file. Each row is read in whichever of the known layouts it has:
MATH (problem, solution, answer?, subject|type, level, unique_id?) or GSM8K (question, answer "... #### N").
Bad rows are reported with their line number and skipped; the rest of the file still loads.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qmr_core.errors import QmrError
from qmr_core.paths import BUNDLED_DATA_DIR, data_search_path
from qmr_core.benchmarks.problems import ERRATA, LoadReport, Problem, row_to_problem, last_boxed, parse_level

__all__ = ["ERRATA", "MATH_SUBJECTS", "REGISTRY", "LoadReport", "Problem", "load_benchmark", "last_boxed", "parse_level",
           "read_jsonl", "select"]

MATH_SUBJECTS = (
    "Prealgebra",
    "Algebra",
    "Number Theory",
    "Counting & Probability",
    "Geometry",
    "Intermediate Algebra",
    "Precalculus",
)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    files: tuple[str, ...]  # file names looked up in `locations()`
    locations: Callable[[], list[Path]]
    description: str


def _shared() -> list[Path]:
    return data_search_path()


def _bundled() -> list[Path]:
    return [BUNDLED_DATA_DIR]


REGISTRY: dict[str, BenchmarkSpec] = {
    "math": BenchmarkSpec("math", ("math_test.jsonl",), _shared, "MATH test set, 5000 problems (Hendrycks et al.)"),
    "math500": BenchmarkSpec("math500", ("math500.jsonl",), _shared, "MATH-500, PRM800K's 500-problem test split"),
    "gsm8k": BenchmarkSpec("gsm8k", ("gsm8k_test.jsonl",), _shared, "GSM8K test set, 1319 problems"),
    "sample": BenchmarkSpec(
        "sample",
        ("sample_math.jsonl", "sample_gsm8k.jsonl"),
        _bundled,
        "qmr's own set: 48 MATH-style problems (7 subjects, levels 1-5) and 12 GSM8K-style ones",
    ),
}

# Known errors in public benchmark files, fixed on load: unique_id -> (wrong answer field, right answer).
# MATH test/prealgebra/177: the solution deliberately boxes intermediate values and the answer field
# holds a text fragment; the solution states the answer, 6, in prose.
def read_jsonl(path: Path, benchmark: str, report: LoadReport | None = None) -> list[Problem]:
    report = report or LoadReport(str(path))
    problems: list[Problem] = []
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise QmrError(f"cannot read benchmark file {path}: {exc.strerror or exc}") from exc
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise QmrError(
                    f"benchmark file {path} is not UTF-8: line {line_no} has byte 0x{raw[exc.start]:02x} "
                    f"at column {exc.start + 1} (save it as UTF-8)") from exc
            if not line.strip():
                continue
            report.n_rows += 1
            try:
                problems.append(row_to_problem(json.loads(line), benchmark, line_no))
            except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
                report.skipped.append(f"{path.name}:{line_no}: {exc}")
    return problems


def _find_file(spec: BenchmarkSpec, filename: str) -> Path:
    for directory in spec.locations():
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(d) for d in spec.locations())
    raise QmrError(
        f"benchmark '{spec.name}' needs {filename}, not found in: {searched} "
        "(set QMR_DATA_DIR, or pass the JSONL path to --benchmark)"
    )


def benchmark_name_for_path(path: Path) -> str:
    """A path's benchmark name is its stem, so ../shared/data/math500.jsonl is 'math500' everywhere."""
    stem = path.name.split(".")[0]
    for spec in REGISTRY.values():
        if path.name in spec.files:
            return spec.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "custom"


def load_benchmark(name_or_path: str, report: LoadReport | None = None) -> list[Problem]:
    """All problems of a benchmark, in file order, duplicates by id rejected."""
    report = report or LoadReport(name_or_path)
    if name_or_path in REGISTRY:
        spec = REGISTRY[name_or_path]
        problems: list[Problem] = []
        for filename in spec.files:
            problems += read_jsonl(_find_file(spec, filename), spec.name, report)
    elif name_or_path.startswith("hf:"):
        from qmr_core.benchmarks.hf_datasets import load_hf_benchmark  # imports `datasets` only when asked

        problems = load_hf_benchmark(name_or_path, report)
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            known = ", ".join(sorted(REGISTRY))
            raise QmrError(f"unknown benchmark '{name_or_path}': not a file, and not one of {known}")
        if path.is_dir():
            raise QmrError(f"benchmark path {path} is a directory; pass a .jsonl file")
        problems = read_jsonl(path, benchmark_name_for_path(path), report)
    seen: set[str] = set()
    unique: list[Problem] = []
    for p in problems:
        if p.problem_id in seen:
            report.skipped.append(f"duplicate id {p.problem_id}")
            continue
        seen.add(p.problem_id)
        unique.append(p)
    if not unique:
        raise QmrError(f"benchmark '{name_or_path}' has no usable problems ({len(report.skipped)} rows skipped)")
    return unique


def select(
    problems: Sequence[Problem],
    subjects: Iterable[str] = (),
    levels: Iterable[int] = (),
    limit: int | None = None,
    seed: int | None = None,
    ids: Iterable[str] = (),
) -> list[Problem]:
    """Filter, then shuffle with `seed` (if given), then take the first `limit`."""
    wanted_subjects = {s.lower() for s in subjects}
    wanted_levels = set(levels)
    wanted_ids = set(ids)
    chosen = [
        p
        for p in problems
        if (not wanted_subjects or p.subject.lower() in wanted_subjects)
        and (not wanted_levels or p.level in wanted_levels)
        and (not wanted_ids or p.problem_id in wanted_ids or p.unique_id in wanted_ids)
    ]
    if seed is not None:
        chosen = list(chosen)
        random.Random(seed).shuffle(chosen)
    if limit is not None:
        if limit < 0:
            raise QmrError("--limit must be >= 0")
        chosen = chosen[:limit]
    return chosen
