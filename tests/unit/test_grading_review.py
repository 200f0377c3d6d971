"""Adversarial cases for grader 1.2's new rules (a review of them): each gives credit only for the
answer the output states, and none turns a wrong answer into a right one."""

from __future__ import annotations

import time

import pytest

from qmr_core.grading import check, extract, grade
from qmr_core.grading.extract import MAX_OUTPUT_CHARS


@pytest.mark.parametrize(
    ("gold", "output", "benchmark", "expected"),
    [
        # A hedge across boxes is read as all its alternatives, not as its last box.
        ("4", "So the answer is \\boxed{3} or \\boxed{4}.", "math", False),
        ("3, 4", "So $x = \\boxed{3}$ or $x = \\boxed{4}$.", "math", False),  # text between: last box
        ("3, 4", "\\boxed{3} or \\boxed{4}", "math", True),
        ("x+11", "\\boxed{x+11} or \\boxed{11+x}", "math", True),  # one answer in two forms
        ("\\text{yes}", "\\boxed{\\text{yes}} or \\boxed{\\text{no}}", "math", False),  # "\\text{no}" is no unit
        ("A", "\\boxed{A} or \\boxed{B}", "math", False),
        ("5", "\\boxed{5} or \\boxed{-5}", "math", False),
        ("\\frac{1}{3}", "\\boxed{\\frac{1}{3}} or \\boxed{0.333}", "math", False),  # both must be right
        # GSM8K: a run of boxes is a list there too, never its first number.
        ("18", "She sells \\boxed{16} eggs, \\boxed{18} dollars", "gsm8k", True),  # text between: last box
        ("16", "\\boxed{16}, \\boxed{18}", "gsm8k", False),
        ("16", "\\boxed{16}\n\\boxed{18}", "gsm8k", False),
        ("18", "\\boxed{16} and \\boxed{18}", "gsm8k", False),
        ("18", "\\boxed{\\$18}\n\\boxed{\\$18}", "gsm8k", True),
    ],
)
def test_box_runs_and_hedges(gold: str, output: str, benchmark: str, expected: bool) -> None:
    assert grade(gold, output, benchmark).correct is expected


