"""The posteriors shipped with the program: found by name, carried with their provenance, the
default of `alliance forecast`, never one that saw the record, and rebuilt by one command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from model_helpers import DATA, ROOT, alliance

from sim.batch.posterior import load_posterior, never_saw, shipped_posteriors
from sim.experiments.shipped_fits import load_fits, refit
from sim.model.errors import InputError
from sim.model.parameters import BY_NAME
from sim.model.scenario import load_scenario

FITS = ROOT / "experiments" / "posteriors" / "fits.yaml"
MANY_ALIKE = DATA / "many_alike.yaml"  # a scenario no shipped fit saw
POOLED, WITHOUT = "calibrate_history", "calibrate_history_without_csto_2020_2022"


def _manifest(name: str) -> dict:
    return json.loads((ROOT / "experiments" / "posteriors" / name / "posterior.json").read_text())


def test_every_listed_fit_is_shipped_with_its_command_and_commit():
    listed = {fit.name for fit in load_fits(FITS).fits}
    assert {p.name for p in shipped_posteriors()} == listed == {POOLED, WITHOUT}
    for name in listed:
        folder = ROOT / "experiments" / "posteriors" / name
        provenance = json.loads((folder / "provenance.json").read_text())
        assert provenance["command"] == f"alliance refit-posteriors --only {name}"
        assert len(provenance["commit"].removesuffix("-dirty")) == 40
        draws = load_posterior(name, load_scenario(MANY_ALIKE))  # by name, hashes checked
        assert len(draws.samples) == _manifest(name)["samples"] >= 1000
        assert set(pd.read_parquet(folder / "posterior.parquet").columns) == set(
            _manifest(name)["parameters"]
        )  # compact: the samples only


def test_the_csto_forecast_draws_from_the_fit_that_never_saw_its_record():
    csto = load_scenario("csto_2022")
    assert never_saw(csto).name == WITHOUT
    assert "csto_2020_2022" not in [c["name"] for c in _manifest(WITHOUT)["cases"]]
    assert never_saw(load_scenario(MANY_ALIKE)).name == POOLED  # the most cases
    assert never_saw(load_scenario("history/cst_1994_2005")) is None  # every fit saw it
    with pytest.raises(InputError, match="would count twice"):
        load_posterior(POOLED, csto).refuse_double_counting("--posterior")


def test_the_default_forecast_is_the_programs_forecast(tmp_path, monkeypatch, capsys):
    from sim.experiments.forecast import AUTO, plan_forecast

    plan = plan_forecast(Path("csto_2022"), None, 1000, posterior=AUTO)
    assert plan.posterior.name == WITHOUT
    assert Path(plan.record["observations"]["path"]).name == "observations_pre2022.yaml"
    assert plan.record["as_of"] == plan.scenario.month_label(plan.scenario.history_end)
    fixed = plan_forecast(Path("csto_2022"), None, 1000, posterior="none")
    assert fixed.posterior is None
    monkeypatch.chdir(tmp_path)
    status, printed, err = alliance(
        monkeypatch, capsys, "forecast", "csto_2022", "--runs", "2000", "--workers", "1"
    )
    assert status == 0, err
    words = " ".join(printed.split())
    assert f"posterior of {WITHOUT} (8 case(s)" in words and "20 draws x 100 runs" in words
    assert "[95% parameter interval]" in words and "Monte Carlo" in words
    document = json.loads((tmp_path / "out/csto_2022_forecast/summary/summary.json").read_text())
    assert document["by_date"][-1]["param_high"] > document["by_date"][-1]["high"]


def test_a_scenario_without_a_record_says_how_to_name_one(tmp_path, monkeypatch, capsys):
    scenario = tmp_path / "alone.yaml"
    data = yaml.safe_load((ROOT / "scenarios" / "csto_2022.yaml").read_text())
    data.pop("observations")
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    status, _, err = alliance(monkeypatch, capsys, "forecast", scenario, "--out", tmp_path / "f")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "names no record" in err and "alone.obs.yaml" in err
    assert not (tmp_path / "f").exists()
    data["observations"] = "missing.yaml"
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    status, _, err = alliance(monkeypatch, capsys, "forecast", scenario, "--out", tmp_path / "f")
    assert status == 2 and "observations" in err and "missing.yaml" in err


@pytest.mark.slow
def test_refitting_at_small_settings_gives_a_compatible_table(tmp_path):
    """The fits file's experiment at one small batch: the same columns, parameters and held
    values as the shipped table, samples inside the priors, a posterior runs can load."""
    experiment = yaml.safe_load((ROOT / "experiments" / "calibrate_history.yaml").read_text())
    base = ROOT / "experiments"
    experiment["scenario"] = str((base / experiment["scenario"]).resolve())
    for case in experiment["cases"]:
        case["scenario"] = str((base / case["scenario"]).resolve())
        case["observations"] = str((base / case["observations"]).resolve())
    experiment["cases"] = experiment["cases"][-3:]  # two historical cases and the CSTO
    experiment.update(replications=20, design={"method": "lhs", "points": 16})
    experiment["calibration"].update(batch=16, max_evaluations=16, draws=200)
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    fits = load_fits(FITS).model_dump()
    for fit in fits["fits"]:
        fit["experiment"] = "small.yaml"
    (tmp_path / "fits.yaml").write_text(yaml.safe_dump(fits, sort_keys=False))
    done = refit(tmp_path / "fits.yaml", tmp_path / "out", only=[WITHOUT], show_progress=False)
    assert [d.name for d in done] == [WITHOUT]
    small = json.loads((tmp_path / "out" / WITHOUT / "posterior.json").read_text())
    shipped = _manifest(WITHOUT)
    assert small["parameters"] == shipped["parameters"] and small["fixed"] == shipped["fixed"]
    table = pd.read_parquet(tmp_path / "out" / WITHOUT / "posterior.parquet")
    assert list(table.columns) == list(shipped["parameters"])
    for column, info in small["parameters"].items():
        assert info["prior_low"] <= table[column].min() <= table[column].max() <= info["prior_high"]
        assert BY_NAME[info["parameter"]].low <= info["prior_low"]
    assert "csto_2020_2022" not in [c["name"] for c in small["cases"]]
    provenance = json.loads((tmp_path / "out" / WITHOUT / "provenance.json").read_text())
    assert provenance["command"].endswith(f"--fits {tmp_path / 'fits.yaml'}")
    draws = load_posterior(tmp_path / "out" / WITHOUT, load_scenario("csto_2022"))
    draws.refuse_double_counting("--posterior")  # it never saw the CSTO's record
    assert np.isfinite(draws.samples).all()
