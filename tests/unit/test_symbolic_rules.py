"""The checker's rules beyond single arithmetic claims: each read when true and when false, and the
correct steps each must leave alone."""

import time

import pytest

from qmr_core.diagnose.processbench import flag_precision
from qmr_core.diagnose.step_checker import check_steps
from qmr_core.diagnose.step_claims import find_claims


def false_claims(text: str) -> list[str]:
    return [c.text for c in find_claims(text).false_claims]


def flags(steps: list[str]) -> list[tuple[int, str]]:
    return [(f.step_idx, f.claim.rule) for f in check_steps(steps).flags]


# -- plain-text units -------------------------------------------------------------------------

@pytest.mark.parametrize("true_form,false_form", [
    ("33 classes * 15 students/class = 495 students", "33 classes * 15 students/class = 485 students"),
    ("42 bales x 75 pounds per bale = 3150 pounds", "42 bales x 75 pounds per bale = 3250 pounds"),
    ("3 hours * $35/hour = $105", "3 hours * $35/hour = $115"),
    ("$194/meter × 490 meters = $95,060", "$194/meter × 490 meters = $94,860"),
    ("3 hours = 180 minutes", "3 hours = 120 minutes"),  # conversion, exact factor
    ("3 hours × 60 minutes/hour = 180 minutes", "3 hours × 60 minutes/hour = 120 minutes"),
    ("$4.20 + $9.45 + $1.35 = $15.00", "$4.20 + $9.45 + $1.35 = $14.99"),  # money: nothing to round
])
def test_units_read_true_and_false(true_form, false_form):
    assert find_claims(true_form).claims and not false_claims(true_form), true_form
    assert false_claims(false_form), false_form


@pytest.mark.parametrize("text", [
    "5 boxes = 5 * 12 = 60 pencils",  # a count in another unit
    "2 packs = 24 cans",
    "2 hours + 30 minutes = 150 minutes",  # terms in different units
    "90 minutes × 40 miles per hour = 60 miles",  # conversion hidden in the units
    "2 months = 60 days",  # no exact factor
    "3 dozen = 36 eggs",
    "He has 3 apples and 4 oranges = 7 fruits",  # 'and' is no unit: not a claim about 4
    "100 minutes = 1.67 hours",  # rounded conversion
    "22/7 = 3.14",
    "0.33 × 3 = 1",  # a rounded input
])
def test_unit_traps_are_not_flagged(text):
    assert false_claims(text) == [], text


# -- shares: percent and fractions of a number ---------------------------------------------------

def test_shares():
    assert false_claims("20% of 50 = 12") == ["20% of 50 = 12"]
    assert false_claims("So 2/5 of 4000 gallons = 800 gallons.") != []
    for ok in ("20% of 50 = 10", "one-third of 27 = 9 unicorns", "one third of 20 = 6.67", "25% of 80 is 20",
               "10% of 50 is 5 more than last year", "20% of $24 = 0.20 × $24 = $4.80", "40% of 25 = 10%",
               "about 30% of 31 = 9"):
        assert false_claims(ok) == [], ok


# -- algebra and equations ---------------------------------------------------------------------

def test_equation_solutions_are_checked_by_substitution():
    assert flags(["2x + 3 = 11, so x = 4."]) == []
    assert flags(["2x + 3 = 11, so x = 5."]) == [(0, "equation")]
    assert flags(["150 + \\( x \\) = 500.", "Subtracting 150 from both sides: \\( x \\) = 350 - 150."]) == [(1, "equation")]
    assert flags(["0.99B + 1.01B + B = 4500. Combine like terms: 3.01B = 4500."]) == [(0, "equation")]
    assert flags(["3.01B = 4500, so B = 1495.02"]) == []  # the solution rounded as written


