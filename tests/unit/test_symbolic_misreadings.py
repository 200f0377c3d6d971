"""Statements of the problem that a step misreads: a week taken as 5 days, a price for several items
taken as the price of one, a percent of the same things restated with another value. Each rule flags
its error and leaves the correct reading alone."""

from fractions import Fraction

from qmr_core.diagnose.misreadings import misreading_flags
from qmr_core.diagnose.step_checker import check_steps


def found(problem: str, steps: list[str]) -> list[tuple[int, str, Fraction | None, Fraction | None]]:
    return [(idx, rule, expected, stated) for idx, rule, _q, expected, stated in misreading_flags(problem, steps)]


WEEK = "A gardener earns $40 every day. He worked for a whole week and spent $90. How much is left?"


def test_week_taken_as_five_days():
    steps = ["We find the weekly pay.", "Assuming a standard workweek of 5 days, he earns 5 × $40 = $200."]
    assert found(WEEK, steps) == [(1, "week", Fraction(7), Fraction(5))]
    flag = check_steps(steps, WEEK).flags[0]
    assert (flag.step_idx, flag.claim.rule, flag.claim.error_type) == (1, "week", "Conceptual")
    assert found(WEEK, ["Since she works 6 days a week, ..."]) == [(0, "week", Fraction(7), Fraction(6))]


def test_week_of_working_days_given_or_derived_is_not_flagged():
    assert found(WEEK, ["He works 7 days a week, so he earns 7 × $40 = $280."]) == []
    for problem in ("He earns $40 every weekday. How much in a week?",
                    "He earns $40 a day and works 5 days a week. How much in 3 weeks?",
                    "He earns $40 a day from Monday to Friday. How much in a week?",
                    "A school week: he reads 10 pages each school day. How many pages in a week?"):
        assert found(problem, ["He works 5 days a week, so 5 × 40 = 200."]) == [], problem
    derived = "She works 40 hours a week, 8 hours a day. How much does she earn in a week at $10 an hour?"
    assert found(derived, ["40 / 8 = 5, so she works 5 days a week."]) == []
    assert found("He reads 10 pages a day. How many in 5 days?", ["He works 5 days a week."]) == []  # no week


TICKETS = "Three friends spent $20.25 on 3 tickets to the fair. How much did each pay?"


def test_price_of_several_items_read_as_one():
    assert found(TICKETS, ["Each ticket costs $20.25, so 3 tickets cost 3 × 20.25 = $60.75."]) \
        == [(0, "price", Fraction(27, 4), Fraction(81, 4))]
    assert [f[:2] for f in found(TICKETS, ["One ticket costs $20.25."])] == [(0, "price")]
    apples = "In a store, four apples cost $5.20. How much do 5 apples cost?"
    assert found(apples, ["Each apple costs $5.20, so 5 apples cost $26."]) == [(0, "price", Fraction(13, 10),
                                                                                   Fraction(26, 5))]


def test_price_divided_or_given_per_item_is_not_flagged():
    assert found(TICKETS, ["Each ticket costs $20.25 / 3 = $6.75."]) == []
    assert found(TICKETS, ["Each ticket costs $6.75."]) == []
    assert found("She bought 3 tickets for $20.25 each.", ["Each ticket costs $20.25."]) == []
    assert found("She paid $20.25 for 1 ticket.", ["Each ticket costs $20.25."]) == []


MELONS = "A farm grew 120 melons. 30% of the melons were ready for harvest. How many were not ready?"


def test_percent_restated_with_another_value():
    assert found(MELONS, ["20% of the 120 melons are ready, so 0.2 × 120 = 24."]) \
        == [(0, "percent", Fraction(30), Fraction(20))]


