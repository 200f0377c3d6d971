"""Extraction paths of qmr_core.grading.extract."""

from __future__ import annotations

import time

import pytest

from qmr_core.grading import Extraction, extract, extract_answer, gold_answer
from qmr_core.grading.extract import MAX_OUTPUT_CHARS, METHODS


@pytest.mark.parametrize(
    "text, answer, method",
    [
        ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}", "boxed"),
        ("nested \\boxed{\\frac{\\sqrt{3}}{\\left(2\\right)}} end", "\\frac{\\sqrt{3}}{\\left(2\\right)}", "boxed"),
        ("first \\boxed{1}, then \\boxed{2}.\nFinally \\boxed{3}.", "3", "boxed"),
        ("The value is \\fbox{12}", "12", "fbox"),
        ("thus \\boxed 5.", "5", "boxed_space"),
        ("matrix \\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}",
         "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "boxed"),
        ("escaped \\boxed{\\{1, 2\\}}", "\\{1, 2\\}", "boxed"),
        ("box in box \\boxed{\\boxed{7}}", "7", "boxed"),
        ("Final Answer: The final answer is $\\frac{3}{5}$. I hope it is correct.", "\\frac{3}{5}", "final_answer"),
        ("The final answer is $x^2+1$", "x^2+1", "final_answer"),
        ("Final Answer: 42", "42", "final_answer"),
        ("**Final Answer:** (2, 3)", "(2, 3)", "final_answer"),
        ("## Final Answer\n\n$\\frac{1}{2}$\n", "\\frac{1}{2}", "final_answer"),
        ("To find the final answer, we add 2 and 3 to get 5", "5", "last_number"),
        ("So the answer is \\(\\frac{1}{2}\\).", "\\frac{1}{2}", "answer_is"),
        ("The answer is 3.5.", "3.5", "answer_is"),
        ("**Answer:** 15", "15", "answer_is"),
        ("The answer is: 7 apples.", "7 apples", "answer_is"),
        ("we get 5 and then 7 and 8.5 total", "8.5", "last_number"),
        ("costs $1,200 in all", "1200", "last_number"),
        ("half is 1/2", "1/2", "last_number"),
        ("she ends with -5 degrees", "-5", "last_number"),
        ("unclosed \\boxed{12", "12", "last_number"),
        ("prose \\boxed{The answer is 5}", "5", "boxed"),
        ("\\boxed{\\text{Final answer: } \\frac{1}{2}}", "\\frac{1}{2}", "boxed"),
        ("empty box \\boxed{} then the answer is 4", "4", "answer_is"),
    ],
)
def test_math_paths(text: str, answer: str, method: str) -> None:
    assert extract(text) == Extraction(answer, method)
    assert extract_answer(text) == answer


@pytest.mark.parametrize(
    "text, answer, method",
    [
        ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72", "gsm8k_hash"),
        ("#### 1,200", "1200", "gsm8k_hash"),
        ("#### $18.00", "18", "gsm8k_hash"),
        ("She pays \\boxed{\\$1,200} in total. #### no", "1200", "boxed"),
        ("The answer is $\\boxed{18}$.", "18", "boxed"),
        # SmolLM2-style outputs: no box, an answer sentence after (wrong) arithmetic.
        ("He has 12 * 7 = 90 apples ... The answer is 90", "90", "answer_is"),
        ("3 + 4 = 7 apples ... The answer is: 7", "7", "answer_is"),
        ("3 + 4 = 7 apples ... The answer is: 7 apples.", "7", "answer_is"),
        ("So total $1,200. The answer is $1,200.", "1200", "answer_is"),
        ("The answer is 18.00 dollars.", "18", "answer_is"),
        ("The answer is 12 * 7 = 84.", "84", "answer_is"),
        ("Total is 1,234,567 dollars", "1234567", "last_number"),
        ("so 3 + 4 = 7.", "7", "last_number"),
    ],
)
def test_gsm8k_paths(text: str, answer: str, method: str) -> None:
    assert extract(text, "gsm8k") == Extraction(answer, method)


def test_gsm8k_hash_wins_over_box_but_not_for_math() -> None:
    text = "\\boxed{5} ... #### 6"
    assert extract(text, "gsm8k") == Extraction("6", "gsm8k_hash")
    assert extract(text, "math").method == "boxed"


def test_box_wins_over_answer_sentence() -> None:
    assert extract("The answer is 4. Actually \\boxed{5}") == Extraction("5", "boxed")


@pytest.mark.parametrize("text", ["", "   ", "no numbers here", None, 12, b"\\boxed{1}"])
def test_no_answer(text: object) -> None:
    ex = extract(text)  # type: ignore[arg-type]
    assert ex == Extraction(None, "none")


def test_methods_are_declared() -> None:
    samples = ["\\boxed{1}", "\\fbox{1}", "\\boxed 1", "the answer is 1", "Final Answer: 1", "#### 1", "1", ""]
    seen = {extract(s, "gsm8k" if "####" in s else "math").method for s in samples}
    assert seen == set(METHODS)


