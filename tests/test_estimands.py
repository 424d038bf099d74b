"""Estimands of a batch: cumulative probabilities with bands that cover at the nominal rate,
counts that merge across chunks, medians, quantiles from histograms and the dated tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_helpers import DATA, SCENARIOS
from scipy import stats

from sim.batch.estimands import (
    PassageCounts,
    cumulative_probability,
    histogram_quantiles,
    report_months,
    summary_tables,
)
from sim.batch.lanes import BINS, SUM_SCALE, MonthlyAggregates, simulate_chunk
from sim.batch.outcomes import interval
from sim.model.scenario import load_scenario

HAZARD = 1 / (1 + np.exp(3.0))  # fixed_hazard.yaml: logistic(disengage_intercept = -3)
CHECKED_MONTHS = np.array([0, 2, 5, 11, 23])


@pytest.fixture(scope="module")
def fixed_hazard_groups():
    """2,000 independent groups of 100 runs of fixed_hazard.yaml: first month disengaged."""
    scenario = load_scenario(DATA / "fixed_hazard.yaml")
    groups, size = 2000, 100
    result = simulate_chunk(scenario, 7, 0, groups * size, aggregate=False)
    disengaged = result.first_passage[:, :, 0]  # (runs, members)
    return scenario, disengaged.T.reshape(-1, groups, size)  # (members, groups, size)


def _coverage(scenario, groups: np.ndarray, confidence: float) -> np.ndarray:
    """Share of groups whose band covers the true cumulative probability, per member x month."""
    truth = 1 - (1 - HAZARD) ** (CHECKED_MONTHS + 1)
    covered = np.zeros((groups.shape[0], len(CHECKED_MONTHS)))
    for m, member_groups in enumerate(groups):
        for times in member_groups:
            reached = np.bincount(times[times >= 0], minlength=scenario.months)
            _, low, high = cumulative_probability(reached, len(times), confidence)
            covered[m] += (low[CHECKED_MONTHS] <= truth) & (truth <= high[CHECKED_MONTHS])
    return covered / groups.shape[1]


def test_bands_cover_a_known_probability_at_least_at_the_nominal_rate(fixed_hazard_groups):
    # 2 members x 5 months x 2,000 groups: one cell's coverage has sd ~0.005. The exact binomial
    # band never covers less than 95% (up to that noise), and is not needlessly wide either.
    coverage = _coverage(*fixed_hazard_groups, confidence=0.95)
    assert coverage.min() >= 0.935 and coverage.max() <= 0.985, coverage
    assert 0.95 <= coverage.mean() <= 0.975


def test_a_narrower_band_covers_less_as_it_should(fixed_hazard_groups):
    coverage = _coverage(*fixed_hazard_groups, confidence=0.80)
    assert 0.80 <= coverage.mean() <= 0.88


def test_estimate_is_the_share_reached_by_each_month_when_censoring_is_at_the_horizon():
    rng = np.random.default_rng(3)
    months, runs = 30, 5000
    times = np.where(rng.random(runs) < 0.6, rng.integers(0, months, runs), -1)
    reached = np.bincount(times[times >= 0], minlength=months)
    p, low, high = cumulative_probability(reached, runs)
    share = [np.mean((times >= 0) & (times <= t)) for t in range(months)]
    np.testing.assert_allclose(p, share)
    assert (low <= p).all() and (p <= high).all()
    assert (np.diff(p) >= 0).all()


def test_no_event_gives_zero_with_the_exact_upper_limit():
    p, low, high = cumulative_probability(np.zeros(12, dtype=int), 1000)
    assert (p == 0).all() and (low == 0).all()
    # Clopper-Pearson: 0 of n has upper limit 1 - 0.025^(1/n), ~3.7/n for n = 1000
    np.testing.assert_allclose(high, 1 - 0.025 ** (1 / 1000))


def test_every_run_reaching_it_gives_one_with_the_exact_lower_limit():
    reached = np.zeros(6, dtype=int)
    reached[2] = 400
    p, low, high = cumulative_probability(reached, 400)
    assert p[2:].tolist() == [1.0] * 4 and (high[2:] == 1).all()
    np.testing.assert_allclose(low[2:], 0.025 ** (1 / 400))
    assert (p[:2] == 0).all() and (high[:2] > 0).all()


def test_counts_merge_across_chunks_like_one_chunk():
    rng = np.random.default_rng(5)
    fp = rng.integers(-1, 20, size=(3000, 4, 3)).astype(np.int16)
    first_exit = rng.integers(-1, 20, size=3000).astype(np.int16)
    whole = PassageCounts.empty(4, 20)
    whole.add(fp, first_exit)
    parts = PassageCounts.empty(4, 20)
    for lo in range(0, 3000, 700):
        parts.add(fp[lo : lo + 700], first_exit[lo : lo + 700])
    np.testing.assert_array_equal(whole.reached, parts.reached)
    np.testing.assert_array_equal(whole.exit_reached, parts.exit_reached)
    assert parts.runs == 3000
    assert whole.reached[1, 2, 7] == np.sum(fp[:, 1, 2] == 7)
    assert whole.exit_reached[4] == np.sum(first_exit == 4)


def test_histogram_quantiles_are_within_one_bin_of_the_exact_quantiles():
    rng = np.random.default_rng(9)
    values = rng.beta(2, 5, size=(3, 20_000))
    hist = np.stack([np.bincount(np.minimum((v * BINS).astype(int), BINS - 1), minlength=BINS)
                     for v in values])  # fmt: skip
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    got = histogram_quantiles(hist, qs)
    exact = np.quantile(values, qs, axis=1).T
    assert np.abs(got - exact).max() <= 1 / BINS
    assert np.isnan(histogram_quantiles(np.zeros((1, BINS)), qs)).all()


@pytest.fixture(scope="module")
def csto_summary():
    scenario = load_scenario(SCENARIOS / "csto_2022.yaml")
    result = simulate_chunk(scenario, 1, 0, 4000)
    counts = PassageCounts.empty(len(scenario.members), scenario.months)
    counts.add(result.first_passage, result.first_exit)
    return scenario, result, summary_tables(scenario, counts, result.aggregates)


def test_summary_tables_have_the_contract_columns(csto_summary):
    scenario, _, tables = csto_summary
    expected = {
        "curves": ["member", "stage", "month", "date", "probability", "low", "high", "n"],
        "alliance": ["month", "date", "p_any_exit", "low", "high", "expected_active"],
        "by_date": ["member", "stage", "date", "probability", "low", "high"],
        "median_time": ["member", "stage", "median_month", "median_date"],
        "monthly": ["month", "date", "actor", "variable", "mean", "q05", "q25", "q50", "q75",
                    "q95"],
        "stage_shares": ["month", "date", "member", "stage", "share"],
    }  # fmt: skip
    for name, columns in expected.items():
        assert set(columns) <= set(tables[name].columns), name
    members, months = len(scenario.members), scenario.months
    assert len(tables["curves"]) == members * 3 * months
    assert len(tables["stage_shares"]) == members * 4 * months
    assert set(tables["monthly"]["actor"]) == {*scenario.members, scenario.spec.patron.name}


def test_stage_shares_sum_to_one_and_expected_active_matches_them(csto_summary):
    _, _, tables = csto_summary
    shares = tables["stage_shares"]
    sums = shares.groupby(["month", "member"])["share"].sum()
    np.testing.assert_allclose(sums, 1.0)
    active = shares[shares["stage"] == "active"].groupby("month")["share"].sum()
    np.testing.assert_allclose(active.to_numpy(), tables["alliance"]["expected_active"])


def test_any_exit_is_the_share_of_runs_with_a_formal_exit(csto_summary):
    _, result, tables = csto_summary
    horizon = tables["alliance"].iloc[-1]
    assert horizon["p_any_exit"] == pytest.approx(np.mean(result.first_exit >= 0))
    withdrawn_anyone = (result.first_passage[:, :, 2] >= 0).any(axis=1)
    assert horizon["p_any_exit"] == pytest.approx(withdrawn_anyone.mean())


def test_by_date_reports_each_year_end_and_the_horizon(csto_summary):
    scenario, _, tables = csto_summary
    dates = sorted(set(tables["by_date"]["date"]))
    assert dates == [f"{y}-12" for y in range(2020, 2031)]
    assert report_months(scenario)[-1] == scenario.months - 1


def test_median_is_the_first_month_at_one_half_and_missing_below_it(csto_summary):
    _, _, tables = csto_summary
    curves, medians = tables["curves"], tables["median_time"].set_index(["member", "stage"])
    for (member, stage), curve in curves.groupby(["member", "stage"]):
        row = medians.loc[(member, stage)]
        reached = curve[curve["probability"] >= 0.5]
        if reached.empty:
            assert pd.isna(row["median_month"]) and pd.isna(row["median_date"])
        else:
            assert row["median_month"] == reached["month"].iloc[0]
            assert row["median_date"] == reached["date"].iloc[0]
            assert row["median_low_month"] <= row["median_month"]
            # The band's lower curve may stay below 1/2 to the horizon: no upper bound then.
            high = row["median_high_month"]
            assert pd.isna(high) or row["median_month"] <= high
    assert medians["median_month"].notna().any() and medians["median_month"].isna().any()


def test_band_is_the_exact_binomial_interval_as_for_an_experiment_outcome():
    # Nothing is censored before the horizon, so the estimate is a binomial proportion: the band
    # is its Clopper-Pearson interval, the very one an experiment's outcome gets for it.
    reached = np.zeros(3, dtype=int)
    reached[1] = 300
    p, low, high = cumulative_probability(reached, 1000)
    exact = stats.binomtest(300, 1000).proportion_ci(0.95, method="exact")
    assert p[1] == pytest.approx(0.3)
    assert low[1] == pytest.approx(exact.low, rel=1e-9)
    assert high[1] == pytest.approx(exact.high, rel=1e-9)
    _, out_low, out_high = interval(True, np.array(1000), np.array(300.0), np.array(300.0))
    assert (out_low, out_high) == (low[1], high[1])


def test_monthly_mean_matches_the_aggregate_sums(csto_summary):
    scenario, result, tables = csto_summary
    monthly = tables["monthly"]
    agg: MonthlyAggregates = result.aggregates
    first = scenario.members[0]
    trust = monthly[(monthly["actor"] == first) & (monthly["variable"] == "trust")]
    paths = simulate_chunk(scenario, 1, 0, 4000, trajectories=True).trajectories["trust"]
    np.testing.assert_allclose(trust["mean"], paths[:, 0, :].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(trust["mean"], agg.trust_sum[:, 0] / SUM_SCALE / agg.runs)
    assert ((trust["q05"] <= trust["q50"]) & (trust["q50"] <= trust["q95"])).all()
