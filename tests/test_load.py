"""`sim.load(DIR)`: every kind of result directory as a typed result with a short repr, dates as
datetimes and censored first passages missing; Python entry points check their arguments before
writing anything."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from case_helpers import write_cases, write_experiment
from result_dirs import SCENARIOS, make_batch, make_sensitivity, make_sweep

import sim
from sim.batch.jobs import RunOptions
from sim.batch.results import load as load_batch_results
from sim.batch.runner import run_batch
from sim.experiments import loading
from sim.experiments.backtest import backtest
from sim.experiments.calibrate import calibrate
from sim.experiments.crossval import crossval
from sim.experiments.forecast import forecast
from sim.experiments.origins import backtest_origins
from sim.experiments.sweep import sweep
from sim.model.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
OBSERVATIONS = ROOT / "experiments" / "observations_pre2022.yaml"
CSTO = SCENARIOS / "csto_2022.yaml"
ONE = RunOptions(workers=1, progress=False)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, Path]:
    """One small finished directory of every kind."""
    root = tmp_path_factory.mktemp("load")
    found = {
        "batch": make_batch(root / "batch", runs=500),
        "sweep": make_sweep(root),
        "sensitivity": make_sensitivity(root),
    }
    found["forecast"] = root / "forecast"
    forecast(CSTO, OBSERVATIONS, found["forecast"], 500, seed=1, as_of="2022-11", options=ONE)
    found["backtest"] = root / "backtest"
    backtest(CSTO, OBSERVATIONS, found["backtest"], runs=200, options=ONE, origin="2021-06",
             condition=False)  # fmt: skip
    found["origins"] = root / "origins"
    backtest_origins(CSTO, OBSERVATIONS, found["origins"], ["2021-06", "2022-06"], runs=200,
                     options=ONE)  # fmt: skip
    cases = write_cases(root / "cases", ("north", "south"))
    experiment = write_experiment(
        root / "cases", cases, replications=20, points=8, walkers=4, steps=3, burn=1
    )
    found["calibrate"] = root / "calibrate"
    calibrate(experiment, None, found["calibrate"], ONE)
    found["crossval"] = root / "crossval"
    crossval(experiment, found["crossval"], runs=100, options=ONE)
    return found


EXPECTED = {
    "batch": (loading.Batch, "curves"),
    "forecast": (loading.Forecast, "curves"),
    "sweep": (loading.Sweep, "results"),
    "sensitivity": (loading.Sensitivity, "indices"),
    "calibrate": (loading.Calibration, "posterior"),
    "crossval": (loading.CrossValidation, "scores"),
    "backtest": (loading.Backtest, "scores"),
    "origins": (loading.Backtest, "skill"),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_kind_loads_as_its_typed_result_with_a_short_repr(dirs, kind):
    result = sim.load(dirs[kind])
    typed, table = EXPECTED[kind]
    assert type(result) is typed
    assert isinstance(result.tables()[table], pd.DataFrame) and len(result.tables()[table])
    text = repr(result)
    assert text.startswith(f"<{typed.__name__} ") and "\n" not in text and len(text) < 300
    assert table in text  # the repr lists the tables
    assert typed.__doc__ and sim.load.__doc__


def test_batch_tables_equal_the_batch_reader_with_dates_as_datetimes(dirs):
    result = sim.load(dirs["batch"])
    plain = load_batch_results(dirs["batch"])
    curves = result.curves
    assert pd.api.types.is_datetime64_any_dtype(curves["date"])
    assert (curves["date"].dt.strftime("%Y-%m") == plain.curves["date"].astype(str)).all()
    pd.testing.assert_series_equal(curves["probability"], plain.curves["probability"])
    december = result.alliance[result.alliance["date"] == "2030-12"]
    assert list(december["month"]) == [result.scenario.months - 1]
    medians = result.median_time
    assert pd.api.types.is_datetime64_any_dtype(medians["median_date"])
    assert medians["median_date"].isna().sum() == plain.median_time["median_date"].isna().sum()


def test_censored_first_passages_are_missing_not_minus_one(dirs):
    result = sim.load(dirs["batch"])
    raw = load_batch_results(dirs["batch"]).first_passage(["Armenia"], ["withdrawn"])
    typed = result.first_passage(["Armenia"], ["withdrawn"])
    censored = raw["month"].to_numpy() == -1
    assert censored.any() and (~censored).any()
    assert typed["month"].isna().to_numpy().tolist() == censored.tolist()
    assert typed["date"].isna().to_numpy().tolist() == censored.tolist()
    reached = typed[~censored]
    assert (reached["month"].to_numpy() == raw["month"].to_numpy()[~censored]).all()
    labels = np.array(result.scenario.month_labels())[reached["month"].to_numpy(int)]
    assert (reached["date"].dt.strftime("%Y-%m").to_numpy() == labels).all()
    assert (typed["month"] >= 0).sum() == (~censored).sum()  # no -1 left


def test_forecast_carries_its_record(dirs):
    result = sim.load(dirs["forecast"])
    assert result.record["as_of"] == "2022-11"
    assert len(result.facts) == len(result.record["facts"]) > 0
    assert {"label", "treatment"} <= set(result.facts.columns)
    assert "held to" in repr(result) and "ESS" in repr(result)


def test_experiment_tables_have_calendar_columns_as_datetimes(dirs):
    events = sim.load(dirs["origins"]).events
    assert pd.api.types.is_datetime64_any_dtype(events["date"])
    assert pd.api.types.is_datetime64_any_dtype(events["origin"])
    folds = sim.load(dirs["crossval"]).folds
    assert set(folds) == {"north", "south"} and all(p.is_dir() for p in folds.values())


def test_an_unfinished_or_unknown_directory_is_one_line(dirs, tmp_path):
    with pytest.raises(InputError, match="not a directory"):
        sim.load(tmp_path / "nothing")
    half = tmp_path / "half"
    shutil.copytree(dirs["sweep"], half)
    manifest = json.loads((half / "manifest.json").read_text())
    (half / "manifest.json").write_text(json.dumps({**manifest, "finished": None}))
    with pytest.raises(InputError, match="unfinished; finish it with: alliance sweep"):
        sim.load(half)


def _spec(folder: Path) -> Path:
    spec = folder / "sweep.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: arg_check
            description: argument checks
            scenario: {CSTO}
            seed: 3
            replications: 10
            parameters:
              drain_scale: {{low: 0.0, high: 2.0}}
            design: {{method: grid, levels: 2}}
            outcomes:
              - {{kind: any_exit, by: 2030-12}}
            """
        )
    )
    return spec


