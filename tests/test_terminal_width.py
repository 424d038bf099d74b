"""Summary tables fit an 80-column terminal: no line is longer, no value is cut with an
ellipsis, and every value printed is whole (tables split their columns instead)."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from model_helpers import SCENARIOS, run_cli
from rich.console import Console

from sim.cli import experiments_view
from sim.cli.tables import fitted_tables

WIDTH = 80
BAND = re.compile(r"(?<![\d.])(?!\d{4}-\d{2}\b)\d+(?:\.\d+)?-\d+(?:\.\d+)?(?![\d.%])")


def _fits(text: str, width: int = WIDTH) -> None:
    lines = text.splitlines()
    assert lines, "nothing printed"
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, too_long
    assert "…" not in text


def _console(width: int = WIDTH) -> Console:
    return Console(width=width, record=True, file=io.StringIO(), color_system=None)


def test_columns_that_do_not_fit_are_split_over_balanced_tables():
    headers = [f"member {i}" for i in range(7)]
    rows = [[f"20{y}-12", *(f"{y}.{i}5%\n0.00{i}-0.{y}{i}" for i in range(7))] for y in (20, 30)]
    console = _console()
    tables = fitted_tables(console, "P(frozen by date)", "by end of", headers, rows)
    assert len(tables) == 2 and [len(t.columns) for t in tables] == [5, 4]  # 4 + 3 members
    for table in tables:
        console.print(table)
    text = console.export_text()
    _fits(text)
    for row in rows:
        for cell in row:
            for value in cell.split("\n"):
                assert value in text
    wide = _console(200)
    assert len(fitted_tables(wide, "P(frozen by date)", "by end of", headers, rows)) == 1


@pytest.fixture(scope="module")
def batch_output(tmp_path_factory):
    out = tmp_path_factory.mktemp("narrow") / "b"
    done = run_cli(
        "batch", "csto_2022", "--runs", "2000", "--seed", "1", "--workers", "1", "--out", out,
        columns=WIDTH,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_the_batch_summary_fits_80_columns_with_every_band_whole(batch_output):
    out, text = batch_output
    _fits(text)
    by_date = pd.read_csv(out / "summary" / "by_date.csv")
    years = by_date["date"].nunique()
    members = by_date["member"].nunique()
    # one band per member, stage and year end, and one per year end for the alliance
    assert len(BAND.findall(text)) == members * 3 * years + years
    assert "0-0.18" in text  # 0 of 2,000 runs: the exact upper limit 1 - 0.025^(1/2000)


def test_the_run_summary_fits_80_columns(tmp_path):
    done = run_cli("run", "csto_2022", "--seed", "1", "--out", tmp_path / "run", columns=WIDTH)
    assert done.returncode == 0, done.stderr
    _fits(done.stdout)
    for member in ("Armenia", "Belarus", "Kazakhstan", "Kyrgyzstan", "Tajikistan"):
        assert member in done.stdout
    monthly = pd.read_parquet(tmp_path / "run" / "monthly.parquet")
    left = monthly[(monthly["role"] == "member") & (monthly["status"] != "active")]
    assert not left.empty, "seed 1 has a member leaving"
    assert left["date"].min() in done.stdout  # the first month any member left, as printed


def _view(monkeypatch, module: str, name: str, result: object, command, *args) -> str:
    monkeypatch.setattr(f"sim.experiments.{module}.{name}", lambda *a, **k: result)
    console = _console()
    command(console, *args)
    text = console.export_text()
    _fits(text)
    return text


def _experiment(folder: Path) -> Path:
    """An experiment file with a probability outcome and a count outcome (the views read which
    outcomes are probabilities from it, to print those in %)."""
    path = folder / "exp.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: width
            description: the outcomes of the width tests
            scenario: {SCENARIOS / "csto_2022.yaml"}
            seed: 1
            replications: 10
            parameters:
              domestic_gain_unanswered: {{low: 0.05, high: 0.3}}
            design: {{method: grid, levels: 2}}
            outcomes:
              - {{kind: reach_stage, member: Kazakhstan, stage: withdrawn, by: 2030-12}}
              - {{kind: active_members, at: 2030-12}}
            """
        )
    )
    return path


