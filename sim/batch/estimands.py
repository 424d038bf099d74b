"""What a batch estimates: cumulative probability of each stage by month, with 95% bands.

Every run is followed to the horizon, so the cumulative probability of a stage by month t is the
share of runs that reached it by then (a run that has not is censored at the horizon only), and
its band is the exact binomial (Clopper-Pearson) interval of `sim.batch.intervals`, the one method
every probability of the package gets: the Monte Carlo error (`low`, `high`). A run under a
posterior adds the parameter interval (`param_low`, `param_high`: the spread of the probability
across the posterior's draws, `sim.batch.draws`); at fixed parameters those columns are empty.
Counting first passages per month (not keeping every run) makes a batch's summary mergeable
across chunks, so memory stays flat in the number of runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.batch.draws import DrawCounts
from sim.batch.intervals import CONFIDENCE, proportion_interval
from sim.batch.lanes import SUM_SCALE, MonthlyAggregates
from sim.model.scenario import Scenario
from sim.model.stages import LATER_STAGES, STAGES

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class PassageCounts:
    """How many runs first reached each stage in each month, and how many never did."""

    reached: np.ndarray  # (members, 3, months) int64
    exit_reached: np.ndarray  # (months,) int64: first formal exit of any member
    runs: int

    @classmethod
    def empty(cls, members: int, months: int) -> PassageCounts:
        return cls(
            np.zeros((members, len(LATER_STAGES), months), dtype=np.int64),
            np.zeros(months, dtype=np.int64),
            0,
        )

    def add(self, first_passage: np.ndarray, first_exit: np.ndarray) -> None:
        """Count a chunk of runs: first_passage (runs, members, 3), first_exit (runs,)."""
        members, stages, months = self.reached.shape
        runs = first_passage.shape[0]
        fp = first_passage.reshape(runs, members * stages).astype(np.int64)
        offsets = np.arange(members * stages) * (months + 1)
        codes = np.where(fp >= 0, fp, months) + offsets
        counts = np.bincount(codes.reshape(-1), minlength=members * stages * (months + 1))
        self.reached += counts.reshape(members, stages, months + 1)[:, :, :months]
        exits = np.where(first_exit >= 0, first_exit, months).astype(np.int64)
        self.exit_reached += np.bincount(exits, minlength=months + 1)[:months]
        self.runs += runs


def cumulative_probability(
    reached: np.ndarray, runs: int, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability of having reached an event by the end of each month, with its band.

    `reached[t]` runs reached it first in month t; every run is followed to the horizon, so the
    estimate is the share of runs that reached it by month t and the band is the exact binomial
    one of `sim.batch.intervals` (the same as an experiment's outcome gets).
    """
    if runs == 0:
        nan = np.full(len(reached), np.nan)
        return nan, nan, nan
    by_month = np.cumsum(reached)
    low, high = proportion_interval(by_month, np.full(len(reached), runs), confidence)
    return by_month / runs, low, high


def _bands(
    draws: DrawCounts | None, series: int, months: int, low: np.ndarray, high: np.ndarray
) -> dict[str, np.ndarray]:
    """The interval columns of one series: at fixed parameters the binomial Monte Carlo band
    and no parameter interval; under a posterior, both from the per-draw counts."""
    if draws is None:
        nan = np.full(months, np.nan)
        return {"low": low, "high": high, "param_low": nan, "param_high": nan}
    mc_low, mc_high = draws.monte_carlo(series)
    param_low, param_high = draws.interval(series)
    # the spread's own estimate is no finer than the Monte Carlo error: where the draws cannot
    # be told apart from noise (few events), the parameter interval is the Monte Carlo one
    return {
        "low": mc_low,
        "high": mc_high,
        "param_low": np.fmin(param_low, mc_low),
        "param_high": np.fmax(param_high, mc_high),
    }


