"""The split-population (cure) logit: it recovers a known cured share and coefficient on
synthetic spells, is the logit when nobody is cured, and its forecast conditions on survival
(~10 s)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_helpers import DATA

from sim.experiments.cure import BOUND, CureFit, fit_cure_rows, log_likelihood, spells_of
from sim.experiments.logit import LogitFit, design, fit_rows, forecast
from sim.model.scenario import load_scenario

COVARIATES = ("threat", "capability_change")  # a standing one and one that varies by month


def synthetic_spells(
    rng: np.random.Generator, spells: int, at_risk_intercept: float, at_risk_slope: float
) -> tuple[pd.DataFrame, float]:
    """Spells of at most 60 months: each at risk with chance expit(a + b (threat - 0.5)), and
    then reaching the stage with monthly hazard expit(-3 + capability_change); the rows, and
    the spells' mean chance of never being at risk."""
    threat = rng.normal(0.5, 0.2, spells)
    q = 1.0 / (1.0 + np.exp(-(at_risk_intercept + at_risk_slope * (threat - 0.5))))
    at_risk = rng.random(spells) < q
    frames = []
    for i in range(spells):
        change = rng.normal(0.0, 1.0, 60)
        hit = at_risk[i] & (rng.random(60) < 1.0 / (1.0 + np.exp(3.0 - change)))
        last = int(np.argmax(hit)) if hit.any() else 59
        y = np.zeros(last + 1)
        y[-1] = float(hit.any())
        frames.append(
            pd.DataFrame(
                {
                    "case": str(i % 40),
                    "member": i,
                    "stage": 3,
                    "month": np.arange(last + 1),
                    "y": y,
                    "threat": threat[i],
                    "capability_change": change[: last + 1],
                }
            )  # fmt: skip
        )
    return pd.concat(frames, ignore_index=True), float(1.0 - q.mean())


def test_the_cure_logit_recovers_a_known_cured_share_and_coefficient():
    rows, cured = synthetic_spells(np.random.default_rng(3), 3000, 0.0, 5.0)
    assert 0.45 < cured < 0.55
    fit = fit_cure_rows(rows, COVARIATES, ("threat",))
    assert fit.method == "maximum likelihood"
    assert fit.cured_share == pytest.approx(cured, abs=0.03)
    table = fit.table().set_index(["part", "term"])
    slope = table.loc[("at risk", "threat")]
    assert slope["coefficient"] == pytest.approx(5.0, abs=3 * slope["se_clustered"])
    assert slope["coefficient"] == pytest.approx(5.0, abs=0.7)
    intercept = table.loc[("at risk", "stage_withdrawn"), "coefficient"]
    assert intercept == pytest.approx(-2.5, abs=0.4)  # 0 - 5 x 0.5 on the covariate's scale
    change = table.loc[("hazard", "capability_change"), "coefficient"]
    assert change == pytest.approx(1.0, abs=0.1)
    assert table.loc[("hazard", "stage_withdrawn"), "coefficient"] == pytest.approx(-3.0, abs=0.2)
    # The plain logit, fitted on the same rows, takes the cured members' long stays for a low
    # hazard: its intercept is far below the true -3.
    plain = fit_rows(rows, COVARIATES).table().set_index("term")
    assert plain.loc["stage_withdrawn", "coefficient"] < -3.3


def test_with_nobody_at_risk_cured_the_likelihood_and_forecast_are_the_logits():
    rows, cured = synthetic_spells(np.random.default_rng(4), 1500, 30.0, 0.0)
    assert cured < 1e-12
    d = design(rows, COVARIATES)
    spells = spells_of(rows, d, ("threat",))
    beta = np.array([-3.0, 0.2, 0.9])  # any hazard coefficients
    theta = np.r_[beta, BOUND, 0.0]  # the at-risk intercept at its bound: q = 1 - 4e-18
    eta = d.x @ beta
    bernoulli = float(np.sum(d.y * eta - np.logaddexp(0.0, eta)))
    assert log_likelihood(theta, d, spells)[0].sum() == pytest.approx(bernoulli, rel=1e-12)

    fit, plain = fit_cure_rows(rows, COVARIATES, ("threat",)), fit_rows(rows, COVARIATES)
    assert fit.cured_share < 0.01
    first = rows.groupby("member").head(1)  # each spell's first month, members in order

    def reached(model: CureFit | LogitFit) -> np.ndarray:
        h = pd.Series(model.hazard(rows, 3), index=rows.index)
        survived = np.exp(np.log1p(-h).groupby(rows["member"]).sum())
        return model.at_risk(first, 3) * (1.0 - survived.to_numpy())

    assert len(first) == 1500
    np.testing.assert_allclose(reached(fit), reached(plain), atol=0.01)


def test_the_cure_forecast_is_the_at_risk_share_times_the_logits_and_conditions_on_survival():
    scenario = load_scenario(DATA / "settled.yaml")  # every member's threat 0
    h, q = 0.05, 0.6
    hazards = LogitFit(
        (3,), (), (), np.array([np.log(h / (1 - h))]), np.zeros(1), "maximum likelihood",
        100, 5, 2,
    )  # fmt: skip
    fit = CureFit(hazards, ("threat",), np.array([np.log(q / (1 - q)), 7.0]), np.zeros(2), 0.4, 9)
    p = forecast(fit, scenario, [(1, 3, 11, -1), (1, 3, 11, 5), (1, 3, 4, 4), (0, 3, 4, -1)])
    survived = (1 - h) ** 6  # months 0..5 known not reached
    q_after = q * survived / (1 - q + q * survived)
    expected = [q * (1 - (1 - h) ** 12), q_after * (1 - (1 - h) ** 6), 0.0, 1.0]
    np.testing.assert_allclose(p, expected, rtol=1e-9)
    plain = forecast(hazards, scenario, [(1, 3, 11, 5)])
    assert plain[0] == pytest.approx(1 - (1 - h) ** 6) and p[1] < q * plain[0]
