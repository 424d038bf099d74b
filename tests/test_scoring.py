"""Scores and the event-history logit: AUC, calibration and skill against hand computation, the
logit's recovery of a known coefficient, its hazards multiplied out by hand (~5 s)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from model_helpers import DATA
from scipy.optimize import brentq

from sim.experiments.logit import fit_rows, forecast
from sim.experiments.observations import Fact
from sim.experiments.scoring import (
    add_skill,
    auc,
    calibration,
    comparisons,
    horizon_outcomes,
    skill,
    verdict_lines,
)
from sim.model.scenario import load_scenario


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_auc_is_the_hand_counted_share_of_ordered_pairs():
    p = np.array([0.9, 0.4, 0.4, 0.2])
    o = np.array([1, 1, 0, 0])
    # pairs (leaver, stayer): 0.9>0.4, 0.9>0.2, 0.4=0.4 (one half), 0.4>0.2 -> 3.5 of 4
    assert auc(p, o) == pytest.approx(0.875)
    assert auc(np.full(4, 0.5), o) == pytest.approx(0.5)  # a constant forecast: all ties
    assert math.isnan(auc(p, np.ones(4)))  # no stayer: undefined


def test_calibration_slope_and_intercept_equal_the_hand_computed_ones():
    # Two forecast levels: the two-parameter fit passes through both bins' observed shares.
    p = np.r_[np.full(10, 0.2), np.full(10, 0.6)]
    o = np.r_[np.ones(4), np.zeros(6), np.ones(8), np.zeros(2)]  # 4/10 and 8/10 came true
    result = calibration(p, o)
    slope = (_logit(0.8) - _logit(0.4)) / (_logit(0.6) - _logit(0.2))
    assert result.slope == pytest.approx(slope, rel=1e-6)

    # Intercept, slope held at 1: the shift a with sum expit(a + logit p) = 12 events.
    def excess(a: float) -> float:
        return sum(10 / (1 + math.exp(-(a + _logit(q)))) for q in (0.2, 0.6)) - 12

    assert result.intercept == pytest.approx(brentq(excess, -5, 5), abs=1e-6)
    # One level: the intercept is logit(observed) - logit(forecast); the slope is undefined.
    one = calibration(np.full(10, 0.3), np.r_[np.ones(5), np.zeros(5)])
    assert one.intercept == pytest.approx(_logit(0.5) - _logit(0.3), abs=1e-6)
    assert math.isnan(one.slope)


def test_a_reference_scoring_zero_leaves_skill_undefined_and_the_verdict_worse():
    assert math.isnan(skill(0.1, 0.0))
    assert skill(0.1, 0.2) == pytest.approx(0.5)
    scores = pd.DataFrame(
        {
            "case": ["a"] * 3,
            "forecaster": ["model", "base_rate", "fifty_fifty"],
            "brier": [0.1, 0.0, 0.25],
            "log_score": [0.3, 0.0, math.log(2)],
        }
    )
    with_skill = add_skill(scores, ["case"])
    model = with_skill.set_index("forecaster").loc["model"]
    assert math.isnan(model["brier_skill_vs_base_rate"])
    assert model["brier_skill_vs_fifty_fifty"] == pytest.approx(0.6)
    versus = comparisons(scores)
    assert versus["base_rate"]["brier"]["skill"] is None
    assert versus["base_rate"]["brier"]["verdict"] == "worse"
    lines = verdict_lines(versus, "Here")
    assert any("WORSE than the base rate" in line and "undefined" in line for line in lines)
    assert any("beats the 50/50" in line for line in lines)


def _fact(member: int, stage: int, kind: str, month: int) -> Fact:
    return Fact(0, member, f"m{member}", stage, kind, month, f"month {month}", "test")


def test_horizon_outcomes_take_one_common_month_per_stage():
    facts = [
        _fact(0, 3, "reached_in", 10),  # left early: 1 at the horizon
        _fact(1, 3, "not_reached_by", 40),  # stayed to the horizon: 0
        _fact(2, 3, "not_reached_by", 20),  # known only to month 20: left out
        _fact(2, 1, "reached_by", 5),
        _fact(1, 1, "not_reached_by", 30),
    ]
    assert horizon_outcomes(facts) == [
        (2, "m2", 1, 30, 1),
        (1, "m1", 1, 30, 0),
        (0, "m0", 3, 40, 1),
        (1, "m1", 3, 40, 0),
    ]


def _synthetic_rows(rng: np.random.Generator, n: int, coefficient: float) -> pd.DataFrame:
    threat = rng.normal(0.5, 0.2, n)
    hazard = 1 / (1 + np.exp(-(-3.0 + coefficient * threat)))
    return pd.DataFrame(
        {
            "case": rng.integers(0, 12, n).astype(str),
            "member": 0,
            "stage": 3,
            "month": 0,
            "threat": threat,
            "y": (rng.random(n) < hazard).astype(float),
        }
    )


def test_the_logit_recovers_a_known_coefficient():
    rows = _synthetic_rows(np.random.default_rng(7), 60_000, 2.0)
    fit = fit_rows(rows, ("threat",))
    assert fit.method == "maximum likelihood"
    table = fit.table().set_index("term")
    assert table.loc["threat", "coefficient"] == pytest.approx(
        2.0, abs=3 * table.loc["threat", "se_clustered"]
    )
    assert table.loc["threat", "coefficient"] == pytest.approx(2.0, abs=0.25)
    assert table.loc["stage_withdrawn", "coefficient"] == pytest.approx(-3.0, abs=0.15)
    assert 0 < table.loc["threat", "se_clustered"] < 0.3


def test_a_separating_covariate_falls_back_to_the_ridge_fit():
    rows = _synthetic_rows(np.random.default_rng(8), 5_000, 0.0)
    rows["threat"] = np.where(rows["y"] == 1, 0.0, rows["threat"])  # no event where threat > 0
    rows["threat"] = rows["threat"].where(rows["threat"] <= 0.6, 0.0)
    rows.loc[rows["y"] == 0, "threat"] += 0.01
    fit = fit_rows(rows, ("threat",))
    assert fit.method == "ridge"
    assert np.isfinite(fit.params).all() and np.isfinite(fit.se).all()
    assert fit.params[-1] < 0  # events only where threat is lowest


def test_the_logits_forecast_multiplies_its_monthly_hazards_out():
    scenario = load_scenario(DATA / "settled.yaml")
    rows = pd.DataFrame(
        {"case": ["a", "b"] * 50, "stage": 3, "threat": 0.5, "y": [1.0] * 5 + [0.0] * 95}
    )
    fit = fit_rows(rows, ("threat",))  # threat constant: dropped, the intercept alone is left
    assert fit.dropped == ("threat",) and fit.covariates == ()
    h = 0.05  # the MLE of a constant hazard: 5 events in 100 rows
    p = forecast(fit, scenario, [(1, 3, 11, -1), (1, 3, 11, 5), (1, 3, 4, 4), (0, 3, 4, -1)])
    # months 0..11; months 6..11; nothing left after month 4; Gone starts withdrawn: certain
    np.testing.assert_allclose(p, [1 - (1 - h) ** 12, 1 - (1 - h) ** 6, 0.0, 1.0], rtol=1e-6)


def test_reliability_bins_hold_equal_counts_never_split_ties_and_carry_binomial_intervals():
    from scipy import stats

    from sim.plots.reliability import equal_count_bins, reliability_table

    p = np.linspace(0.05, 0.95, 20)
    assert [len(g) for g in equal_count_bins(p, 4)] == [5, 5, 5, 5]
    tied = np.r_[np.full(7, 0.1), np.linspace(0.5, 0.9, 13)]
    groups = equal_count_bins(tied, 4)  # the first cut (after 5) would split the 0.1s
    assert [len(g) for g in groups] == [7, 3, 5, 5]
    events = pd.DataFrame({"p_model": p, "outcome": (np.arange(20) % 4 == 0).astype(int)})
    table = reliability_table(events, "model")  # 20 facts: two bins of ten
    assert table["facts"].tolist() == [10, 10]
    first = table.iloc[0]
    assert first["forecast"] == pytest.approx(p[:10].mean())
    hits = int(events["outcome"][:10].sum())  # facts 0, 4, 8
    assert first["observed"] == pytest.approx(hits / 10)
    assert first["low"] == pytest.approx(stats.beta.ppf(0.025, hits, 10 - hits + 1))
    assert first["high"] == pytest.approx(stats.beta.ppf(0.975, hits + 1, 10 - hits))