def curves_table(
    scenario: Scenario, counts: PassageCounts, draws: DrawCounts | None = None
) -> pd.DataFrame:
    """Per member x stage x month: cumulative probability of having reached the stage, its
    Monte Carlo band, its parameter interval (under a posterior), n."""
    months = scenario.months
    dates = scenario.month_labels()
    frames = []
    for i, member in enumerate(scenario.members):
        for j, stage in enumerate(LATER_STAGES):
            p, low, high = cumulative_probability(counts.reached[i, j], counts.runs)
            bands = _bands(draws, i * len(LATER_STAGES) + j, months, low, high)
            frames.append(
                pd.DataFrame(
                    {
                        "member": member,
                        "stage": stage,
                        "month": np.arange(months),
                        "date": dates,
                        "probability": p,
                        **bands,
                        "n": counts.runs,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def alliance_table(
    scenario: Scenario,
    counts: PassageCounts,
    aggregates: MonthlyAggregates,
    draws: DrawCounts | None = None,
) -> pd.DataFrame:
    """Per month: probability of at least one formal exit so far (Monte Carlo band, parameter
    interval) and expected members still active."""
    p, low, high = cumulative_probability(counts.exit_reached, counts.runs)
    series = len(scenario.members) * len(LATER_STAGES)
    return pd.DataFrame(
        {
            "month": np.arange(scenario.months),
            "date": scenario.month_labels(),
            "p_any_exit": p,
            **_bands(draws, series, scenario.months, low, high),
            "expected_active": aggregates.active_sum / max(aggregates.runs, 1),
            "n": counts.runs,
        }
    )


def report_months(scenario: Scenario) -> list[int]:
    """Months reported by date: each December within the horizon, and the horizon."""
    months = [t for t in range(scenario.months) if scenario.month_label(t).endswith("-12")]
    if scenario.months - 1 not in months:
        months.append(scenario.months - 1)
    return months


def by_date_table(curves: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The curves at the end of each year and at the horizon."""
    picked = curves[curves["month"].isin(report_months(scenario))]
    columns = [
        "member", "stage", "date", "month", "probability", "low", "high", "param_low",
        "param_high", "n",
    ]  # fmt: skip
    return picked[columns].reset_index(drop=True)


def median_table(curves: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """First month by which each stage is reached with probability 0.5 (NA if not by the horizon),
    with the months at which the band's upper and lower limits reach 0.5."""
    rows = []
    for (member, stage), curve in curves.groupby(["member", "stage"], sort=False):
        median, early, late = (
            _first_month_at_half(curve[col].to_numpy()) for col in ("probability", "high", "low")
        )
        rows.append(
            {
                "member": member,
                "stage": stage,
                "median_month": median,
                "median_date": _label(scenario, median),
                "median_low_month": early,
                "median_high_month": late,
            }
        )
    table = pd.DataFrame(rows)
    for col in ("median_month", "median_low_month", "median_high_month"):
        table[col] = table[col].astype("Int64")
    table["median_date"] = table["median_date"].astype("string")
    return table


def _first_month_at_half(values: np.ndarray) -> int | None:
    hits = np.flatnonzero(values >= 0.5)
    return int(hits[0]) if len(hits) else None


def _label(scenario: Scenario, month: int | None) -> str | None:
    return None if month is None else scenario.month_label(month)


def monthly_table(scenario: Scenario, aggregates: MonthlyAggregates) -> pd.DataFrame:
    """Mean and quantiles per month of each member's trust and of the patron's capacity."""
    runs = max(aggregates.runs, 1)
    dates = scenario.month_labels()
    frames = []
    actors = [
        (member, "trust", aggregates.trust_sum[:, i] / SUM_SCALE, aggregates.trust_hist[:, i])
        for i, member in enumerate(scenario.members)
    ]
    actors.append(
        (
            scenario.spec.patron.name,
            "capacity",
            aggregates.capacity_sum / SUM_SCALE,
            aggregates.capacity_hist,
        )
    )
    for actor, variable, total, hist in actors:
        quantiles = histogram_quantiles(hist, QUANTILES)
        frame = pd.DataFrame(
            {
                "month": np.arange(scenario.months),
                "date": dates,
                "actor": actor,
                "variable": variable,
                "mean": total / runs,
            }
        )
        for k, q in enumerate(QUANTILES):
            frame[f"q{round(q * 100):02d}"] = quantiles[:, k]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def histogram_quantiles(hist: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """Quantiles of values in [0, 1] from counts in equal bins (last axis), interpolating
    linearly within a bin; shape (..., len(quantiles)). Resolution: one bin."""
    bins = hist.shape[-1]
    counts = hist.astype(float)
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1:]
    out = np.empty((*hist.shape[:-1], len(quantiles)))
    for k, q in enumerate(quantiles):
        target = q * total
        index = np.minimum((cum < target).sum(axis=-1, keepdims=True), bins - 1)
        below = np.take_along_axis(cum - counts, index, axis=-1)
        inside = np.take_along_axis(counts, index, axis=-1)
        fraction = np.divide(target - below, inside, out=np.zeros_like(target), where=inside > 0)
        out[..., k] = ((index + np.clip(fraction, 0.0, 1.0)) / bins)[..., 0]
    return np.where(total > 0, out, np.nan)


def stage_shares_table(scenario: Scenario, aggregates: MonthlyAggregates) -> pd.DataFrame:
    """Share of runs in which each member is in each stage at the end of each month."""
    runs = max(aggregates.runs, 1)
    months, members = scenario.months, len(scenario.members)
    shares = aggregates.stage_counts / runs  # (months, members, 4)
    grid = np.meshgrid(np.arange(months), np.arange(members), np.arange(4), indexing="ij")
    month, member, stage = (g.reshape(-1) for g in grid)
    dates = np.array(scenario.month_labels())
    return pd.DataFrame(
        {
            "month": month,
            "date": dates[month],
            "member": np.array(scenario.members)[member],
            "stage": np.array(STAGES)[stage],
            "share": shares.reshape(-1),
        }
    )


def summary_tables(
    scenario: Scenario,
    counts: PassageCounts,
    aggregates: MonthlyAggregates,
    draws: DrawCounts | None = None,
) -> dict[str, pd.DataFrame]:
    """Every estimand of a batch as a tidy table (docs/batch.md lists the columns)."""
    curves = curves_table(scenario, counts, draws)
    return {
        "curves": curves,
        "alliance": alliance_table(scenario, counts, aggregates, draws),
        "by_date": by_date_table(curves, scenario),
        "median_time": median_table(curves, scenario),
        "monthly": monthly_table(scenario, aggregates),
        "stage_shares": stage_shares_table(scenario, aggregates),
    }
