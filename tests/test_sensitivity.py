"""Sensitivity: Sobol and Morris recover the one parameter that matters (~6 s)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from model_helpers import DATA, alliance

from sim.batch.jobs import RunOptions
from sim.experiments.sensitivity import INDEX_COLUMNS, sensitivity

ONE_LEVER = DATA / "one_lever_sobol.yaml"
LEVER = "disengage_intercept"


@pytest.fixture(scope="module")
def sobol_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sobol") / "run"
    sensitivity(ONE_LEVER, out, options=RunOptions(workers=1, progress=False))
    return out


def test_sobol_finds_the_only_parameter_that_matters(sobol_dir):
    indices = pd.read_csv(sobol_dir / "indices.csv").set_index("parameter")
    lever = indices.loc[LEVER]
    assert lever["S1"] == pytest.approx(1.0, abs=0.1)
    assert lever["ST"] == pytest.approx(1.0, abs=0.1)
    assert lever["S1"] - lever["S1_conf"] < 1.0 < lever["S1"] + lever["S1_conf"] + 0.02
    others = indices.drop(index=LEVER)
    assert len(others) == 3
    # With common random numbers an irrelevant parameter changes no run at all: exactly zero.
    assert (others[["S1", "ST", "S1_conf", "ST_conf"]].abs() < 1e-9).all().all()


def test_sensitivity_directory_follows_the_contract(sobol_dir):
    indices = pd.read_csv(sobol_dir / "indices.csv")
    assert tuple(indices.columns) == INDEX_COLUMNS
    assert set(indices["method"]) == {"sobol"}
    assert indices[["mu_star", "mu_star_conf", "sigma"]].isna().all().all()
    manifest = json.loads((sobol_dir / "manifest.json").read_text())
    assert manifest["kind"] == "sensitivity"
    assert manifest["varied"] == [LEVER, "hazard_slope", "reengage_intercept", "trust_drift"]
    assert manifest["points"] == 256 * (4 + 2)
    results = pd.read_csv(sobol_dir / "results.csv")
    assert len(results) == manifest["points"] and (results["n"] == 200).all()


def test_morris_finds_the_only_parameter_that_matters(tmp_path):
    data = yaml.safe_load(ONE_LEVER.read_text())
    data["scenario"] = str(DATA / "one_lever.yaml")
    data["design"] = {"method": "morris", "trajectories": 20, "levels": 4}
    experiment = tmp_path / "morris.yaml"
    experiment.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    indices = sensitivity(
        experiment, tmp_path / "run", options=RunOptions(workers=1, progress=False)
    )
    indices = indices.set_index("parameter")
    assert indices.loc[LEVER, "mu_star"] > 0.2  # P(disengaged) moves a lot over its range
    assert indices.loc[LEVER, "mu_star"] - indices.loc[LEVER, "mu_star_conf"] > 0
    others = indices.drop(index=LEVER)
    assert (others[["mu_star", "sigma"]] == 0).all().all()
    assert indices[["S1", "ST"]].isna().all().all()


def test_sensitivity_refuses_a_sweep_design(tmp_path, monkeypatch, capsys):
    data = yaml.safe_load(ONE_LEVER.read_text())
    data["scenario"] = str(DATA / "one_lever.yaml")
    data["design"] = {"method": "grid", "levels": 3}
    experiment = tmp_path / "grid.yaml"
    experiment.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = tmp_path / "o"
    status, _, err = alliance(monkeypatch, capsys, "sensitivity", experiment, "--out", out)
    assert status == 2
    assert "design.method" in err and "sobol or morris" in err and "alliance sweep" in err
    assert not out.exists()
