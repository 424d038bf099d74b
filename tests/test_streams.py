"""One crisis uniform decides the crisis and its kind: the split leaves independent uniforms."""

import numpy as np
import pytest
from scipy import stats

from sim.model.streams import split_uniform


@pytest.mark.parametrize("per_lane", [False, True])
def test_split_uniform_gives_a_fresh_uniform_independent_of_the_event(per_lane):
    rng = np.random.default_rng(3)
    u = rng.random(200_000)
    p = np.full(u.size, 0.3) if per_lane else 0.3
    below, fresh = split_uniform(u, p)
    assert below.mean() == pytest.approx(0.3, abs=0.005)
    for side in (below, ~below):
        assert stats.kstest(fresh[side], "uniform").pvalue > 0.001
    # Independent of the event: the next decision's rate is the same on both sides.
    second = fresh < 0.2
    assert second[below].mean() == pytest.approx(0.2, abs=0.01)
    assert second[~below].mean() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("p", [0.0, 1.0, 1.5, -0.1])
def test_split_uniform_at_certain_events_keeps_the_uniform(p):
    u = np.random.default_rng(4).random(1000)
    with np.errstate(all="raise"):
        below, fresh = split_uniform(u, p)
        below_lanes, fresh_lanes = split_uniform(u, np.full(u.size, p))
    assert below.all() == (p >= 1.0) and below.any() == (p >= 1.0)
    np.testing.assert_array_equal(fresh, u)
    np.testing.assert_array_equal(below_lanes, below)
    np.testing.assert_array_equal(fresh_lanes, u)
