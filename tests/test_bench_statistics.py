"""The benchmarks' statistics (scripts/bench/statistics.py) against numbers computed by hand, and against rliable
where it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scripts.bench.statistics import (
    Interval,
    curve_band,
    improvement_interval,
    iqm,
    iqm_interval,
    probability_of_improvement,
    ranking,
    ranking_text,
)


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm([1, 2, 3, 4]) == pytest.approx(2.5)  # cut 1 low, 1 high: mean(2, 3)
    assert iqm([0, 1, 2, 3, 100, 4, 5, 6]) == pytest.approx(3.5)  # sorted 0..6, 100: mean(2, 3, 4, 5)
    assert iqm([5, 0, 10, 7, 1]) == pytest.approx(13 / 3)  # int(1.25) = 1 cut each side: mean(1, 5, 7)
    assert iqm([[1, 10], [3, 30], [2, 20], [4, 40]], axis=0).tolist() == pytest.approx([2.5, 25.0])


def test_probability_of_improvement_counts_pairs_and_half_ties():
    assert probability_of_improvement([1, 2], [0, 3]) == pytest.approx(0.5)  # 1>0, 2>0 of 4 pairs
    assert probability_of_improvement([1, 1], [1, 0]) == pytest.approx(0.75)  # ties 0.5, 0.5; wins 1, 1
    assert probability_of_improvement([5, 6, 7], [1, 2]) == 1.0
    assert probability_of_improvement([1, 2], [5, 6, 7]) == 0.0
    x, y = np.random.default_rng(0).random(7), np.random.default_rng(1).random(5)
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)


def test_the_bootstrap_interval_contains_the_iqm_and_is_reproducible():
    scores = [0.1, 0.2, 0.25, 0.3, 0.9]
    interval = iqm_interval(scores, reps=2_000)
    assert interval.point == pytest.approx(0.25)  # mean(0.2, 0.25, 0.3)
    assert min(scores) <= interval.low <= interval.point <= interval.high <= max(scores)
    assert interval.high - interval.low > 0.05
    assert iqm_interval(scores, reps=2_000) == interval  # seeded
    constant = iqm_interval([0.5] * 4, reps=500)
    assert (constant.low, constant.point, constant.high) == (0.5, 0.5, 0.5)
    single = iqm_interval([0.3], reps=500)
    assert single.point == 0.3 and math.isnan(single.low) and math.isnan(single.high)
    assert single.cell() == "0.300 [n/a]" and interval.cell(2).startswith("0.25 [")


def test_the_improvement_interval_brackets_p_of_improvement():
    better, worse = [0.6, 0.7, 0.8, 0.9, 0.65], [0.1, 0.2, 0.3, 0.4, 0.7]
    interval = improvement_interval(better, worse, reps=2_000)
    # 20 wins over 0.1-0.4; against 0.7: 2 wins and 1 tie
    assert interval.point == pytest.approx(probability_of_improvement(better, worse)) == pytest.approx(22.5 / 25)
    assert 0.0 <= interval.low <= interval.point <= interval.high <= 1.0
    assert interval.low > 0.5  # clearly better


def test_rliable_gives_the_same_point_estimates():
    rliable = pytest.importorskip("rliable.metrics")
    x, y = np.array([0.1, 0.5, 0.4, 0.9, 0.3]), np.array([0.2, 0.2, 0.6, 0.1, 0.3])
    assert iqm(x) == pytest.approx(rliable.aggregate_iqm(x[:, None]))
    assert probability_of_improvement(x, y) == pytest.approx(rliable.probability_of_improvement(x[:, None], y[:, None]))


def test_curve_band_is_one_iqm_and_interval_per_point():
    curves = np.array([[0.0, 0.1, 0.5], [0.0, 0.3, 0.6], [0.0, 0.2, 0.7], [0.0, 0.4, 0.8]])
    mid, low, high = curve_band(curves, reps=500)
    assert mid.tolist() == pytest.approx([0.0, 0.25, 0.65])
    assert low[0] == high[0] == 0.0 and np.all(low <= mid) and np.all(mid <= high)


def test_ranking_orders_by_point_and_says_where_intervals_overlap():
    intervals = {"a": Interval(0.2, 0.1, 0.3), "b": Interval(0.5, 0.4, 0.6), "c": Interval(0.35, 0.25, 0.45)}
    ranked = ranking(intervals)
    assert [(r.rank, r.name, r.overlaps) for r in ranked] == [(1, "b", ("c",)), (2, "c", ("b", "a")), (3, "a", ("c",))]
    text = ranking_text(ranked)
    assert text.startswith("1. b 0.500 [0.400, 0.600]; 2. c 0.350 [0.250, 0.450]; 3. a")
    assert "overlap for a and c, b and c" in text
    apart = ranking({"a": Interval(0.2, 0.1, 0.3), "b": Interval(0.5, 0.4, 0.6)})
    assert ranking_text(apart).endswith("No two intervals overlap: the order is resolved.")
    together = ranking({"a": Interval(0.2, 0.1, 0.5), "b": Interval(0.3, 0.2, 0.6)})
    assert ranking_text(together).endswith("All intervals overlap: these runs do not separate the entries.")
    alone = ranking({"a": Interval(0.2, 0.1, 0.5)})  # one arm: no order to claim
    assert ranking_text(alone) == "1. a 0.200 [0.100, 0.500]. One entry: nothing to rank it against."
