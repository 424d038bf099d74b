"""Fold a month's state into a chunk's monthly aggregates in one compiled pass (numba, cached on
disk): fixed-point trust sums, trust histograms and stage counts per member, and the patron's
capacity, with the same arithmetic as numpy's (`int64` and `int16` conversions truncate).

Neighbouring lanes mostly fall in the same bin and the same stage, so counting them into one
counter makes each increment wait for the last. The histograms go into `COPIES` interleaved
copies summed at the end, and the stages are counted by comparisons the compiler vectorises:
the same integers, in about two thirds of the time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

COPIES = 4  # independent histogram copies: lanes k, k+1, ... of a group count into different ones


@njit(cache=True, inline="always")
def _histogram(values, bins, copies, hist):
    """Add each value's bin to `hist` (values of exactly 1.0 in the last), through `copies`
    (COPIES, bins), a scratch table."""
    lanes = values.shape[0]
    copies[:] = 0
    whole = lanes - lanes % COPIES
    for k in range(0, whole, COPIES):
        for c in range(COPIES):
            copies[c, min(np.int64(values[k + c] * bins), bins - 1)] += 1
    for k in range(whole, lanes):
        copies[0, min(np.int64(values[k] * bins), bins - 1)] += 1
    for b in range(bins):
        for c in range(COPIES):
            hist[b] += copies[c, b]


@njit(cache=True, inline="always")
def _fixed_sum(values, scale):
    """The sum of the values in units of 1 / scale, each truncated to an integer first."""
    fixed = 0
    for k in range(values.shape[0]):
        fixed += np.int64(values[k] * scale)
    return fixed


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
    stages = stage_counts.shape[1]
    copies = np.empty((COPIES, bins), dtype=np.int64)
    active = 0
    for i in range(members):
        trust_sum[i] += _fixed_sum(trust[i], scale)
        _histogram(trust[i], bins, copies, trust_hist[i])
        later = 0
        for s in range(1, stages):
            count = 0
            for j in range(lanes):
                count += status[i, j] == s
            stage_counts[i, s] += count
            later += count
        stage_counts[i, 0] += lanes - later
        active += lanes - later
    capacity_sum[0] += _fixed_sum(capacity, scale)
    _histogram(capacity, bins, copies, capacity_hist)
    return active