@pytest.mark.parametrize("steps", [
    ["(x - 2)(x - 3) = 0, so x = 2, x = 3."],  # a listing of roots
    ["x = 2 and x = 3 are the roots"],
    ["If x = 2, then 2x + 1 = 5. If x = 3, then 2x + 1 = 7."],  # cases
    ["2x + 3 = 11, or 2x + 3 = -11."],
    ["x + y = 10 and x - y = 2, so x = 6."],  # two variables: not a one-variable equation
    ["\\sin x + \\cos x = \\frac{1}{2}, so \\sin 2x = -\\frac{3}{4}."],  # function arguments
    ["f(x) = 2x + 1, so f(3) = 7."],
    ["Let x be the price. 3x = 15, so x = 5. Let x be the count: 2x = 8."],
])
def test_equation_traps_are_not_flagged(steps):
    assert flags(steps) == [], steps


def test_rewrite_chains_and_cancelling_variables():
    assert flags(["\\( (x - 16 + 100) - 25 = x + 69 - 25 = x + 44 \\)"]) == [(0, "algebra")]
    assert flags(["\\( (x - 16 + 100) - 25 = x + 84 - 25 = x + 59 \\)"]) == []
    assert flags(["Then x + 84 = x + 69."]) == [(0, "algebra")]  # no x satisfies it
    assert flags(["Then x + 84 = x + 69, a contradiction."]) == []
    for ok in ("x^2 + 5x + 6 = (x + 2)(x + 3)", "(x + 1)^2 = x^2 + 2x + 1 = (x+1)(x+1)", "a^2 + b^2 = c^2 = 25",
               "y = 2x + 1 = 2(3) + 1 = 7"):
        assert flags([ok]) == [], ok


# -- named quantities --------------------------------------------------------------------------

def test_named_quantity_then_its_value():
    assert flags(["Total pencils = 30 * 10. Total pencils = 310."]) == [(0, "named")]
    assert flags(["Total pencils = 30 * 10. Total pencils = 300."]) == []
    assert flags(["\\[ \\text{Total Score} = 50 + 80 + 60 \\]", "Adding: \\[ \\text{Total Score} = 200 \\]"]) == [(1, "named")]
    assert flags(["Total = \\(\\frac{3}{4}A + \\frac{3}{4}A + 60 + A\\) Total = \\(1A + 60 + \\frac{7}{4}A\\)"]) == [(0, "named")]
    assert flags(["Total = \\(\\frac{3}{4}A + \\frac{3}{4}A + 60 + A\\) Total = \\(2.5A + 60\\)"]) == []


@pytest.mark.parametrize("steps", [
    ["Remaining = 300 - 60 = 240. Remaining = 240 - 80 = 160."],  # an update, not a restatement
    ["Total = 300 - 60. Then she buys 5 more. Total = 245."],  # narrative between
    ["Total cost = 20 + 25 = 45.", "The total cost = 45 dollars."],
    ["Total = 2 + 3. If we also add 1, Total = 6."],
])
def test_named_traps_are_not_flagged(steps):
    assert flags(steps) == [], steps


def test_a_derived_value_restated_differently_later():
    steps = ["Total cost = 20 + 25 = 45.", "Tax is extra.", "Total cost = 54."]
    assert flags(steps) == [(2, "restated")]
    assert flags(["Total cost = 20 + 25 = 45.", "Tax is extra.", "Total cost = 45."]) == []
    assert flags(["Total cost = 20 + 25 = 45.", "Total cost = 45 + 9 = 54."]) == []  # an update, computed


# -- final answer ------------------------------------------------------------------------------

def test_final_answer_right_after_the_last_derived_value():
    assert flags(["Total = 600 + 45 = 645. The answer is \\boxed{654}."]) == [(0, "final answer")]
    assert flags(["Total = 600 + 45 = 645. The answer is \\boxed{645}."]) == []
    assert flags(["33 + 24 = 57 students, then there must be \\boxed{15} double-counted."]) == []
    assert flags(["The rate is 0.25. The answer is \\boxed{25}."]) == []  # 0.25 as a percent
    assert flags(["So x = 3.33, the answer is \\boxed{4}"]) == []  # rounded up