def test_the_sweep_summary_fits_80_columns(monkeypatch, tmp_path):
    results = pd.DataFrame(
        {
            "point": [0, 1, 0, 1],
            "outcome": ["Kazakhstan withdrawn by 2030-12"] * 2 + ["active members at 2030-12"] * 2,
            "estimate": [0.000253, 0.47, 3.04, 4.98],
            "low": [0.0000064, 0.369, 2.76, 4.95],
            "high": [0.0545, 0.572, 3.32, 5.01],
            "n": 2000,
            "domestic_gain_unanswered": [0.05, 0.3, 0.05, 0.3],
            "answer_willingness": [-1.5, -4.0, -1.5, -4.0],
        }
    )
    text = _view(monkeypatch, "sweep", "sweep", results, experiments_view.sweep_command,
                 _experiment(tmp_path), tmp_path / "out", False)  # fmt: skip
    for value in (
        "0.025% [<0.001%, 5.45%]",  # a probability, in %
        "domestic_gain_unanswered=0.3",
        "4.98 [4.95, 5.01]",
    ):
        assert value in text


def test_the_calibration_summary_fits_80_columns(monkeypatch, tmp_path):
    names = ["domestic_gain_unanswered", "disengage_intercept", "hazard_slope"]
    fitted = pd.DataFrame(
        {
            "parameter": names,
            **{c: [-5.6123, 0.000123, 3.23] for c in ("mean", "sd", "low", "median", "high")},
            "best": [-2.07, 1.37, 0.5],
            "prior_low": [-9, 0, 0],
            "prior_high": [-2, 6, 6],
            "sd_ratio": [0.47, 0.0001, 0.93],
            "identification": ["identified", "identified", "not identified"],
        }
    )
    outcomes = pd.DataFrame(
        {
            "outcome": ["Kazakhstan withdrawn by 2030-12", "active members at 2030-12"],
            "prior_mean": [0.0694, 4.4],
            "posterior_mean": [0.0523, 4.55],
            "low": [0.0, 1.22],
            "high": [0.58, 4.99],
        }
    )
    fit = SimpleNamespace(
        fitted=fitted,
        outcomes=outcomes,
        summary={
            "effective_sample_size": 150.0,
            "facts": 173,
            "cases": ["a", "b"],
            "samples": 1200,
            "walkers": 16,
            "steps": 150,
            "burn": 75,
            "acceptance_fraction": 0.26,
            "confounded": [
                {"parameters": ["hazard_slope", "disengage_intercept"], "correlation": 0.91}
            ],
        },  # fmt: skip
    )
    text = _view(monkeypatch, "calibrate", "calibrate", fit, experiments_view.calibrate_command,
                 _experiment(tmp_path), tmp_path / "obs.yaml", tmp_path / "out")  # fmt: skip
    for value in (
        *names, "-5.61", "0.000123", "[-9, -2]", "Kazakhstan withdrawn by 2030-12", "0.47",
        "not identified", "not told apart",
    ):  # fmt: skip
        assert value in text


def test_the_sensitivity_summary_fits_80_columns(monkeypatch, tmp_path):
    indices = pd.DataFrame(
        {
            "outcome": "Kazakhstan withdrawn by 2030-12",
            "method": "sobol",
            "parameter": ["domestic_gain_unanswered", "hazard_slope"],
            "S1": [-0.074, 0.179],
            "S1_conf": [0.1, 0.334],
            "ST": [0.434, 0.13],
            "ST_conf": [1.212, 0.217],
        }
    )
    command = experiments_view.sensitivity_command
    text = _view(monkeypatch, "sensitivity", "sensitivity", indices, command, tmp_path / "e.yaml",
                 tmp_path / "o", False)  # fmt: skip
    assert "domestic_gain_unanswered" in text and "-0.074" in text and "1.212" in text
