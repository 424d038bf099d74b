"""Confidence intervals: one method for each kind of estimand, whoever computes it.

Every estimate is taken over independent runs followed to the horizon, so two kinds cover all:

- a **probability** (the share of runs in which something happened by a month: a member reaching
  a stage, any formal exit, a calibration fact) gets the exact binomial (Clopper-Pearson)
  interval: it never covers less than the stated level, stays inside [0, 1], and has width at 0
  and n events;
- an **expected number** (the mean over runs of a count, such as members still active) gets the
  Student t interval, NaN for fewer than two runs.

Runs grouped by parameter draw (k runs share one draw, `sim.batch.posterior`) are not
independent: a probability over them gets the normal interval of a ratio over clusters, the
draws (`clustered_proportion_interval`), whose variance counts the spread between draws (and the
copies a conditioned forecast makes within a draw) that the binomial one would miss.

Batches (`sim.batch.estimands`) and point runs (`sim.batch.outcomes`) both call these, so the
same estimand gets the same band wherever it is reported. `docs/batch.md` documents the choice.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.95


def proportion_interval(
    events: np.ndarray, runs: np.ndarray, level: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson limits for `events` successes among `runs` (arrays of the same shape)."""
    from scipy import stats  # here: chunk tasks import this module, and need no scipy.stats

    k = np.asarray(events, float)
    n = np.asarray(runs, float)
    alpha = 1.0 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    none = n == 0
    return np.where(none, np.nan, low), np.where(none, np.nan, high)


def mean_interval(
    runs: np.ndarray, total: np.ndarray, total_sq: np.ndarray, level: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student t limits from the tallies n, sum and sum of squares over runs."""
    from scipy import stats

    n = np.asarray(runs, float)
    total = np.asarray(total, float)
    total_sq = np.asarray(total_sq, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.maximum(total_sq - n * mean**2, 0.0) / (n - 1)
        half = stats.t.ppf(1 - (1.0 - level) / 2, n - 1) * np.sqrt(var / n)
    low = np.where(n > 1, mean - half, np.nan)
    high = np.where(n > 1, mean + half, np.nan)
    return mean, low, high


def clustered_proportion_interval(
    events: np.ndarray, runs: np.ndarray, level: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Normal limits of sum(events) / sum(runs) over clusters (last axis: events (..., D),
    runs (D,)), with the ratio estimator's variance sum(runs^2 (p_d - p)^2) / sum(runs)^2 scaled
    by D / (D - 1); clipped to [0, 1], NaN for fewer than two clusters with runs."""
    from scipy import stats

    x = np.asarray(events, float)
    n = np.asarray(runs, float)
    used = n > 0
    clusters = int(used.sum())
    if clusters < 2:
        nan = np.full(x.shape[:-1], np.nan)
        return nan, nan
    x, n = x[..., used], n[used]
    total = n.sum()
    p = x.sum(axis=-1) / total
    residual = x - p[..., None] * n
    variance = np.square(residual).sum(axis=-1) / total**2 * clusters / (clusters - 1)
    half = stats.norm.ppf(1 - (1.0 - level) / 2) * np.sqrt(variance)
    return np.clip(p - half, 0.0, 1.0), np.clip(p + half, 0.0, 1.0)
