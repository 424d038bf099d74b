"""Calibration: recovers a parameter from synthetic facts, matches the exact posterior, writes a
calibrated scenario and posterior samples, resumes to the same fit; observation files are
validated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from model_helpers import DATA, ROOT, SCENARIOS, alliance

from sim.batch.jobs import RunOptions
from sim.batch.lanes import simulate_chunk
from sim.experiments import sampler
from sim.experiments.calibrate import calibrate
from sim.experiments.experiment import load_experiment
from sim.experiments.likelihood import Likelihood
from sim.experiments.observations import dump_observations, load_observations, observations_from_run
from sim.model.scenario import load_scenario

EXPERIMENT = DATA / "many_alike_calibrate.yaml"
TRUTH = -4.0  # disengage_intercept that generates the synthetic history
HISTORY_SEED = 90210  # not the experiment's seed: the facts must not share its random numbers


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, dict]:
    """Facts read off one simulated history of 16 members at the true intercept."""
    scenario = load_experiment(EXPERIMENT).scenario
    history = simulate_chunk(
        scenario,
        HISTORY_SEED,
        0,
        1,
        parameters={"disengage_intercept": TRUTH, "contagion_weight": 0.0},
        aggregate=False,
    )
    data = observations_from_run(
        scenario, history.first_passage[0], scenario.months - 1, "synthetic history", (1,)
    )
    path = tmp_path_factory.mktemp("facts") / "synthetic.yaml"
    path.write_text(dump_observations(data), encoding="utf-8")
    return path, data


@pytest.fixture(scope="module")
def fitted(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("calibration") / "fit"
    fit = calibrate(EXPERIMENT, synthetic[0], out, options=RunOptions(workers=1, progress=False))
    return fit, out


def _exact_posterior(data: dict, months: int) -> tuple[float, float]:
    """Mean and sd of the posterior under a uniform prior on [-7, -2], by quadrature.

    A member's monthly chance of disengaging is p = logistic(theta); first disengaging in month m
    has probability (1 - p)^m p, and not by the last month (1 - p)^months.
    """
    theta = np.linspace(-7.0, -2.0, 20_001)
    p = 1.0 / (1.0 + np.exp(-theta))
    loglik = np.zeros_like(theta)
    start = load_experiment(EXPERIMENT).scenario
    for fact in data["facts"]:
        if "reached_in" in fact:
            m = start.month_of(fact["reached_in"])
            loglik += m * np.log1p(-p) + np.log(p)
        else:
            loglik += months * np.log1p(-p)
    w = np.exp(loglik - loglik.max())
    w /= w.sum()
    mean = float((w * theta).sum())
    return mean, float(np.sqrt((w * (theta - mean) ** 2).sum()))


def test_calibration_recovers_the_generating_parameter_within_its_uncertainty(fitted):
    fit, _ = fitted
    row = fit.fitted.set_index("parameter").loc["disengage_intercept"]
    assert row["low"] < TRUTH < row["high"]
    assert row["high"] - row["low"] < 0.5 * (-2.0 - -7.0)  # the facts are informative
    assert row["low"] < row["mean"] < row["high"] and row["sd"] > 0


def test_calibration_posterior_matches_the_exact_posterior(fitted, synthetic):
    fit, _ = fitted
    months = load_experiment(EXPERIMENT).scenario.months
    mean, sd = _exact_posterior(synthetic[1], months)
    row = fit.fitted.set_index("parameter").loc["disengage_intercept"]
    # The simulated likelihood (500 runs per point) itself sits a little off the exact one.
    assert abs(row["mean"] - mean) < 0.5 * sd
    assert 0.75 * sd < row["sd"] < 1.3 * sd
    assert fit.summary["effective_sample_size"] > 50


def test_calibration_writes_its_tables_and_a_calibrated_scenario(fitted):
    fit, out = fitted
    for name in ("posterior", "fitted", "facts", "outcomes", "cases", "correlations"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.parquet").is_file()
    posterior = pd.read_parquet(out / "posterior.parquet")
    settings = load_experiment(EXPERIMENT).spec.calibration
    assert len(posterior) == settings.walkers * (settings.steps - settings.burn)
    assert posterior["step"].min() == settings.burn
    manifest = json.loads((out / "posterior.json").read_text())
    assert manifest["samples"] == len(posterior)
    assert manifest["parameters"]["disengage_intercept"]["prior_low"] == -7.0
    row = fit.fitted.set_index("parameter").loc["disengage_intercept"]
    assert row["sd_ratio"] == pytest.approx(row["sd"] / (5.0 / np.sqrt(12)))
    assert row["identification"] == "identified"
    calibrated = load_scenario(out / "scenario.calibrated.yaml")
    original = load_scenario(DATA / "many_alike.yaml")
    spec = calibrated.spec.parameters["disengage_intercept"]
    assert spec.value == pytest.approx(fit.fitted["mean"].iloc[0], abs=1e-4)
    assert spec.source.startswith("Fitted by `alliance calibrate`")
    assert "95% interval" in spec.source and "many_alike" in spec.source
    assert calibrated.spec.parameters["contagion_weight"].value == 0.0  # held fixed in the fit
    unchanged = original.spec.parameters["unobserved_sd"]
    assert calibrated.spec.parameters["unobserved_sd"] == unchanged
    no_parameters = {"parameters": {}}
    assert calibrated.spec.model_copy(update=no_parameters) == original.spec.model_copy(
        update=no_parameters
    )
    facts = pd.read_csv(out / "facts.csv")
    assert len(facts) == 16 and facts["p_posterior"].between(0, 1).all()


def test_interrupted_calibration_resumes_to_the_same_fit(fitted, synthetic, tmp_path, monkeypatch):
    fit, _ = fitted
    out = tmp_path / "fit"
    calls = {"n": 0}
    original = Likelihood.__call__

    def interrupted(self, matrix):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return original(self, matrix)

    monkeypatch.setattr(sampler, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(Likelihood, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        calibrate(EXPERIMENT, synthetic[0], out, options=RunOptions(workers=1, progress=False))
    monkeypatch.setattr(Likelihood, "__call__", original)
    resumed = calibrate(
        EXPERIMENT, synthetic[0], out, options=RunOptions(workers=1, resume=True, progress=False)
    )
    pd.testing.assert_frame_equal(resumed.fitted, fit.fitted)


def test_shipped_observations_load_against_the_csto_scenario():
    scenario = load_scenario(SCENARIOS / "csto_2022.yaml")
    observations = load_observations(ROOT / "experiments" / "observations_pre2022.yaml", scenario)
    assert observations.facts and all(len(f.source) > 20 for f in observations.facts)
    assert all(f.month <= scenario.month_of("2022-11") for f in observations.facts)
    load_experiment(ROOT / "experiments" / "calibrate_pre2022.yaml")


def _write_facts(tmp_path: Path, edit) -> Path:
    data = {
        "name": "facts",
        "description": "test facts",
        "as_of": "2031-06-30",
        "facts": [
            {"member": "M01", "stage": "disengaged", "reached_in": "2030-05", "source": "a test"},
            {"member": "M02", "stage": "frozen", "not_reached_by": "2031-06", "source": "a test"},
        ],
    }
    edit(data)
    path = tmp_path / "facts.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _fact(i: int, **changes):
    def edit(data: dict) -> None:
        data["facts"][i].update(changes)
        for key in [k for k, v in changes.items() if v is None]:
            del data["facts"][i][key]

    return edit


@pytest.mark.parametrize(
    ("edit", "phrases"),
    [
        (_fact(0, member="M99"), ["line 5", "facts[0].member", "unknown member 'M99'"]),
        (_fact(0, stage="gone"), ["line 6", "facts[0].stage", "expected one of disengaged"]),
        (_fact(0, reached_by="2030-06"), ["facts[0]", "exactly one of reached_in"]),
        (_fact(0, reached_in=None), ["facts[0]", "exactly one of reached_in"]),
        (_fact(0, reached_in="2031-07"), ["line 7", "facts[0].reached_in", "after as_of"]),
        (_fact(0, reached_in="2029-12"), ["facts[0].reached_in", "outside the scenario's"]),
        (_fact(1, source=None), ["facts[1].source", "required field is missing"]),
        (_fact(1, not_reached_by="2031-13"), ["facts[1].not_reached_by", "YYYY-MM"]),
        (lambda d: d.update(base_rate=1.5), ["base_rate", "strictly between 0 and 1"]),
        (lambda d: d.update(facts=[]), ["facts", "at least 1"]),
        (lambda d: d.update(when="now"), ["when", "unknown field"]),
    ],
)
def test_bad_observation_files_give_one_line_and_status_2(
    tmp_path, monkeypatch, capsys, edit, phrases
):
    facts = _write_facts(tmp_path, edit)
    out = tmp_path / "fit"
    status, _, err = alliance(
        monkeypatch, capsys, "calibrate", EXPERIMENT, "--observations", facts, "--out", out
    )
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {facts}: ")
    for phrase in phrases:
        assert phrase in err, err
    assert not out.exists()


def test_calibration_needs_ranges_not_value_lists(tmp_path, monkeypatch, capsys):
    data = yaml.safe_load(EXPERIMENT.read_text())
    data["scenario"] = str(DATA / "many_alike.yaml")
    data["parameters"] = {"disengage_intercept": {"values": [-5.0, -4.0, -3.0]}}
    data["design"] = {"method": "grid"}
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    facts = _write_facts(tmp_path, lambda d: None)
    status, _, err = alliance(
        monkeypatch, capsys, "calibrate", experiment, "--observations", facts, "--out",
        tmp_path / "fit",
    )  # fmt: skip
    assert status == 2
    assert "parameters.disengage_intercept.values" in err and "uniform prior" in err
