"""Pooled calibration over several cases: recovers the mechanism parameters that generated them
(and the exact posterior), and rejects bad case lists with one line naming the field."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from case_helpers import CASES, FIXED, TRUTH, write_cases, write_experiment
from model_helpers import alliance

from sim.batch.jobs import RunOptions
from sim.experiments.calibrate import calibrate
from sim.model.scenario import load_scenario


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    cases = write_cases(folder)
    experiment = write_experiment(
        folder, cases, replications=150, points=32, walkers=8, steps=40, burn=15
    )
    fit = calibrate(experiment, None, folder / "fit", options=RunOptions(workers=2, progress=False))
    return folder, fit


@pytest.fixture(scope="module")
def pooled_importance(tmp_path_factory):
    """The same cases fitted by the importance sampler (the default)."""
    folder = tmp_path_factory.mktemp("pool_importance")
    cases = write_cases(folder)
    experiment = write_experiment(
        folder, cases, replications=150, points=32, walkers=8, steps=40, burn=15
    )
    data = yaml.safe_load(experiment.read_text())
    data["calibration"] = {"batch": 64, "effective_samples": 300, "max_evaluations": 1024}
    data["calibration"]["window"] = 6
    experiment.write_text(yaml.safe_dump(data, sort_keys=False))
    fit = calibrate(experiment, None, folder / "fit", options=RunOptions(workers=2, progress=False))
    return folder, fit


SAMPLERS = ["pooled", "pooled_importance"]  # the fixtures fitted by emcee, by importance


def exact_posterior(folder) -> dict[str, tuple[float, float]]:
    """Posterior mean and sd of (intercept, slope) by quadrature: each member's monthly hazard
    is logistic(intercept + slope * 1.5 * outside), constant, members independent."""
    a = np.linspace(-7, -2, 301)[:, None]
    b = np.linspace(0, 6, 301)[None, :]
    loglik = np.zeros((301, 301))
    for name, (_, _, outside) in CASES.items():
        scenario = load_scenario(folder / f"{name}.yaml")
        for fact in yaml.safe_load((folder / f"{name}.obs.yaml").read_text())["facts"]:
            h = 1 / (1 + np.exp(-(a + b * 1.5 * outside[int(fact["member"][1:]) - 1])))
            if "reached_in" in fact:
                m = scenario.month_of(fact["reached_in"])
                loglik += m * np.log1p(-h) + np.log(h)
            else:
                loglik += scenario.months * np.log1p(-h)
    w = np.exp(loglik - loglik.max())
    w /= w.sum()
    out = {}
    for name, grid in (("disengage_intercept", a), ("hazard_slope", b)):
        mean = float((w * grid).sum())
        out[name] = (mean, float(np.sqrt((w * (grid - mean) ** 2).sum())))
    return out


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_pooled_fit_recovers_the_generating_mechanism_parameters(request, sampler):
    _, fit = request.getfixturevalue(sampler)
    fitted = fit.fitted.set_index("parameter")
    for name, truth in TRUTH.items():
        row = fitted.loc[name]
        assert row["low"] < truth < row["high"], (name, row.to_dict())
        assert row["sd_ratio"] < 0.5 and row["identification"] == "identified"
    assert list(fit.cases["case"]) == list(CASES)
    assert fit.summary["facts"] == sum(len(c[2]) for c in CASES.values())
    assert fit.summary["sampler"] == {"pooled": "emcee", "pooled_importance": "importance"}[sampler]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_pooled_fit_matches_the_exact_posterior_of_the_three_histories(request, sampler):
    folder, fit = request.getfixturevalue(sampler)
    fitted = fit.fitted.set_index("parameter")
    for name, (mean, sd) in exact_posterior(folder).items():
        assert abs(fitted.loc[name, "mean"] - mean) < 0.5 * sd, name
        assert 0.6 * sd < fitted.loc[name, "sd"] < 1.5 * sd, name


def test_pooled_fit_writes_samples_each_case_simulated_to_its_last_fact(pooled):
    folder, fit = pooled
    manifest = json.loads((folder / "fit" / "manifest.json").read_text())
    assert [c["months"] for c in manifest["cases"]] == [c[1] for c in CASES.values()]
    posterior = json.loads((folder / "fit" / "posterior.json").read_text())
    assert [c["name"] for c in posterior["cases"]] == list(CASES)
    assert posterior["fixed"] == FIXED
    samples = pd.read_parquet(folder / "fit" / "posterior.parquet")
    assert len(samples) == posterior["samples"] == 8 * (40 - 15)
    assert (folder / "fit" / "inputs" / "south" / "observations.yaml").is_file()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    return folder, write_cases(folder, ("north", "south"))


def _experiment(folder, library_cases, entries, **changes):
    path = write_experiment(
        folder, library_cases, replications=20, points=8, walkers=4, steps=3, burn=1
    )
    data = yaml.safe_load(path.read_text())
    data["cases"] = entries
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _case(i, **changes):
    def edit(cases):
        cases = [dict(c) for c in cases]
        cases[i].update(changes)
        return cases

    return edit


@pytest.mark.parametrize(
    ("edit", "phrases"),
    [
        (lambda c: [], ["cases", "at least 1"]),
        (_case(0, scenario="nowhere.yaml"), ["cases[0].scenario", "'nowhere.yaml' not found"]),
        (_case(1, observations="none.obs.yaml"), ["cases[1].observations", "not found"]),
        (
            _case(1, scenario="north.yaml", observations="north.obs.yaml"),
            ["cases[1].scenario", "duplicate case name 'north'"],
        ),
        (_case(0, name="a@b"), ["cases[0].name", "not a plain name", "no '@'"]),
        (_case(0, weight=2), ["cases[0].weight", "unknown field"]),
        (_case(0, parameters={"hazard_slope": {}}), ["cases[0].parameters.hazard_slope", "shared"]),
        (_case(0, parameters={"slope": {}}), ["cases[0].parameters.slope", "unknown parameter"]),
        (
            _case(0, parameters={"drain_scale": {"low": 1.0, "high": 0.5}}),
            ["cases[0].parameters.drain_scale", "low < high"],
        ),
        (_case(0, observations="south.obs.yaml"), ["south.obs.yaml", "unknown member"]),
    ],
)
def test_bad_case_lists_give_one_line_and_status_2(library, monkeypatch, capsys, edit, phrases):
    folder, cases = library
    experiment = _experiment(folder, cases, edit(cases))
    out = folder / "fit"
    status, _, err = alliance(monkeypatch, capsys, "calibrate", experiment, "--out", out)
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "changes", "phrases"),
    [
        (["--observations", "x.obs.yaml"], {}, ["--observations", "lists its own `cases`"]),
        ([], {"cases": None}, ["cases", "no observations"]),
        (
            [],
            {"calibration": {"walkers": 2}},
            ["calibration.walkers", "greater than or equal to 4"],
        ),
        ([], {"calibration": {"steps": 5, "burn": 5}}, ["calibration", "burn (5) must be below"]),
        ([], {"design": {"method": "lhs", "points": 3}}, ["design", "at least 4"]),
    ],
)
def test_bad_calibration_settings_give_one_line_and_status_2(
    library, monkeypatch, capsys, args, changes, phrases
):
    folder, cases = library
    if "calibration" in changes and "walkers" not in changes["calibration"]:
        changes["calibration"] = {"walkers": 4, **changes["calibration"]}
    if "design" in changes:
        changes["calibration"] = {"walkers": 4, "steps": 3, "burn": 1}
    if "calibration" in changes:
        changes["calibration"] = {"sampler": "emcee", **changes["calibration"]}
    experiment = _experiment(folder, cases, cases, **changes)
    out = folder / "fit"
    status, _, err = alliance(monkeypatch, capsys, "calibrate", experiment, "--out", out, *args)
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, err
    assert not out.exists()


def test_every_calibration_and_case_setting_is_documented():
    from model_helpers import ROOT

    from sim.experiments.experiment import Calibration, CaseSpec

    text = (ROOT / "docs" / "experiments.md").read_text() + (
        ROOT / "docs" / "calibration.md"
    ).read_text()
    for model in (Calibration, CaseSpec):
        for field in model.model_fields:
            assert f"{field}:" in text, f"{model.__name__}.{field} is not documented"


def test_a_case_simulated_to_its_last_fact_sees_the_same_history_up_to_then():
    from model_helpers import SCENARIOS

    from sim.batch.lanes import simulate_chunk

    scenario = load_scenario(SCENARIOS / "csto_2022.yaml")
    full = simulate_chunk(scenario, 9, 0, 1000, aggregate=False).first_passage
    short = simulate_chunk(scenario, 9, 0, 1000, aggregate=False, months=35).first_passage
    assert np.array_equal(short, np.where(full < 35, full, -1))
    assert (full >= 35).any()  # the full run does go on to reach stages later


def test_a_case_may_fit_parameters_of_its_own(library):
    from sim.batch.posterior import load_posterior

    folder, cases = library
    entries = [dict(cases[0], parameters={"drain_scale": {"low": 0.5, "high": 1.5}}), cases[1]]
    experiment = write_experiment(
        folder, entries, replications=20, points=8, walkers=6, steps=3, burn=1
    )
    fit = calibrate(experiment, None, folder / "own", options=RunOptions(workers=1, progress=False))
    row = fit.fitted.set_index("parameter").loc["drain_scale@north"]
    assert row["case"] == "north" and 0.5 <= row["mean"] <= 1.5
    assert list(fit.fitted["case"]) == ["shared", "shared", "north"]
    north, south = (load_scenario(folder / c["scenario"]) for c in cases[:2])
    assert "drain_scale" in load_posterior(folder / "own", north).names
    assert "drain_scale" not in load_posterior(folder / "own", south).names