@pytest.mark.parametrize(
    ("output", "gold", "expected"),
    [
        # The value is the one the sentence states, not a number in its reason.
        ("The final answer is 2 since the number of boys is 6.", "2", True),
        ("The final answer is 2 since the number of boys is 6.", "6", False),
        ("The answer is 10 because the total is 7", "7", False),
        ("The final answer is 5, where $x$ is 3.", "5", True),
        ("The final answer is 5, where $x$ is 3.", "3", False),
        ("The final answer is 12, which is the number of apples.", "12", True),
        ("Final Answer: 9, since 4+5 = 9", "9", True),
        ("Final Answer: Since $2+5=7$, the answer is 7", "7", True),
        ("Final Answer: The answer is 7 -- the total is 6.", "6", False),
        ("Final Answer: 7: the total is 6.", "6", False),
        ("Final Answer: 7 apples, whereas the total is 6", "6", False),
        ("Final Answer: The answer is 7 (the total is 6).", "6", False),
        ("Final Answer: The answer is 7 (the total is 6).", "7", True),
        ("Final Answer: The ratio is 3:1.", "3:1", True),
        # Two statements, a condition or a hedge: no single value.
        ("Final Answer: $x$ is 9 and $y = 5$", "5", False),
        ("Final Answer: $x$ is 9 and $y = 5$", "9", False),
        ("The final answer is 10 when $n$ is 4", "4", False),
        ("Final Answer: She needs more than 5 apples.", "5", False),
        ("Final Answer: She did not buy 5 apples.", "5", False),
        ("Final Answer: The root is between 2 and 3.", "3", False),
        ("Final Answer: The smallest value is at least 5.", "5", False),
        ("Final Answer: The answer is not 3.", "3", False),
        # A text answer is no hedged number.
        ("Final Answer: There is no solution.", "\\text{no solution}", True),
        ("Final Answer: The answer is no.", "\\text{No}", True),
        # Comparison and reason words in the subject are no hedge.
        ("Final Answer: The least common multiple of 12 and 18 is 36.", "36", True),
        ("Final Answer: The distance between $A$ and $B$ is 5.", "5", True),
        ("Final Answer: The number of days since Monday is 3.", "3", True),
        ("Final Answer: The probability of rolling over 3 is $\\frac{1}{2}$.", "\\frac{1}{2}", True),
        # A chain after "is" ends at its value.
        ("Final Answer: The total cost is $3 \\times 6 = 18$ dollars.", "18", True),
        ("Final Answer: The total cost is $3 \\times 6 = 18$ dollars.", "6", False),
    ],
)
def test_prose_sentence_value(output: str, gold: str, expected: bool) -> None:
    assert grade(gold, output, "math").correct is expected


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("(-\\infty, 1)", "-e > -1", False),  # e is a constant: no variable, no half-line
        ("(-\\infty, e)", "-x > -e", True),
        ("1", "1:1:1:1:1:1:1", False),  # a long ratio is no division either
        ("2", "4:2:1:1:1:1:1", False),
        ("1:1:1:1:1:1:1", "1:1:1:1:1:1:1", True),
        # a.m./p.m. is part of a time, not a unit to drop.
        ("4:30 \\text{ p.m.}", "4:30 \\text{ a.m.}", False),
        ("\\text{4:30 p.m.}", "4:30 a.m.", False),
        ("\\text{4:30 p.m.}", "4:30 PM", True),
        ("\\text{1:03 PM}", "1:03 \\text{ p.m.}", True),
        ("\\text{4:30 p.m.}", "4:30", False),
        ("5", "5 \\text{ or } \\text{more}", False),  # a word after "or" is no unit
        ("\\text{yes}", "\\text{yes} or \\text{no}", False),
        # Named values: a function at a number, a \text{} word; not a product or a sum.
        ("5", "f(2) = 5", True),
        ("5", "f(2) = 6", False),
        ("\\frac{1}{2}", "g^{-1}(3) = \\frac{1}{2}", True),
        ("12", "\\text{Area} = 12", True),
        ("6", "x(2) = 6", False),
        ("5", "f(2) + 1 = 5", False),
        ("f(2) = 5", "g(2) = 5", False),
        # "or" joins alternatives: a set of solutions, never an ordered pair.
        ("(3,4)", "3 or 4", False),
        ("(3,4)", "3 \\text{ or } 4", False),
        ("(1,2,3)", "1, 2, or 3", False),
        ("1, 2, 3", "1, 2, or 3", True),
        ("-2, 3", "x=-2 or x=3", True),
        ("(3,4)", "3 and 4", True),  # a bare list in order may stand for a tuple
        # A chain whose plain numbers differ states no value.
        ("6", "x = 5 = 6", False),
        ("6", "5 = 6", False),
        ("\\frac{1}{2}", "x = 0.5 = \\frac{1}{2}", True),
        ("\\frac{1}{3}", "x = \\frac{1}{3} = 0.333", False),  # the value is 0.333: not exact
        # A chain with no variable is its last value; with one it is an equation.
        ("6\\pi", "2 \\cdot 3 = 6\\pi", True),
        ("10", "\\binom{5}{2} = 10", True),
        ("7", "7 = 11a + c", False),
        ("11a+c", "7 = 11a + c", False),
        # Exactness holds through the new forms.
        ("\\frac{1}{3}", "AB = 0.333", False),
        ("\\frac{1}{3}", "f(1) = 0.333", False),
        ("(-\\infty, \\frac{1}{3})", "-x > -0.333", False),
        ("\\frac{1}{2}", "1:2", False),
    ],
)
def test_new_forms(gold: str, pred: str, expected: bool) -> None:
    assert check(gold, pred)[0] is expected


def test_a_rounded_decimal_in_a_chain_is_its_value_where_rounding_is_asked() -> None:
    problem = "Express your answer as a decimal to the nearest hundredth."
    assert grade("\\frac{1}{3}", "\\boxed{\\approx 0.33}", problem=problem).correct
    assert not grade("\\frac{1}{3}", "\\boxed{\\approx 0.33}").correct  # exact gold, no rounding asked
    assert grade("0.33", "Final Answer: The probability is approximately 0.33.", problem=problem).correct
    assert not grade("\\frac{1}{3}", "Final Answer: The probability is approximately 0.33.").correct
    assert not grade("3", "Final Answer: The answer is almost 3.").correct  # "almost" is below
    assert grade("0.33", "\\boxed{\\frac{1}{3} = 0.33}", problem=problem).correct
    assert not grade("0.33", "\\boxed{\\frac{1}{3} = 0.34}", problem=problem).correct


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{1} or " * ((MAX_OUTPUT_CHARS - 20) // 13) + "\\boxed{2}",
        ("\\boxed{1}" + " " * 39) * ((MAX_OUTPUT_CHARS - 20) // 48),
        "The final answer is 5" + " since" * ((MAX_OUTPUT_CHARS - 30) // 6),
        "Final Answer: " + "the value is " * ((MAX_OUTPUT_CHARS - 30) // 13) + "5",
        "Final Answer: " + "abc d" * ((MAX_OUTPUT_CHARS - 30) // 5),
    ],
    ids=["or-boxes", "spaced-boxes", "since-run", "is-run", "words"],
)
def test_hostile_runs_are_linear(text: str) -> None:
    assert len(text) <= MAX_OUTPUT_CHARS
    t0 = time.perf_counter()
    extract(text)
    assert time.perf_counter() - t0 < 3.0  # linear: ~0.05 s; a quadratic pattern takes minutes
