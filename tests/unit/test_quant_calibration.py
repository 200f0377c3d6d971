import re

import pytest

from qmr_core.benchmarks.registry import load_benchmark
from qmr_core.errors import QmrError
from qmr_core.models.registry import resolve_model
from qmr_core.quant import calibration as calib
from qmr_core.engines.self_answers import EngineSelfAnswers
from qmr_core.quant.api import build_calibration
from qmr_core.quant.spec import QuantSpec


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def test_bundled_text_is_windowed_and_recorded():
    cs = calib.text_calibration(None, n=12, seq_len=64)
    assert len(cs.texts) == 12 and len(set(cs.texts)) == 12
    assert cs.details["source"] == "text" and cs.details["path"].endswith("alice_ch1.txt")
    assert "Alice" in " ".join(cs.texts)


def test_text_path_errors_are_one_line(tmp_path):
    with pytest.raises(QmrError, match="cannot read calibration text"):
        calib.text_calibration(tmp_path / "missing.txt", 4, 64)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(QmrError, match="is empty"):
        calib.text_calibration(empty, 4, 64)


def test_math_calibration_holds_out_the_evaluation_benchmark(shared_data):
    held_out = load_benchmark("math500")
    cs = calib.math_calibration(held_out, n=200, seed=1)
    d = cs.details
    assert d["pool"] == "math" and d["pool_size"] == 5000 and d["n_excluded"] == 500
    assert len(cs.texts) == 200 and len(set(d["problem_ids"])) == 200
    banned = {_norm(p.problem) for p in held_out}
    math = {p.problem_id: p for p in load_benchmark("math")}
    assert not any(_norm(math[pid].problem) in banned for pid in d["problem_ids"])
    assert calib.math_calibration(held_out, n=200, seed=1).details["problem_ids"] == d["problem_ids"]  # seeded
    assert calib.math_calibration(held_out, n=200, seed=2).details["problem_ids"] != d["problem_ids"]


def test_no_problems_left_is_a_clear_error(shared_data):
    with pytest.raises(QmrError, match="no MATH problems left"):
        calib.math_calibration(load_benchmark("math"), n=4, seed=0)


def test_self_calibration_generates_with_the_model_and_caches(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("QMR_CACHE_DIR", str(tmp_path / "cache"))
    spec = QuantSpec("gptq", 4, calib="self", n_samples=3, seq_len=16)
    ref = resolve_model(str(tiny_model))
    first = build_calibration(spec, ref, exclude=None, device="cpu", self_answers=EngineSelfAnswers)
    assert first.details["source"] == "self" and len(first.texts) == 3
    assert all(t.startswith("<|im_start|>user\n") and "<|im_start|>assistant\n" in t for t in first.texts)
    assert "A box has 4 rows" not in " ".join(first.texts)  # the prompt's demonstration is not calibration data
    cache = tmp_path / "cache" / "calib"
    files = list(cache.glob("self-*.jsonl"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = build_calibration(spec, ref, exclude=None, device="cpu", self_answers=EngineSelfAnswers)
    with pytest.raises(QmrError, match="self_answers"):
        build_calibration(spec, ref, exclude=None, device="cpu")
    assert again.texts == first.texts and files[0].stat().st_mtime_ns == stamp  # read back, not regenerated
