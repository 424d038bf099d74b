"""The compiled monthly fold gives exactly the integers numpy gives for the same month."""

import numpy as np
import pytest

from sim.batch.fold import fold_month

BINS, SCALE = 100, 2.0**32


def _numpy_fold(trust, status, capacity):
    """What the fold must add: truncated fixed-point sums, histograms with 1.0 in the last bin,
    lanes per stage, and members still active."""

    def histogram(values):
        return np.bincount(np.minimum((values * BINS).astype(np.int64), BINS - 1), minlength=BINS)

    return (
        (trust * SCALE).astype(np.int64).sum(axis=1),
        np.stack([histogram(row) for row in trust]),
        np.stack([np.bincount(row, minlength=4) for row in status]),
        (capacity * SCALE).astype(np.int64).sum(),
        histogram(capacity),
        int((status == 0).sum()),
    )


@pytest.mark.parametrize("lanes", [1, 3, 4, 5, 1001])
def test_fold_adds_exactly_what_numpy_counts(lanes):
    rng = np.random.default_rng(lanes)
    trust = rng.random((5, lanes))
    trust[0, 0], trust[1, 0] = 1.0, 0.0  # the edges of the first and last bins
    status = rng.integers(0, 4, (5, lanes)).astype(np.int8)
    capacity = rng.random(lanes)
    capacity[-1] = 1.0
    trust_sum, trust_hist = np.full(5, 7, np.int64), np.ones((5, BINS), np.int64)
    stage_counts, capacity_sum = np.zeros((5, 4), np.int64), np.zeros(1, np.int64)
    capacity_hist = np.zeros(BINS, np.int64)
    active = fold_month(
        trust, status, capacity, SCALE, BINS, trust_sum, trust_hist, stage_counts,
        capacity_sum, capacity_hist,
    )  # fmt: skip
    sums, hists, stages, cap_sum, cap_hist, still_active = _numpy_fold(trust, status, capacity)
    assert np.array_equal(trust_sum, sums + 7)  # added to what was there
    assert np.array_equal(trust_hist, hists + 1)
    assert np.array_equal(stage_counts, stages)
    assert capacity_sum[0] == cap_sum
    assert np.array_equal(capacity_hist, cap_hist)
    assert active == still_active
