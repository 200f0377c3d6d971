"""The statistics behind `qmr judge-accuracy`, against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from qmr_core.review.stats import Proportion, cohen_kappa, kappa_from_table, proportional_allocation, wilson_interval


def test_wilson_8_of_10_by_hand():
    # p = 0.8, z = 1.96: centre = (0.8 + z^2/20) / (1 + z^2/10) = 0.71675,
    # half = z * sqrt(0.8*0.2/10 + z^2/400) / (1 + z^2/10) = 0.22659
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_edges_and_errors():
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))  # z^2 / (n + z^2)
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    p = Proportion(3, 5)
    assert p.rate == 0.6 and p.interval == pytest.approx((0.2307, 0.8824), abs=1e-4)
    assert Proportion(0, 0).rate is None and Proportion(0, 0).interval is None


def test_cohen_kappa_small_table_by_hand():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15. p_o = 35/50 = 0.7;
    # p_e = (25/50)(30/50) + (25/50)(20/50) = 0.3 + 0.2 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    table = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}
    assert kappa_from_table(table) == pytest.approx(0.4)
    pairs = [(a, b) for (a, b), n in table.items() for _ in range(n)]
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_cohen_kappa_three_categories_and_degenerate_cases():
    # a: E E E M C, b: E E M M E -> p_o = 3/5; a marginals E3 M1 C1, b E3 M2;
    # p_e = (3*3 + 1*2 + 1*0) / 25 = 11/25; kappa = (15/25 - 11/25) / (14/25) = 4/14
    pairs = list(zip("EEEMC", "EEMME", strict=True))
    assert cohen_kappa(pairs) == pytest.approx(4 / 14)
    assert cohen_kappa([("x", "x"), ("y", "y")]) == pytest.approx(1.0)
    assert cohen_kappa([("x", "x"), ("x", "x")]) is None  # chance agreement 1: undefined
    assert cohen_kappa([]) is None
    assert math.isclose(cohen_kappa([(1, None), (None, 1)]), -1.0)  # steps, with None = no error


def test_proportional_allocation_largest_remainder():
    # 5 of 10: exact 3, 1.5, 0.5 -> floors 3, 1, 0; the one left goes to the larger of the tied .5 remainders
    assert proportional_allocation({"a": 6, "b": 3, "c": 1}, 5) == {"a": 3, "b": 2, "c": 0}
    assert proportional_allocation({"a": 6, "b": 3}, 20) == {"a": 6, "b": 3}
    alloc = proportional_allocation({"x": 7, "y": 2, "z": 1}, 4)  # 2.8, 0.8, 0.4 -> 2, 0, 0 + x, y
    assert alloc == {"x": 3, "y": 1, "z": 0} and sum(alloc.values()) == 4
    assert proportional_allocation({"a": 1}, 0) == {"a": 0}
