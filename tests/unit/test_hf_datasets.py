"""`--benchmark hf:ORG/NAME`: the one-line errors here (no hub access), and the row conversion through
`datasets` itself on a dataset folder it loads locally."""

from __future__ import annotations

import json

import pytest

from qmr_core.benchmarks.registry import load_benchmark
from qmr_core.errors import QmrError
from qmr_core.benchmarks.hf_datasets import benchmark_name, parse_spec

pytest.importorskip("datasets")


def test_spec_and_names():
    assert parse_spec("hf:HuggingFaceH4/MATH-500") == ("HuggingFaceH4/MATH-500", None, "test")
    assert parse_spec("hf:openai/gsm8k:main@test") == ("openai/gsm8k", "main", "test")
    assert benchmark_name("HuggingFaceH4/MATH-500", None) == "math500"  # runs compare with the local file's
    assert benchmark_name("openai/gsm8k", "main") == "gsm8k"
    assert benchmark_name("EleutherAI/hendrycks_math", "algebra") == "hf-hendrycks_math-algebra"
    with pytest.raises(QmrError, match="hf:ORG/NAME"):
        parse_spec("hf:not a repo")


def test_offline_error_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(QmrError) as err:
        load_benchmark("hf:HuggingFaceH4/MATH-500")
    text = str(err.value)
    assert "\n" not in text and "HF_HUB_OFFLINE is set" in text and "pass its path" in text


def test_unreachable_hub_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    from qmr_core.benchmarks import hf_datasets

    if hf_datasets._hub_unreachable(timeout=3) is None:
        pytest.skip("the hub is reachable from here")
    with pytest.raises(QmrError, match="no network access to the Hugging Face hub"):
        load_benchmark("hf:HuggingFaceH4/MATH-500")


def test_rows_become_problems(monkeypatch, tmp_path):
    """`datasets.load_dataset('ORG/NAME')` reads a local folder of that relative name first."""
    folder = tmp_path / "qmrtest" / "math-mini"
    folder.mkdir(parents=True)
    rows = [
        {"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$.", "answer": "2", "subject": "Prealgebra", "level": 1,
         "unique_id": "test/prealgebra/1.json"},
        {"problem": "What is $2+3$?", "solution": "So $\\boxed{5}$.", "subject": "Prealgebra", "level": "Level 2"},
        {"problem": "", "solution": "no problem text"},
    ]
    (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    from qmr_core.benchmarks.registry import LoadReport

    report = LoadReport("x")
    problems = load_benchmark("hf:qmrtest/math-mini", report)
    assert [p.problem_id for p in problems] == ["hf-math-mini/test/prealgebra/1.json", "hf-math-mini/test/1"]
    assert [p.answer for p in problems] == ["2", "5"] and [p.level for p in problems] == [1, 2]
    assert len(report.skipped) == 1 and "row 2" in report.skipped[0]