def test_percent_complement_derived_or_other_part_is_not_flagged():
    for ok in ("30% of the 120 melons are ready, so 0.3 × 120 = 36.",
               "70% of the melons were not ready.",
               "So 70% of the melons are left.",
               "100% - 30% = 70%, so 70% of the melons are unripe.",
               "In total 45% of the melons were ready after the second visit."):
        assert found(MELONS, [ok]) == [], ok
    assert found(MELONS, ["0.3 + 0.15 = 0.45", "So 45% of the melons were ready."]) == []
    assert found(MELONS, ["x = 45% of the melons were ready"]) == []


def test_product_over_several_stated_as_one():
    wrong = ["8 portions * 2 kg/portion = 16 kg. So, one portion has 16 kilograms of flour."]
    assert found("", wrong) == [(0, "one of many", Fraction(2), Fraction(16))]
    for ok in ("8 portions * 2 kg/portion = 16 kg. So, one bag has 16 kilograms of flour.",
               "8 portions * 2 kg/portion = 16 kg, and one portion has 2 kilograms.",
               "1 portion has 16 / 8 = 2 kg, since 8 portions * 2 kg = 16 kg.",
               "1 round trip is 2 trips × 30 miles = 60 miles."):
        assert found("", [ok]) == [], ok


def test_share_paid_and_discount_swapped():
    sale = "A $2000 watch was put on sale so that Mr. Lee bought it at 75% of its original price. What did he pay?"
    assert found(sale, ["The discount for Mr. Lee is 75%, so he paid 2000 × 0.25 = $500."]) \
        == [(0, "discount", Fraction(25), Fraction(75))]
    off = "The radiator costs $400 but he gets it for 80% off. How much did he pay?"
    assert found(off, ["The discount is 80%, so he got 20% off (100% - 80% = 20%)."]) \
        == [(0, "discount", Fraction(80), Fraction(20))]


def test_share_paid_and_discount_read_right_are_not_flagged():
    sale = "Mr. Lee bought a $2000 watch at 75% of its original price. What did he pay?"
    for ok in ("The discount is 25%, so he paid 2000 × 0.75 = $1500.", "This is not a 75% discount.",
               "He pays 75% of the price: 0.75 × 2000 = 1500.", "The discounted price is 75% of $2000.",
               "The discount price is 75% of the original, 0.75 × 2000 = 1500."):
        assert found(sale, [ok]) == [], ok
    off = "The radiator costs $400 but he gets it for 80% off. How much did he pay?"
    assert found(off, ["With 80% off he pays 20% of the price: 0.2 × 400 = $80."]) == []
    assert found("A coat at 50% of its price.", ["That is a 50% discount."]) == []
    two = "Shirts are 20% off and hats are 80% off."
    assert found(two, ["The shirts get 20% off."]) == []


def test_percent_of_the_original_read_as_percent_of_the_new():
    problem = "A bag costs $20 and the price increases by 20% of the original price every two months."
    steps = ["After 2 months: 20% of the original price is 0.2 × 20 = 4, so $24.",
             "After 4 months the price increases by 20% of the new price: 0.2 × 24 = 4.80."]
    assert found(problem, steps) == [(1, "percent base", None, None)]
    flag = check_steps(steps, problem).flags[0]
    assert "another base" in flag.claim.describe() and flag.claim.error_type == "Conceptual"
    assert found(problem, steps[:1] + ["Again 20% of the original price: 24 + 4 = 28."]) == []
    compound = "The price grows by 5% of the current price every year."
    assert found(compound, ["5% of the initial price is 6."]) != []
    assert found(compound, ["5% of the current price is 6."]) == []


def test_long_hostile_input_is_bounded():
    import time

    problem = "30% of the melons were ready. 4 apples cost $5.20. He worked a week at 75% of its original price. " * 400
    step = ("20% of the 9 melons are ready. Each apple costs $5.20. He works 5 days a week. The discount is 75%. "
            "1 apple is 3 " + "8 apples × 2 = 16 " * 50) * 200
    started = time.perf_counter()
    misreading_flags(problem, [step] * 300)
    assert time.perf_counter() - started < 10
