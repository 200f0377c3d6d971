import json

import pytest

from qmr_core.benchmarks.registry import MATH_SUBJECTS, LoadReport, last_boxed, load_benchmark, parse_level, select
from qmr_core.errors import QmrError


def test_bundled_sample_set_covers_subjects_and_levels():
    problems = load_benchmark("sample")
    math = [p for p in problems if p.kind == "math"]
    gsm = [p for p in problems if p.kind == "gsm8k"]
    assert len(math) >= 40 and len(gsm) >= 10
    assert {p.subject for p in math} == set(MATH_SUBJECTS)
    assert {p.level for p in math} == {1, 2, 3, 4, 5}
    for p in math:
        assert last_boxed(p.solution) == p.answer, p.problem_id
    assert len({p.problem_id for p in problems}) == len(problems)
    assert all(p.problem_id.startswith("sample/") and not p.problem_id.startswith("sample/sample/") for p in problems)


def test_levels_in_both_layouts():
    assert parse_level("Level 3") == 3
    assert parse_level(4) == 4
    assert parse_level("Level ?") is None
    assert parse_level(True) is None


def test_last_boxed_nested_braces():
    assert last_boxed(r"so \boxed{\frac{1}{2}} and finally \boxed{\dfrac{3}{\sqrt{4}}}.") == r"\dfrac{3}{\sqrt{4}}"
    assert last_boxed("no box") is None


def test_bad_rows_are_reported_with_line_numbers_and_skipped(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [
        json.dumps({"problem": "1+1?", "solution": "It is \\boxed{2}.", "level": "Level 1", "type": "Algebra"}),
        "{not json",
        json.dumps({"problem": "no answer here", "solution": "none"}),
        "",
        json.dumps({"question": "Two apples and one more?", "answer": "2 + 1 = 3\n#### 3"}),
        json.dumps({"question": "Broken gsm", "answer": "no hashes"}),
    ]
    path.write_text("\n".join(rows) + "\n")
    report = LoadReport(str(path))
    problems = load_benchmark(str(path), report)
    assert [p.answer for p in problems] == ["2", "3"]
    assert problems[0].subject == "Algebra" and problems[0].level == 1
    assert problems[1].kind == "gsm8k"
    assert [s.split(":")[1] for s in report.skipped] == ["2", "3", "6"]
    assert all(s.startswith("mixed.jsonl:") for s in report.skipped)


def test_gsm8k_answer_commas_removed(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "x\n#### 1,200"}) + "\n")
    assert load_benchmark(str(path))[0].answer == "1200"


def test_unknown_benchmark_and_empty_file(tmp_path):
    with pytest.raises(QmrError, match="unknown benchmark"):
        load_benchmark("no-such-benchmark")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(QmrError, match="no usable problems"):
        load_benchmark(str(empty))
    with pytest.raises(QmrError, match="network"):
        load_benchmark("hf:HuggingFaceH4/MATH-500")


def test_select_filters_seed_and_limit():
    problems = load_benchmark("sample")
    algebra = select(problems, subjects=["algebra"])
    assert algebra and all(p.subject == "Algebra" for p in algebra)
    assert all(p.level == 1 for p in select(problems, levels=[1]))
    a = select(problems, limit=5, seed=3)
    assert a == select(problems, limit=5, seed=3) and a != select(problems, limit=5, seed=4)
    assert select(problems, limit=5) == problems[:5]


def test_shared_math_files(shared_data):
    math = load_benchmark(str(shared_data / "math_test.jsonl"))
    assert len(math) == 5000 and math[0].benchmark == "math"
    assert {p.level for p in math} <= {1, 2, 3, 4, 5, None}
    m500 = load_benchmark(str(shared_data / "math500.jsonl"))
    assert len(m500) == 500 and m500[0].problem_id.startswith("math500/test/")
    assert all(isinstance(p.level, int) for p in m500)
    gsm = load_benchmark(str(shared_data / "gsm8k_test.jsonl"))
    assert len(gsm) == 1319 and all(p.kind == "gsm8k" and "," not in p.answer for p in gsm)


def test_known_math_erratum_is_fixed_on_load(shared_data):
    math = {p.unique_id: p for p in load_benchmark(str(shared_data / "math_test.jsonl"))}
    assert math["test/prealgebra/177.json"].answer == "6"
