"""The checker's rules that read the words around numbers: rates quoted from the problem, steps that call
themselves wrong or dispute the problem, bracketed restatements, dozens and parts of a year. Each rule
flags its error and leaves the correct form alone."""

from fractions import Fraction

from qmr_core.diagnose.facts import fact_claims
from qmr_core.diagnose.rates import rate_flags
from qmr_core.diagnose.step_checker import check_steps
from qmr_core.diagnose.wording import wording_flags

SHOP = "They charge $5.00 per blouse, $6.00 per skirt and $8.00 per pair of pants. How much in 5 weeks?"


def rules(steps: list[str], problem: str = "") -> list[tuple[int, str]]:
    return [(f.step_idx, f.claim.rule) for f in check_steps(steps, problem).flags]


def test_misquoted_rate_is_flagged_where_it_is_used():
    steps = ["5 blouses x $5.00/blouse = $25.00.", "1 skirt x $8.00/skirt = $8.00."]
    assert rules(steps, SHOP) == [(1, "rate")]
    flag = check_steps(steps, SHOP).flags[0]
    assert flag.claim.error_type == "Conceptual" and "6" in flag.claim.describe()


def test_quoted_or_derived_rates_are_not_flagged():
    assert rules(["1 skirt x $6.00/skirt = $6.00.", "2 pants x $8.00/pair = $16.00."], SHOP) == []
    raise_ = "She earns $10 per hour. With a raise of 20% she earns more. How much for 5 hours?"
    assert rate_flags(raise_, ["10 × 1.2 = 12, so 5 hours × $12/hour = $60."]) == []
    # the problem states the value without the rate: "$30 to be a coach" is a rate the solution may spell out
    coach = "Jill gets paid $20 per hour to teach and $30 to be a coach."
    assert rate_flags(coach, ["15 hours/week × $30/hour = $450/week"]) == []
    # two values for one rate in the problem: no single value to compare with
    stream = "The first 6 months were $8 a month, then it went up to $12 a month."
    assert rate_flags(stream, ["2 months × $12/month = $24"]) == []


def test_rate_per_another_time_unit():
    problem = "She puts 4 cookies in her son's lunch box 5 days a week."
    wrong = ["Her son eats 4 cookies a week. So he eats 4 cookies/day × 5 days = 20 cookies."]
    assert [(i, used) for i, _t, _b, used in rate_flags(problem, wrong)] == [(0, 4)]
    right = ["Her son eats 4 cookies a day. So he eats 4 cookies/day × 5 days = 20 cookies a week."]
    assert rate_flags(problem, right) == []


def test_self_correction():
    assert [r for r, *_ in wording_flags("Pencils left = (1/3) * 240 (This is incorrect as it asks how many were left.)")] \
        == ["self-correction"]
    assert wording_flags("Wait, is this correct? Yes: 240 / 3 = 80.") == []
    assert wording_flags("This is not a trick: the answer is correct.") == []


def test_disputes_problem():
    text = "This means it takes 51.2 seconds, not 64 seconds as initially stated."
    assert [r for r, *_ in wording_flags(text)] == ["disputes problem"]
    assert [r for r, *_ in wording_flags("Let's assume there was a mistake in the problem statement.")] \
        == ["disputes problem"]
    assert wording_flags("The problem states 64 seconds, so we use 64 seconds as stated.") == []
    assert wording_flags("We must read the problem carefully to avoid a mistake.") == []


def test_bracketed_restatement():
    assert [(r, a, b) for r, _q, a, b in wording_flags("20 kb/s ÷ 3600 s = 0.0056 kb/s (or 5.6 kb/s).")] \
        == [("restated", Fraction("0.0056"), Fraction("5.6"))]
    for ok in ("It lasts 2 hours (or 120 minutes).", "multiply 0.2 (which is 20%) by 400",
               "It is 0.33 kg (or 0.333 kg).", "$35 (which is $5 more than needed)"):
        assert wording_flags(ok) == [], ok


def test_dozens():
    assert fact_claims("First, half a dozen plates means 6/2 = 3 plates.") != []
    for ok in ("Half a dozen plates means 12/2 = 6 plates.", "Two dozen eggs are 24 eggs.", "a dozen eggs is $3",
               "3 dozen cookies are 12 + 12 + 12 = 36 cookies"):
        assert fact_claims(ok) == [], ok


def test_parts_of_a_year():
    assert fact_claims("the first 180 days and the remaining 85 days of the year") != []
    assert fact_claims("the first 180 days and the remaining 185 days of the year") == []
    assert fact_claims("the first 3 months and the remaining 9 months of the year") == []
    assert fact_claims("the first 3 months and the remaining 8 months of the year") != []


def test_wording_and_rate_rules_respect_the_checker_scope():
    # a correct solution quoting the problem's rates and a step that checks itself
    steps = ["5 blouses x $5.00/blouse = $25.00", "1 skirt x $6.00/skirt = $6.00",
             "Check: 25 + 6 = 31, which is correct."]
    assert rules(steps, SHOP) == []


def test_bracketed_alternatives_without_units_are_not_restatements():
    assert wording_flags("So n = 4 (or 5) works.") == []


def test_frequency_words():
    assert [(e, s) for _t, e, s in fact_claims("He pays the gardener quarterly, which means three times in a year.")] \
        == [(Fraction(4), Fraction(3))]
    assert fact_claims("She is paid annually, which means twice a year.") != []
    for ok in ("He pays quarterly (4 times a year).", "It runs daily, i.e. 7 times a week.",
               "She calls weekly, or about 4 times a month.", "paid semi-annually, which is twice a year"):
        assert fact_claims(ok) == [], ok