def test_huge_outputs_are_fast_and_capped() -> None:
    many_unclosed = "\\boxed{" * 50_000 + "1"
    t0 = time.perf_counter()
    assert extract(many_unclosed).method == "last_number"
    assert extract("x " * 150_000 + "\\boxed{3}").answer == "3"
    assert extract("9" * (MAX_OUTPUT_CHARS + 1)).method == "none"
    assert time.perf_counter() - t0 < 5


def test_gold_answer() -> None:
    assert gold_answer("Natalia sold ... #### 72", "gsm8k") == "72"
    assert gold_answer("so $\\boxed{\\frac12}$") == "\\frac12"
    assert gold_answer("  x=3 ") == "x=3"


# ---------------------------------------------------------------- step labels and truncation (grader 1.1)
LOOP = "".join(f"Step {i}: 3x = 24.\n" for i in range(1, 8)) + "Step 8: "


@pytest.mark.parametrize(
    "text, answer",
    [
        (LOOP, "24"),
        ("Step 1: 7 + 2 = 9\nStep 2:", "9"),
        ("**Step 1:** 7 + 2 = 9\n**Step 2:**", "9"),
        ("## Step 3\nwe get 4 apples\n## Step 4", "4"),
        ("Step 1: 7 + 2 = 9. Step 2: 9 * 2 = 18. Step 3:", "18"),
        ("We list them.\n1. red\n2. blue\n3.", None),
        ("Cases:\n(1) x = 5\n(2)", "5"),
        ("Try:\n3) 7 + 2 = 9\n4)", "9"),
        ("1. Halve 5.\n2.5", "2.5"),
        ("so x =\n-5.", "-5"),
        # a bare number line is list numbering only where it continues a list
        ("x = 5 + 37 =\n42.", "42"),
        ("Let me compute.\n42.", "42"),
        ("1. Compute\n2. Sum\n42.", "42"),
        ("Step 1: a\nStep 2: b\n3.", None),
    ],
)
def test_step_labels_and_list_numbers_are_never_answers(text: str, answer: str | None) -> None:
    ex = extract(text)
    assert ex.answer == answer
    assert ex.method == ("last_number" if answer is not None else "none")


def test_truncated_output_without_a_stated_answer_has_none() -> None:
    from qmr_core.grading import TRUNCATED, grade

    v = grade("8", LOOP, "math", finish_reason="length")
    assert (v.correct, v.extracted, v.rule, v.extract_method) == (False, None, "no-answer", TRUNCATED)
    assert grade("24", "Step 1: 3 * 8 = 24\nStep 2: 24", finish_reason="length").extracted is None
    # an answer the output states before the cut still counts; so does a normal end
    assert grade("24", "Step 1: The answer is 24.\nStep 2: Check: 3", finish_reason="length").correct
    assert grade("24", "So $\\boxed{24}$.\nStep 3: 3 * 8 =", finish_reason="length").correct
    assert grade("12", "3 * 4 = 12\n#### 12\nQuestion: how", "gsm8k", finish_reason="length").correct
    assert grade("24", "Step 1: 3 * 8 = 24\nStep 2: 24", finish_reason="eos").correct
    assert grade("24", "Step 1: 3 * 8 = 24\nStep 2: 24").correct  # unknown end (imports)


def test_issue_14_loop_is_not_correct() -> None:
    from qmr_core.grading import grade

    out = "Step 1: 3x = 24.\nStep 2: 3x = 24.\n...\nStep 8: "
    assert not grade("8", out, "math", finish_reason="length").correct
    assert not grade("8", out, "math").correct


# ---------------------------------------------------------------- factorials are kept (issue 17)
def test_factorial_in_math_is_evaluated_not_dropped() -> None:
    from qmr_core.grading import grade

    assert extract("so $\\boxed{5!}$.").answer == "5!"
    assert grade("120", "so $\\boxed{5!}$.").correct
    assert not grade("5", "so $\\boxed{5!}$.").correct
    assert grade("120", "The answer is $5!$.").correct
    assert extract("The answer is 42!").answer == "42"  # prose: an exclamation mark


# ---------------------------------------------------------------- linear time on long runs (issue 17)
def _within(seconds: float, fn):
    import threading

    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("v", fn()), daemon=True)
    t0 = time.perf_counter()
    t.start()
    t.join(timeout=seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    return out["v"], time.perf_counter() - t0


RUN = 32_000


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{1" + " " * RUN + "2}",  # 23 s before 1.1 (trailing-junk pattern; 105 s at 64k)
        "The answer is 5" + " " * RUN + "x",  # "I hope it is correct" pattern
        "final answer" + " " * RUN + "x",
        "\n" * RUN + "x",  # ^[#*\s]* under MULTILINE
        "The answer is 5" + ".,;" * (RUN // 3) + "x",
        "\\boxed{5" + "!" * RUN + "x}",
        "the answer is 5" + "! " * (RUN // 2) + "x",
        "The answer is $" + " " * RUN,
    ],
    ids=["box-spaces", "hope", "final-answer", "newlines", "punctuation", "bangs", "prose-bangs", "dollar"],
)
def test_long_runs_grade_in_linear_time(text: str) -> None:
    from qmr_core.grading import grade

    verdict, _took = _within(5.0, lambda: grade("1", text, "math"))
    assert verdict.correct is False


def test_readme_documents_the_output_cap() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"{MAX_OUTPUT_CHARS:,}" in readme
