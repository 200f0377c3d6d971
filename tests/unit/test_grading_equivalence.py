"""Equivalence classes, policy cases, fast paths, cache, and the labelled pair set."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from qmr_core.grading import (
    GRADER_VERSION,
    Verdict,
    bounded,
    cache_info,
    clear_cache,
    grade,
    is_equivalent,
    rounding_request,
)
from qmr_core.grading.equivalence import check

HERE = Path(__file__).resolve().parents[1]
PAIRS = HERE / "data" / "grader_pairs.jsonl"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _pairs() -> list[dict]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]


CASES = [
    # (gold, pred, expected, rule when correct)
    ("\\frac{1}{2}", "0.5", True, "numeric"),
    ("0.5", "\\frac12", True, "numeric"),
    ("\\frac{1}{2}", "1/2", True, "numeric"),
    ("14915", "14916", False, None),
    ("1\\times10^{-10}", "2\\times10^{-10}", False, None),
    ("\\frac{1}{3}", "0.33", False, None),
    ("\\frac{1}{3}", "0.333", False, None),
    ("\\pi", "3.1416", False, None),
    ("\\sqrt{2}", "1.4142", False, None),
    ("\\frac{1}{8}", "0.125", True, "numeric"),
    ("12.5\\%", "12.5", True, "percent"),
    ("12.5\\%", "0.125", False, None),
    ("0.125", "12.5\\%", True, "percent"),
    ("60^\\circ", "60", True, "exact-normalized"),
    ("5\\text{ cm}", "5", True, "exact-normalized"),
    ("2x", "2", False, None),
    ("1,000", "1000", True, "numeric"),
    ("1000", "(1,000)", False, None),
    ("\\dfrac{3}{4}", "\\tfrac34", True, "exact-normalized"),
    ("\\left(1,2\\right)", "(1,2)", True, "exact-normalized"),
    ("x=3", "3", True, "exact-normalized"),
    ("[1,5)", "(1,5)", False, None),
    ("(2,-1)", "(-1,2)", False, None),
    ("(2,-1)", "(2,-1.0)", True, "tuple"),
    ("-2, 3", "3, -2", True, "set"),
    ("-2, 3", "x=-2 \\text{ or } x=3", True, "set"),
    ("1\\pm\\sqrt2", "1+\\sqrt2, 1-\\sqrt2", True, "set"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", True, "matrix"),
    ("(B)", "B", True, "text-choice"),
    ("\\text{(B)}", "(B)", True, "text-choice"),
    ("\\text{Monday}", "monday", True, "text-choice"),
    ("1011_2", "1011", True, "base"),
    ("y=2x+3", "y = 3 + 2x", True, "equation"),
    ("x > 3", "3 < x", True, "interval"),
    ("\\sqrt{12}", "2\\sqrt{3}", True, "symbolic"),
    ("\\frac{\\pi}{2}", "\\frac\\pi2", True, "exact-normalized"),
    ("\\frac{\\pi}{2}", "\\pi/2", True, "symbolic"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)", True, "interval"),
    ("\\frac{1}{3}", "\\frac{1}{3} \\approx 0.333", True, "exact-normalized"),
    ("\\frac{\\sqrt3}{3}", "0.6", False, None),
    ("\\frac{1}{2004!}", "\\frac{1}{2005!}", False, None),
    ("58,500", "x = 58,500", True, "exact-normalized"),
    ("\\$1,200", "1200 dollars", True, "numeric"),
]


@pytest.mark.parametrize("gold, pred, expected, rule", CASES)
def test_classes(gold: str, pred: str, expected: bool, rule: str | None) -> None:
    ok, got_rule = check(gold, pred)
    assert ok is expected, (gold, pred, got_rule)
    if expected:
        assert got_rule == rule
    else:
        assert got_rule in {"mismatch", "timeout"}
    assert is_equivalent(gold, pred) is expected


def qmr_verdict(p: dict) -> bool:
    """qmr on one labelled pair: a whole model output goes through grade(), an answer through check()."""
    if p.get("output"):
        return grade(p["gold"], p["pred"], p["benchmark"], problem=p.get("problem"),
                     finish_reason=p.get("finish_reason")).correct
    return is_equivalent(p["gold"], p["pred"], p["benchmark"], rounding_request(p.get("problem")))


def test_pair_set_all_correct() -> None:
    pairs = _pairs()
    assert len(pairs) >= 150
    wrong = [(p["class"], p["gold"], p["pred"], p["expected"]) for p in pairs if qmr_verdict(p) is not p["expected"]]
    assert wrong == []


def test_pair_set_covers_every_class() -> None:
    classes = {p["class"] for p in _pairs()}
    for c in ("numeric", "decimal-precision", "percent", "degrees", "units", "thousands", "assignment",
              "interval", "tuple", "set", "pm", "matrix", "choice", "text", "base", "equation",
              "inequality", "symbolic", "gsm8k", "large-number", "tiny-number", "latex-format",
              "exact-vs-decimal", "rounding-requested", "step-label", "truncation"):
        assert c in classes
    required = {"gold", "pred", "benchmark", "expected", "class", "reason"}
    for p in _pairs():
        assert required <= set(p) <= required | {"problem", "output", "finish_reason"}
        assert p["class"] != "rounding-requested" or rounding_request(p["problem"]) is not None


def test_grade_end_to_end() -> None:
    v = grade("\\frac{1}{2}", "So the result is $\\boxed{\\dfrac{1}{2}}$.")
    assert v == Verdict("\\dfrac{1}{2}", True, "exact-normalized", "boxed")
    v = grade("90", "12 * 7 = 90 ... The answer is 90", "gsm8k")
    assert (v.extracted, v.correct, v.extract_method) == ("90", True, "answer_is")
    v = grade("Janet ... #### 7", "3 + 4 = 7 apples ... The answer is: 7", "gsm8k")
    assert (v.extracted, v.correct) == ("7", True)
    v = grade("5", "I do not know.")
    assert v == Verdict(None, False, "no-answer", "none")
    assert GRADER_VERSION.startswith("qmr-grader/")


def test_verdict_is_frozen() -> None:
    v = grade("1", "\\boxed{1}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.correct = False  # type: ignore[misc]


class _NoPool:
    def call(self, *a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("fast path touched the worker pool")


def test_fast_paths_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_cache()
    monkeypatch.setattr(bounded, "pool", lambda: _NoPool())
    for gold, pred, expected in [
        ("14915", "14916", False), ("\\frac{3}{4}", "0.75", True), ("1,200", "1200", True),
        ("\\$18.90", "18.9", True), ("2x", "2", False), ("12.5\\%", "12.5", True),
        ("(2,-1)", "(2, -1)", True), ("\\text{(C)}", "C", True), ("3, 5, 7", "7, 5, 3", True),
        ("\\frac{\\sqrt3}{2}", "\\dfrac{\\sqrt{3}}{2}", True),
    ]:
        assert is_equivalent(gold, pred) is expected
    clear_cache()


def test_cache_hits_and_is_keyed_by_benchmark() -> None:
    clear_cache()
    check("\\sqrt{12}", "2\\sqrt3")
    before = cache_info()
    assert check("\\sqrt{12}", "2\\sqrt3") == (True, "symbolic")
    after = cache_info()
    assert after.hits == before.hits + 1
    check("\\sqrt{12}", "2\\sqrt3", "gsm8k")
    assert cache_info().misses == after.misses + 1


def test_deterministic() -> None:
    pairs = _pairs()[:80]
    first = [check(p["gold"], p["pred"], p["benchmark"]) for p in pairs]
    clear_cache()
    second = [check(p["gold"], p["pred"], p["benchmark"]) for p in pairs]
    assert first == second


@pytest.mark.parametrize("pred", [None, 5, "", "   ", "x" * 5000, "\\boxed{}", "{{{", "\\frac{", "$$", "\\text{"])
def test_odd_predictions_never_raise(pred: object) -> None:
    ok, rule = check("5", pred)  # type: ignore[arg-type]
    assert ok is False
    assert rule in {"no-answer", "too-long", "parse-error", "mismatch", "timeout"}


def _rows(name: str) -> list[dict]:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_math500_golds_equal_rewritten_forms() -> None:
    rows = _rows("math500.jsonl")
    bad = []
    for row in rows:
        gold = row["answer"]
        forms = [f"\\boxed{{{gold}}}", re.sub(r"\\frac(?![a-zA-Z])", r"\\dfrac", gold), f" {gold} "]
        if not re.search(r"=|\\in|<|>|\\le|\\ge|\\text", gold):
            forms.append(f"x = {gold}")
        bad += [(gold, f) for f in forms if not is_equivalent(gold, f)]
    assert bad == []


def test_math_test_golds_equal_their_own_boxes() -> None:
    from qmr_core.grading import extract

    rows = _rows("math_test.jsonl")
    # 177: the answer field is a text fragment.  The others: the answer field is the last of two
    # boxes joined by "and" (225: "or"), which qmr reads as one list answer (all solutions, or both vertices).
    skip = {"prealgebra/177", "precalculus/679", "algebra/1878", "intermediate_algebra/702", "intermediate_algebra/25"}
    skip.add("intermediate_algebra/225")
    bad = []
    for row in rows:
        if row["unique_id"] in {f"test/{s}.json" for s in skip}:
            continue
        ex = extract(row["solution"])
        if not is_equivalent(row["answer"], ex.answer or ""):
            bad.append((row["unique_id"], row["answer"], ex.answer))
    assert bad == []


def test_gsm8k_golds_equal_formatted_forms() -> None:
    rows = _rows("gsm8k_test.jsonl")
    bad = []
    for row in rows:
        value = row["answer"].rsplit("####", 1)[1].strip()
        n = int(value.replace(",", ""))
        for pred in (f"${n:,}", f"{n} dollars", f"{n}.00", f"The answer is {n:,}."):
            out = grade(row["answer"], pred, "gsm8k")
            if not out.correct:
                bad.append((value, pred, out))
        wrong = grade(row["answer"], f"The answer is {n + 1}", "gsm8k")
        if wrong.correct:
            bad.append((value, n + 1, wrong))
    assert bad == []
