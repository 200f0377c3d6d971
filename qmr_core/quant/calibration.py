"""Calibration sets: generic text, MATH problems outside the evaluation selection, the model's own traces.

- ``text`` (or ``text:PATH``): windows of a plain-text file; by default the bundled public-domain
  text in data/calibration/.
- ``math``: MATH test problems with their reference solutions, minus every problem of the evaluation
  benchmark (for MATH-500: the other 4500 of the MATH test set). Without the shared MATH file the
  bundled set is used, again minus the evaluation benchmark.
- ``self``: the model's own answers to such problems (greedy, the evaluation prompt), the recipe that
  reasoning-model quantization studies found best. Traces are cached per model and setting.

Problems are excluded by normalised problem text as well as by id, because the same MATH problem has
different ids in MATH and MATH-500.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qmr_core.benchmarks.registry import Problem, load_benchmark
from qmr_core.errors import QmrError
from qmr_core.paths import BUNDLED_DATA_DIR, cache_dir

DEFAULT_TEXT = BUNDLED_DATA_DIR / "calibration" / "alice_ch1.txt"
SELF_MAX_NEW_TOKENS = 256


@dataclass
class CalibrationSet:
    texts: list[str]
    details: dict = field(default_factory=dict)  # recorded with the model (calib_json)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _digest(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def text_windows(text: str, n: int, approx_chars: int) -> list[str]:
    """n windows of about approx_chars characters, starting at evenly spread paragraph or sentence starts.

    When the text is shorter than n * approx_chars the windows overlap.
    """
    text = text.strip()
    if not text:
        return []
    bounds = {0} | {m.end() for m in re.finditer(r"\n\s*\n|(?<=[.!?\"])\s+", text)}
    starts = sorted(s for s in bounds if s < max(1, len(text) - approx_chars // 2))
    picks = [starts[(i * len(starts)) // n] for i in range(n)] if len(starts) >= n else [starts[i % len(starts)] for i in range(n)]
    return [text[s : s + approx_chars] for s in picks]


def text_calibration(path: Path | None, n: int, seq_len: int) -> CalibrationSet:
    path = path or DEFAULT_TEXT
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QmrError(f"cannot read calibration text {path}: {exc.strerror or exc}") from exc
    # about 4 characters per token for English BPE; the backend truncates each window to seq_len tokens
    windows = text_windows(text, n, approx_chars=seq_len * 5)
    if not windows:
        raise QmrError(f"calibration text {path} is empty")
    return CalibrationSet(
        windows,
        {"source": "text", "path": str(path), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
         "n_samples": len(windows), "window_chars": seq_len * 5},
    )


def math_pool(exclude: list[Problem] | None) -> tuple[str, list[Problem], int]:
    """MATH test problems (shared data, else the bundled set) minus the evaluation problems."""
    try:
        pool, source = load_benchmark("math"), "math"
    except QmrError:
        pool, source = [p for p in load_benchmark("sample") if p.kind == "math"], "sample"
    exclude = exclude or []
    texts = {_norm(p.problem) for p in exclude}
    ids = {p.problem_id for p in exclude} | {p.unique_id for p in exclude}
    kept = [p for p in pool if _norm(p.problem) not in texts and p.problem_id not in ids and p.unique_id not in ids]
    return source, kept, len(pool) - len(kept)


def choose_problems(exclude: list[Problem] | None, n: int, seed: int) -> tuple[list[Problem], dict]:
    source, pool, n_excluded = math_pool(exclude)
    if not pool:
        raise QmrError(
            f"no MATH problems left for calibration after excluding the {n_excluded} evaluation problems "
            "(put math_test.jsonl in the shared data folder, or use --calib text)"
        )
    rng = random.Random(seed)
    chosen = rng.sample(pool, min(n, len(pool)))
    details = {
        "pool": source,
        "pool_size": len(pool) + n_excluded,
        "n_excluded": n_excluded,
        "excluded_benchmarks": sorted({p.benchmark for p in exclude or []}),
        "problem_ids_sha256": _digest([p.problem_id for p in chosen]),
        "problem_ids": [p.problem_id for p in chosen],
    }
    return chosen, details


def math_calibration(exclude: list[Problem] | None, n: int, seed: int) -> CalibrationSet:
    chosen, details = choose_problems(exclude, n, seed)
    texts = [f"Problem: {p.problem}\nSolution: {p.solution or p.answer}" for p in chosen]
    return CalibrationSet(texts, {"source": "math", "n_samples": len(texts), "seed": seed, **details})


Generator = Callable[[list[Problem]], list[tuple[str, str]]]  # problems -> (calibration text, raw output)


def self_calibration(
    model_id: str,
    exclude: list[Problem] | None,
    n: int,
    seed: int,
    generate: Generator,
    generator_info: dict,
) -> CalibrationSet:
    """The model's own traces on held-out MATH problems; cached under qmr's cache folder."""
    chosen, details = choose_problems(exclude, n, seed)
    key_src = json.dumps({"model": model_id, "ids": details["problem_ids"], "gen": generator_info}, sort_keys=True)
    cache = cache_dir() / "calib" / f"self-{hashlib.sha256(key_src.encode()).hexdigest()[:16]}.jsonl"
    texts: list[str] = []
    if cache.is_file():
        rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts = [r["text"] for r in rows]
    if len(texts) != len(chosen):
        pairs = generate(chosen)
        texts = [t for t, _ in pairs]
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(
            "".join(json.dumps({"problem_id": p.problem_id, "text": t, "output": o}) + "\n" for p, (t, o) in zip(chosen, pairs)),
            encoding="utf-8",
        )
        tmp.replace(cache)
    return CalibrationSet(
        texts,
        {"source": "self", "n_samples": len(texts), "seed": seed, "generator": generator_info,
         "traces_cache": str(cache), "traces_sha256": _digest(texts), **details},
    )
