"""Benchmarks from the Hugging Face hub: ``--benchmark hf:ORG/NAME[:CONFIG][@SPLIT]``.

Rows are read like JSONL rows (MATH layout: problem/solution/answer/subject/level/unique_id; GSM8K
layout: question/answer "... #### N"). Two datasets map onto qmr's own benchmarks so their runs
compare with runs on the local files problem by problem: ``HuggingFaceH4/MATH-500`` -> ``math500``
(ids from its unique_id column) and ``openai/gsm8k`` -> ``gsm8k`` (ids ``test/<row>``, the file order
qmr uses). Any other dataset is its own benchmark, named after it (``hf-<name>[-<config>]``), with
ids from a unique_id/id column or ``<split>/<row>``.

`datasets` is imported only here; ``HF_HUB_OFFLINE=1`` (or ``HF_DATASETS_OFFLINE=1``) limits loading
to the local cache. Anything that stops the load is one QmrError line.
"""

from __future__ import annotations

import os
import re

from qmr_core.benchmarks.problems import LoadReport, Problem, row_to_problem
from qmr_core.errors import QmrError

KNOWN = {  # (dataset, config) -> qmr benchmark name
    ("huggingfaceh4/math-500", None): "math500",
    ("openai/gsm8k", "main"): "gsm8k",
    ("openai/gsm8k", None): "gsm8k",
}
_SPEC = re.compile(r"^hf:(?P<repo>[\w.-]+/[\w.-]+)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.\[\]:%-]+))?$")


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    m = _SPEC.match(spec.strip())
    if not m:
        raise QmrError(f"'{spec}' is not hf:ORG/NAME[:CONFIG][@SPLIT] (e.g. hf:HuggingFaceH4/MATH-500)")
    return m.group("repo"), m.group("config"), m.group("split") or "test"


def benchmark_name(repo: str, config: str | None) -> str:
    known = KNOWN.get((repo.lower(), config))
    if known:
        return known
    name = "hf-" + repo.split("/", 1)[1].lower() + (f"-{config.lower()}" if config else "")
    return re.sub(r"[^a-z0-9_.-]+", "-", name)


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _hub_unreachable(timeout: float = 5.0) -> str | None:
    """Why the hub cannot be reached (fast), or None. Without this, `datasets` retries for ~30 s."""
    import httpx
    from huggingface_hub import constants

    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{constants.ENDPOINT}: {type(exc).__name__}"
    return None


def load_hf_benchmark(spec: str, report: LoadReport | None = None) -> list[Problem]:
    repo, config, split = parse_spec(spec)
    report = report or LoadReport(spec)
    try:
        import datasets
    except ImportError:
        raise QmrError(f"cannot load {spec}: the 'datasets' package is not installed (pip install datasets)") from None
    hint = "download the split as JSONL elsewhere and pass its path"
    if not _offline() and (why := _hub_unreachable()):
        raise QmrError(f"cannot load {spec}: no network access to the Hugging Face hub ({why}); set HF_HUB_OFFLINE=1 "
                       f"to use a copy in the local cache, or {hint}")
    try:
        ds = datasets.load_dataset(repo, config, split=split)
    except Exception as exc:  # offline, unknown dataset, missing config or split: one line, with the cause
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
        where = ("HF_HUB_OFFLINE is set (no network access) and the local cache does not have it" if _offline()
                 else "the hub refused or does not have it")
        raise QmrError(f"cannot load {spec}: {where} ({type(exc).__name__}: {first}); {hint}") from None
    name = benchmark_name(repo, config)
    problems: list[Problem] = []
    for i, row in enumerate(ds):
        report.n_rows += 1
        row = dict(row)
        if not row.get("unique_id") and not row.get("id") and not (name == "gsm8k" and split == "test"):
            row["unique_id"] = f"{split}/{i}"
        try:
            problems.append(row_to_problem(row, name, i + 1))
        except (ValueError, TypeError) as exc:
            report.skipped.append(f"{spec} row {i}: {exc}")
    return problems
