"""AUC and DeLong's interval against values computed by hand."""

import math

import pytest

from qmr_core.diagnose.auc import auc, delong, midranks


def brute(pos, neg):
    return sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))


def test_midranks_share_ties():
    assert midranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert midranks([5.0, 5.0, 5.0]) == [2.0, 2.0, 2.0]
    assert midranks([]) == []


def test_auc_by_hand():
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1, 2], [3, 4]) == 0.0
    # pairs: (2,1) win, (2,3) loss, (4,1) win, (4,3) win -> 3/4
    assert auc([2, 4], [1, 3]) == 0.75
    # ties count one half: (1,1) tie, (1,0) win, (2,1) win, (2,0) win -> 3.5/4
    assert auc([1, 2], [1, 0]) == 0.875
    assert auc([1, 1], [1, 1]) == 0.5
    # missing scores are left out, not counted as zero
    assert auc([2, None, float("nan"), 4], [1, 3, None]) == 0.75
    assert auc([], [1]) is None and auc([1], []) is None


def test_auc_matches_brute_force_with_many_ties():
    pos = [0.1, 0.5, 0.5, 0.9, 0.3, 0.5]
    neg = [0.5, 0.2, 0.2, 0.1, 0.7]
    assert auc(pos, neg) == pytest.approx(brute(pos, neg))


def test_delong_variance_by_hand():
    # pos = [2, 4], neg = [1, 3]: V10 = [1/2, 1], V01 = [1, 1/2], AUC 3/4
    # S10 = ((1/2-3/4)^2 + (1-3/4)^2) / 1 = 1/8, S01 = 1/8, var = 1/16 + 1/16 = 1/8
    r = delong([2, 4], [1, 3])
    assert r.auc == 0.75 and r.n_pos == 2 and r.n_neg == 2
    assert r.se == pytest.approx(math.sqrt(1 / 8))
    assert r.lo == pytest.approx(max(0.0, 0.75 - 1.959964 * math.sqrt(1 / 8)), abs=1e-6)
    assert r.hi == 1.0  # clipped
    # with a tie: pos = [1, 2], neg = [1, 0]: V10 = [3/4, 1], V01 = [3/4, 1], AUC 7/8
    # S10 = S01 = ((3/4-7/8)^2 + (1-7/8)^2) / 1 = 1/32, var = 1/64 + 1/64 = 1/32
    r = delong([1, 2], [1, 0])
    assert r.auc == 0.875 and r.se == pytest.approx(math.sqrt(1 / 32))
    assert r.text() == f"0.88 [{r.lo:.2f}, 1.00]"


def test_delong_edge_cases():
    one = delong([5], [1, 2, 3])
    assert one.auc == 1.0 and one.lo is None and one.hi is None and one.text() == "1.00"
    separated = delong([3, 4, 5], [0, 1])
    assert separated.auc == 1.0 and separated.se == 0.0 and separated.lo == separated.hi == 1.0
    assert delong([], []) is None
    wider = delong([2, 4], [1, 3], level=0.99)
    assert wider.lo < delong([2, 4], [1, 3]).lo
