"""grading/exact_numbers.py: the number reading and the brace matcher that the grader and the symbolic
step checker share."""

from fractions import Fraction

import pytest

from qmr_core.diagnose.arith import tokenize
from qmr_core.grading.exact_numbers import (
    NUMBER_IN_TEXT,
    brace_group,
    brace_pairs,
    decimal_value,
    parse_number,
    percent,
)


@pytest.mark.parametrize("text,value,decimals", [
    ("1,234", Fraction(1234), None), ("12.50", Fraction(25, 2), 2), (".5", Fraction(1, 2), 1),
    ("12.", Fraction(12), None), ("1,000.25", Fraction(100025, 100), 2),
])
def test_decimal_value(text, value, decimals):
    assert decimal_value(text)[:2] == (value, decimals)


@pytest.mark.parametrize("text,value", [
    ("-3/4", Fraction(-3, 4)), ("2\\frac{1}{2}", Fraction(5, 2)), ("1.5e-3", Fraction(3, 2000)),
    ("10^{3}", Fraction(1000)), ("1,000", Fraction(1000)),
])
def test_parse_number(text, value):
    num = parse_number(text)
    assert num is not None and num.value == value


@pytest.mark.parametrize("text", ["1/0", "\\frac{1}{0}", "1e999", "x", "1,00", "9" * 401])
def test_parse_number_refuses(text):
    assert parse_number(text) is None


def test_number_in_text_and_percent():
    assert [m.group(0) for m in NUMBER_IN_TEXT.finditer("pay $1,234.50 for 12 items, .5 each, 3.")] == \
        ["1,234.50", "12", ".5", "3"]
    assert percent(Fraction(25)) == Fraction(1, 4)


def test_one_brace_matcher():
    assert brace_pairs(r"\frac{a}{b\{c\}}") == {5: 7, 8: 15}
    assert brace_pairs("}{") == {}  # unmatched braces are left out
    assert brace_group(r"\text {12 apples} = 3", 5) == ("12 apples", 17)
    assert brace_group("{" + "x" * 500 + "}", 0) is None  # does not close within the limit
    assert brace_group("no group", 0) is None


def test_checker_reads_numbers_as_the_grader_does():
    toks = [t for t in tokenize("1,234.50 + \\text{12} = .5") if t.kind == "NUM"]
    assert [(t.value, t.decimals) for t in toks] == [(Fraction(246900, 200), 2), (Fraction(12), 0), (Fraction(1, 2), 1)]