@pytest.mark.parametrize(
    ("call", "option"),
    [
        (lambda out, _: run_batch(CSTO, out, runs=10, options=RunOptions(workers=0)), "--workers"),
        (lambda out, _: run_batch(CSTO, out, runs=10, seed=-1, options=ONE), "--seed"),
        (lambda out, _: run_batch(CSTO, out, runs=10.5, options=ONE), "--runs"),
        (lambda out, _: run_batch(CSTO, out, runs="10", options=ONE), "--runs"),
        (lambda out, _: run_batch(CSTO, out, runs=True, options=ONE), "--runs"),
        (lambda out, _: forecast(CSTO, OBSERVATIONS, out, 10, seed=-1, options=ONE), "--seed"),
        (lambda out, _: forecast(CSTO, OBSERVATIONS, out, 0, options=ONE), "--runs"),
        (lambda out, spec: sweep(spec, out, RunOptions(workers=0)), "--workers"),
        (lambda out, _: backtest(CSTO, OBSERVATIONS, out, runs=0, options=ONE), "--runs"),
        (lambda out, _: backtest(CSTO, OBSERVATIONS, out, runs=10, seed=-1), "--seed"),
        (lambda out, _: backtest(CSTO, OBSERVATIONS, out, runs=10, options=ONE), "--origin"),
        (
            lambda out, _: backtest_origins(CSTO, OBSERVATIONS, out, ["2021-06"], runs=-5),
            "--runs",
        ),
    ],
)
def test_python_entry_points_check_arguments_before_writing(tmp_path, call, option):
    out = tmp_path / "out"
    with pytest.raises(InputError) as error:
        call(out, _spec(tmp_path))
    assert str(error.value).startswith(option)
    assert not out.exists()
