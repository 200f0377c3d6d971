"""Exactness policy (grader 1.1): a decimal equals an exact gold only when it is the same number,
unless the problem asks for a rounded answer, and then only at the precision it asks for."""

from __future__ import annotations

import pytest

from qmr_core.grading import Rounding, grade, rounding_request
from qmr_core.grading.equivalence import check


@pytest.mark.parametrize(
    "problem, places",
    [
        ("Round $3.76$ to the nearest tenth.", 1),
        ("Express your answer as a decimal to the nearest hundredth.", 2),
        ("What is the area, to the nearest whole number?", 0),
        ("What is the nearest integer to $(2+\\sqrt3)^4$?", 0),
        ("How much did she pay? Round to the nearest cent.", 2),
        ("Give the population to the nearest ten thousand.", -4),
        ("Round to the nearest ten-thousandth.", 4),
        ("to the nearest thousandth", 3),
        ("Round your answer to the nearest dollar.", 0),
        ("Express your answer to the nearest tenth of a percent.", 1),
        ("What is the distance, to the nearest foot?", 0),
        ("Round 8492 to the nearest hundred.", -2),
        ("what is the value of $\\log_9 4$, accurate to two decimal places?", 2),
        ("Round to 3 decimal places.", 3),
        ("Express your answer as a decimal.", None),
        ("What is $\\frac92$ expressed as a decimal?", None),
        ("Approximately how many miles did he drive?", None),
        ("Give your answer rounded, in decimal form.", None),
    ],
)
def test_rounding_requests_are_read_from_the_problem(problem: str, places: int | None) -> None:
    assert rounding_request(problem) == Rounding(places)


@pytest.mark.parametrize(
    "problem",
    [
        None, "", "Solve for $x$: $3x = 24$.", "Express your answer as a common fraction.",
        "Which vertex is nearest vertex $A$?", "How many digits are to the right of the decimal point?",
        "Give the endpoints as common fractions (not mixed numbers or decimals).",
    ],
)
def test_no_rounding_request(problem: str | None) -> None:
    assert rounding_request(problem) is None


@pytest.mark.parametrize(
    "gold, pred, expected",
    [
        ("\\frac{1}{2}", "0.5", True), ("\\frac{5}{2}", "2.5", True), ("\\frac{1}{8}", "0.125", True),
        ("\\frac{1}{3}", "0.333", False), ("\\pi", "3.1416", False), ("\\sqrt{2}", "1.4142", False),
        ("\\frac{2}{3}", "0.6667", False), ("e", "2.718", False), ("2\\pi", "6.283", False),
        ("\\frac{\\sqrt{3}}{3}", "0.577", False), ("0.333", "\\frac{1}{3}", False),
    ],
)
def test_exact_gold_needs_an_exact_decimal(gold: str, pred: str, expected: bool) -> None:
    assert check(gold, pred)[0] is expected
    assert grade(gold, f"The answer is $\\boxed{{{pred}}}$.", problem="Compute the value.").correct is expected


NEAREST_HUNDREDTH = "What is the area of the circle? Round to the nearest hundredth."


@pytest.mark.parametrize(
    "gold, pred, problem, expected",
    [
        ("3.14", "3.14", NEAREST_HUNDREDTH, True),
        ("\\pi", "3.14", NEAREST_HUNDREDTH, True),
        ("\\pi", "3.1416", NEAREST_HUNDREDTH, False),  # not at the precision asked
        ("3.14", "3.1416", NEAREST_HUNDREDTH, False),
        ("\\pi", "3.15", NEAREST_HUNDREDTH, False),
        ("\\frac{1}{8}", "0.13", NEAREST_HUNDREDTH, True),  # a tie may round either way
        ("\\frac{1}{8}", "0.12", NEAREST_HUNDREDTH, True),
        ("\\frac{1}{3}", "0.33", NEAREST_HUNDREDTH, True),
        ("\\frac{1}{3}", "0.3", NEAREST_HUNDREDTH, False),
        ("\\frac{7}{2}", "4", "Give it to the nearest whole number.", True),
        ("100\\pi", "310", "Round to the nearest ten.", True),
        ("\\frac{1}{3}", "0.333", "Express your answer as a decimal.", True),
        ("\\frac{1}{3}", "0.33", "Express your answer as a decimal.", False),  # 2 digits cannot stand for 1/3
        ("\\frac{1}{8}", "0.13", "Express your answer as a decimal.", False),  # terminating: write it exactly
        ("\\sqrt{2}", "1.41", "What is the length, approximately?", True),
        ("0.43", "\\frac{3}{7}", NEAREST_HUNDREDTH, False),  # asked for a decimal, gave a fraction
        ("(\\frac13, 2)", "(0.33, 2)", NEAREST_HUNDREDTH, True),  # inside a tuple too
    ],
)
def test_rounded_decimal_only_where_the_problem_asks(gold: str, pred: str, problem: str, expected: bool) -> None:
    assert grade(gold, f"So the answer is $\\boxed{{{pred}}}$.", problem=problem).correct is expected
    assert check(gold, pred, "math", rounding_request(problem))[0] is expected


def test_the_request_is_part_of_the_cache_key() -> None:
    assert check("\\pi", "3.14", "math", Rounding(2)) == (True, "numeric")
    assert check("\\pi", "3.14", "math") == (False, "mismatch")
    assert check("\\pi", "3.14", "math", Rounding(2)) == (True, "numeric")