# -- scoring -----------------------------------------------------------------------------------

def test_flag_precision_counts_late_flags_as_wrong():
    fp = flag_precision([1, 1, -1, 2, 3], [1, 3, 0, None, -1])
    assert (fp.right, fp.wrong, fp.late) == (1, 2, 1)
    assert fp.precision == pytest.approx(1 / 3)


def test_hostile_algebra_is_fast():
    texts = ["x" + " + x" * 3000 + " = 5 = x", "(" * 500 + "x" + ")" * 500 + " = 2x = 3",
             "Total = " + " + ".join(["x"] * 2000) + ". Total = 7.", "x^{200} = x^{199} = 1"]
    started = time.perf_counter()
    for t in texts:
        check_steps([t, t])
    assert time.perf_counter() - started < 5.0


def test_display_breaks_continue_a_derivation():
    steps = ["\\[ S = 165 \\times \\frac{6}{11} \\] \\[ S = 9 \\times 6 \\] \\[ S = 54 \\]"]
    assert flags(steps) == [(0, "equation")]
    assert flags(["\\[ S = 165 \\times \\frac{6}{11} \\] \\[ S = 15 \\times 6 \\] \\[ S = 90 \\]"]) == []
    assert flags(["Thus $x - 3 = 0,$ $x - 7 = 0,$ or $2x - 10 = 0.$"]) == []  # a listing


def test_substituting_a_definition_into_an_equation():
    steps = ["So \\[S = 2B\\]", "Also \\[(S + 2) + (B + 2) = 28\\]", "Substituting, we get: \\[2B + 4 + B + 2 = 28\\]"]
    assert flags(steps) == [(2, "equation")]
    steps[2] = "Substituting, we get: \\[2B + 2 + B + 2 = 28\\]"
    assert flags(steps) == []
    # the definition is stale after two steps: no verdict
    assert flags(["\\[S = 2B\\]", "a", "b", "c", "\\[(S + 2) + (B + 2) = 28\\]", "so \\[2B + 4 + B + 2 = 28\\]"]) == []


def test_fixed_facts():
    assert flags(["There are 30 days in March, so 30 * 3 = 90 posts."]) == [(0, "fact")]
    assert flags(["Two nickels are worth $0.10 (10 cents) each."]) == [(0, "fact")]
    assert flags(["There are 50 minutes in an hour."]) == [(0, "fact")]
    assert flags(["There are 12 years in a decade."]) == [(0, "fact")]
    assert flags(["There are 1000 years in a century."]) == [(0, "fact")]
    for ok in ("There are 31 days in March.", "February has 29 days this year.", "There are 52 weeks in a year.",
               "There are 5 days in a week (school days).", "She worked 20 days in March.",
               "He sleeps 8 hours in a day.", "Two nickels are worth $0.10.", "A quarter is worth 25 cents.",
               "There are 4 weeks in a month.", "There are 12 inches in a foot and 3 feet in a yard.",
               "You may have 30 days in may.", "There are 10 years in a decade.",
               "There are 100 years in a century."):
        assert flags([ok]) == [], ok


def test_clock_and_date_spans():
    assert flags(["So the total time from 8:00 AM until 11:00 PM is \\(11 + 8 = 19\\) hours."]) == [(0, "fact")]
    assert flags(["From January 1st to July 18th, there are 203 days."]) == [(0, "fact")]
    for ok in ("Kim sleeps from 10 p.m. to 6 a.m., which is 8 hours.", "From 9 AM to 5 PM, she takes 2 hours of breaks.",
               "from 9:30 a.m. to 11 a.m. is 1 hour and 30 minutes", "From January 1st to July 18th, there are 199 days.",
               "From 9 AM to 5 PM is a long day; lunch is 1 hour."):
        assert flags([ok]) == [], ok
