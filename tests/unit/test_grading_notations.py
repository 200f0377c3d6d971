"""Grader 1.2 notations: named quantities, ratios, runs of boxes, word-separated lists,
inequalities not in solved form and prose answer sentences, each with the cases left alone."""

from __future__ import annotations

import pytest

from qmr_core.grading import extract, gold_answer, grade
from qmr_core.grading.equivalence import check
from qmr_core.grading.names import is_name


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        # A named quantity's value is the answer, as for "x = 3".
        ("PQ = 9", "9", True),
        ("|PQ| = 9", "9", True),
        ("\\angle XYZ = 40", "40", True),
        ("A_1 : A_2 = 5 : 8", "5:8", True),
        ("\\frac{RS}{ST} = \\frac{2}{\\sqrt{3}}", "\\frac{2}{\\sqrt{3}}", True),
        ("KL = 6, MN = 11", "11, 6", True),
        ("PQ = 9", "QP = 9", False),  # two names: the names must agree
        # Left alone: equations whose left side is not a name.
        ("u + v = 12", "12", False),
        ("3p - 2q = 7", "7", False),
        ("uv = 12", "12", False),
        # A number on the left and an expression on the right is an equation, not the expression.
        ("9 = 4m + k", "4m + k", False),
        ("9 = 4m + k", "4m + k = 9", True),
        ("6 \\times 8 = 48", "48", True),  # a numeric chain is still its value
    ],
)
def test_named_quantities(gold: str, pred: str, expected: bool) -> None:
    assert check(gold, pred)[0] is expected


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("5:9", "5:9", True),
        ("5:9", "5 : 9", True),
        ("10:00", "1:00", False),  # never a division (10/0 and 1/0)
        ("9:30", "9:03", False),
        ("5:9", "9:5", False),  # ordered
        ("5:9", "\\frac{5}{9}", False),  # a ratio asked for, a fraction given
        ("(5, 9)", "5:9", False),
        ("\\{5, 9\\}", "5:9", False),  # never an unordered list
        ("2:3:4", "2:3:4", True),
    ],
)
def test_ratios(gold: str, pred: str, expected: bool) -> None:
    assert check(gold, pred)[0] is expected


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("4, 13, and 27", "4, 13, \\text{ and } 27", True),
        ("(8,3)or(3,8)", "(3,8), (8,3)", True),
        ("4 or 9", "9, 4", True),
        ("4 or 9", "4", False),
        ("\\text{red and blue}", "\\text{red and blue}", True),  # text stays text
    ],
)
def test_word_separated_lists(gold: str, pred: str, expected: bool) -> None:
    assert check(gold, pred)[0] is expected


@pytest.mark.parametrize(
    ("output", "answer"),
    [
        ("so $\\boxed{2}$, $\\boxed{5}$ and $\\boxed{8}$.", "2, 5, 8"),
        ("\\boxed{(1, 4)} \\quad \\text{and} \\quad \\boxed{(4, 1)}", "(1, 4), (4, 1)"),
        ("\\boxed{7} and \\boxed{7}", "7"),  # the same box twice is one answer
        # "or" keeps the alternatives (a hedge; equal to one gold only if all are: test_grading_review).
        ("\\boxed{2y+1} or \\boxed{1+2y}", "2y+1 or 1+2y"),
        # Left alone: the last box wins across text or a paragraph break.
        ("first \\boxed{3}, then checking again the answer is \\boxed{6}", "6"),
        ("\\boxed{3}\n\n\\boxed{6}", "6"),
    ],
)
def test_run_of_boxes_is_one_list(output: str, answer: str) -> None:
    assert extract(output).answer == answer


def test_run_of_boxes_grades_as_a_list_and_in_golds() -> None:
    assert grade("-3, 5", "The roots are $\\boxed{-3}$ and $\\boxed{5}$.").correct
    assert not grade("5", "The roots are $\\boxed{-3}$ and $\\boxed{5}$.").correct
    assert gold_answer("$\\boxed{2}$, $\\boxed{11}$") == "2, 11"


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("t < 4", "-t > -4", True),
        ("t \\geq -2", "3t + 6 \\geq 0", True),
        ("(-\\infty, 4)", "8 > 2t", True),
        ("t < 4", "-t > 4", False),
        ("t < 4", "-t \\geq -4", False),  # the endpoint differs
        ("(1, 4)", "t > 1", False),  # a bounded interval is not a half-line
        ("0 < g(t) < 2", "(0, 2)", True),  # the range of g
        ("0 < g(t) < 2", "[0, 2)", False),
    ],
)
def test_inequalities_not_in_solved_form(gold: str, pred: str, expected: bool) -> None:
    assert check(gold, pred)[0] is expected


@pytest.mark.parametrize(
    ("output", "answer"),
    [
        ("Final Answer: The area of $PQRS$ is 48. I hope it is correct.", "48"),
        ("Final Answer: The smallest $k$ equals $\\frac{3}{4}$.", "\\frac{3}{4}"),
        ("Final Answer: Tom arrives 7 minutes late.", "7"),
        # Left alone: two numbers and no "is" -> the sentence as written; math is not prose.
        ("Final Answer: Tom has 7 apples and 3 pears.", "Tom has 7 apples and 3 pears"),
        ("Final Answer: $y = 2x + 1$", "y = 2x + 1"),
    ],
)
def test_prose_answer_sentence(output: str, answer: str) -> None:
    assert extract(output).answer == answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [("PQ", True), ("|PQ|", True), ("m\\angle B", True), ("\\overline{CD}", True), ("R_1:R_2", True),
     ("pq", False), ("P+Q", False), ("PQ2", False), ("f(t)", False), ("P" * 80, False)],
)
def test_is_name(text: str, expected: bool) -> None:
    assert is_name(text) is expected
