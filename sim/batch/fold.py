"""Fold a month's state into a chunk's monthly aggregates in one compiled pass (numba, cached on
disk): fixed-point trust sums, trust histograms and stage counts per member, and the patron's
capacity, with the same arithmetic as numpy's (`int64` and `int16` conversions truncate)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def fold_month(
    trust: np.ndarray,
    status: np.ndarray,
    capacity: np.ndarray,
    scale: float,
    bins: int,
    trust_sum: np.ndarray,
    trust_hist: np.ndarray,
    stage_counts: np.ndarray,
    capacity_sum: np.ndarray,
    capacity_hist: np.ndarray,
) -> int:
    """Add one month of (members, lanes) trust and status and (lanes,) capacity to the month's
    rows of the aggregates; values of exactly 1.0 count in the last bin. Returns the members
    still active summed over lanes."""
    members, lanes = trust.shape
    active = 0
    for i in range(members):
        fixed = 0
        for j in range(lanes):
            value = trust[i, j]
            fixed += np.int64(value * scale)
            trust_hist[i, min(np.int64(value * bins), bins - 1)] += 1
            stage = status[i, j]
            stage_counts[i, stage] += 1
            active += stage == 0
        trust_sum[i] += fixed
    fixed = 0
    for j in range(lanes):
        value = capacity[j]
        fixed += np.int64(value * scale)
        capacity_hist[min(np.int64(value * bins), bins - 1)] += 1
    capacity_sum[0] += fixed
    return active
