"""The parameter interval: how much a probability moves across the posterior's parameter draws.

A run under a posterior groups its replications by draw (D draws x k runs each,
`sim.batch.posterior`). Each estimate then has two intervals that cover different things:

- the **Monte Carlo interval** (`low`, `high`): the error of the probability from all runs
  together, what more draws would shrink; runs sharing a draw are not independent, so it is the
  interval of a ratio over the draws as clusters (`sim.batch.intervals`), not the binomial one;
- the **parameter interval** (`param_low`, `param_high`): a 95% credible interval of the
  probability across the posterior's draws, what the fitted history does not pin down. Draw d's
  probability is the share of its runs in which the event happened, weighted by its runs (a
  conditioned forecast's kept runs: the record's weight on that draw). A share from k runs
  carries binomial noise of variance p(1 - p) / k on top of the parameters' spread, so the
  shares' deviations from the mean are shrunk by sqrt(1 - noise / total variance) (method of
  moments) before the weighted 2.5% and 97.5% quantiles are read. Where copies of the same run
  fill a conditioned draw, the noise is larger than binomial and the interval errs wide.

Counts are kept per draw, member, stage and month as first passages arrive chunk by chunk, so
the interval is the same for any chunking; memory is D x (members x stages + 1) x months.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.batch.intervals import CONFIDENCE, clustered_proportion_interval


@dataclass
class DrawCounts:
    """Per draw: runs kept, and runs that first reached each member's stage (and any exit)."""

    reached: np.ndarray  # (draws, members * stages + 1, months) int32; last row: any exit
    runs: np.ndarray  # (draws,) int64

    @classmethod
    def empty(cls, draws: int, members: int, stages: int, months: int) -> DrawCounts:
        return cls(
            np.zeros((draws, members * stages + 1, months), dtype=np.int32),
            np.zeros(draws, dtype=np.int64),
        )

    def add(self, first_passage: np.ndarray, first_exit: np.ndarray, draw: np.ndarray) -> None:
        """Count a chunk of runs: first_passage (runs, members, 3), first_exit and draw (runs,)."""
        draws, series, months = self.reached.shape
        runs = first_passage.shape[0]
        events = np.concatenate(
            [first_passage.reshape(runs, -1), first_exit.reshape(runs, 1)], axis=1
        ).astype(np.int64)
        cells = np.where(events >= 0, events, months)
        codes = (draw[:, None] * series + np.arange(series)) * (months + 1) + cells
        counts = np.bincount(codes.reshape(-1), minlength=draws * series * (months + 1))
        self.reached += counts.reshape(draws, series, months + 1)[:, :, :months].astype(np.int32)
        self.runs += np.bincount(draw, minlength=draws)

    def interval(self, series: int, level: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """The parameter interval of one series' cumulative probability at every month."""
        return parameter_interval(self.by_month(series), self.runs, level)

    def monte_carlo(self, series: int, level: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """The Monte Carlo interval of one series at every month, the draws as clusters."""
        return clustered_proportion_interval(self.by_month(series), self.runs, level)

    def by_month(self, series: int) -> np.ndarray:
        """Runs of each draw that reached the series' event by each month: (months, draws)."""
        return np.cumsum(self.reached[:, series, :], axis=1).T


def parameter_interval(
    events: np.ndarray, runs: np.ndarray, level: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Credible interval across draws of a probability: events (..., draws), runs (draws,).

    Weighted by each draw's runs, less the binomial noise of its runs (see the module's note);
    NaN where fewer than two draws have two runs or more."""
    events = np.asarray(events, float)
    n = np.asarray(runs, float)
    used = n > 1
    shape = events.shape[:-1]
    if used.sum() < 2:
        nan = np.full(shape, np.nan)
        return nan, nan
    x, n = events[..., used], n[used]
    p = x / n
    total = n.sum()
    mean = (x.sum(axis=-1) / total)[..., None]
    spread = (n * np.square(p - mean)).sum(axis=-1) / total
    noise = (n * p * (1.0 - p) / (n - 1.0)).sum(axis=-1) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(spread > 0, np.sqrt(np.clip(1.0 - noise / spread, 0.0, 1.0)), 0.0)
    alpha = 1.0 - level
    low, high = (weighted_quantile(p, n, q) for q in (alpha / 2, 1.0 - alpha / 2))
    centre = mean[..., 0]
    return centre + shrink * (low - centre), centre + shrink * (high - centre)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile along the last axis of values with the given weights (inverted CDF)."""
    order = np.argsort(values, axis=-1)
    ranked = np.take_along_axis(values, order, axis=-1)
    cumulative = np.cumsum(weights[order], axis=-1)
    index = np.argmax(cumulative >= q * cumulative[..., -1:], axis=-1)
    return np.take_along_axis(ranked, index[..., None], axis=-1)[..., 0]
