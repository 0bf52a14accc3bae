"""Intervals and spreads against hand computations and textbook values."""

import math

import pytest

from fmnist.stats import pooled_std, spread, wilson_interval


def test_wilson_matches_a_hand_computation():
    # 9,200 of 10,000, z 1.96: centre (0.92 + z^2/2n) / (1 + z^2/n) = 0.9198387,
    # half-width z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2) = 0.0053187
    low, high = wilson_interval(9200, 10000)
    assert low == pytest.approx(0.914520, abs=1e-6)
    assert high == pytest.approx(0.925157, abs=1e-6)


def test_wilson_textbook_value():
    # Newcombe (1998), example: 81 of 263 -> 0.2553 to 0.3662
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (0, 1), (1, 1)])
def test_wilson_stays_inside_zero_one_and_holds_the_estimate(k, n):
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    assert high - low > 0
    assert (low == 0.0) == (k == 0) and (high == 1.0) == (k == n)


@pytest.mark.parametrize("k,n", [(1, 0), (-1, 5), (6, 5)])
def test_wilson_refuses_impossible_counts(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


def test_spread_uses_the_sample_standard_deviation():
    s = spread([0.9163, 0.9232, 0.9201])
    assert s.mean == pytest.approx(0.9198667, abs=1e-7)
    assert s.std == pytest.approx(math.sqrt(((0.9163 - s.mean) ** 2 + (0.9232 - s.mean) ** 2
                                             + (0.9201 - s.mean) ** 2) / 2))
    assert (s.min, s.max, s.n) == (0.9163, 0.9232, 3)


def test_spread_of_one_run_is_zero_and_of_none_an_error():
    assert spread([0.5]).std == 0.0
    with pytest.raises(ValueError):
        spread([])


def test_pooled_std_weights_by_degrees_of_freedom():
    a, b = spread([1.0, 2.0, 3.0]), spread([10.0, 10.0])
    assert pooled_std(a, b) == pytest.approx(math.sqrt((2 * 1.0 + 1 * 0.0) / 3))
    assert pooled_std(spread([1.0]), spread([2.0])) == 0.0


def test_macro_f1_of_counts_matches_scikit_learn():
    import numpy as np
    from sklearn.metrics import confusion_matrix, f1_score

    from fmnist.stats import macro_f1_of_counts

    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 400)
    pred = np.where(rng.random(400) < 0.7, y, rng.integers(0, 4, 400))  # class 4 is never predicted
    counts = confusion_matrix(y, pred, labels=range(6))  # class 5 neither occurs nor is predicted: left out
    assert macro_f1_of_counts(counts) == pytest.approx(f1_score(y, pred, average="macro"))


def test_bootstrap_macro_f1_is_seeded_and_holds_the_estimate():
    import numpy as np
    from sklearn.metrics import f1_score

    from fmnist.stats import bootstrap_macro_f1

    rng = np.random.default_rng(4)
    y = rng.integers(0, 10, 2000)
    pred = np.where(rng.random(2000) < 0.85, y, rng.integers(0, 10, 2000))
    low, high = bootstrap_macro_f1(y, pred, 10)
    assert low < f1_score(y, pred, average="macro") < high
    assert 0.02 < high - low < 0.06  # about 4 standard errors of an F1 near 0.85 on 2,000 images
    assert bootstrap_macro_f1(y, pred, 10) == (low, high)  # same seed, same interval
    assert bootstrap_macro_f1(y, pred, 10, seed=1) != (low, high)
    assert bootstrap_macro_f1(y, y, 10) == (1.0, 1.0)  # no error in any resample
