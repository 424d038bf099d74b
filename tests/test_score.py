"""`alliance score`: cases forecast under a posterior fitted elsewhere, without refitting; the
references fitted on the other cases' folds, scored by the same rules as a cross-validation."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from case_helpers import write_cases, write_experiment
from model_helpers import write_posterior

from sim.batch.jobs import RunOptions
from sim.batch.posterior import manifest_digest, record_id
from sim.experiments.loading import load
from sim.experiments.score import score
from sim.experiments.scoring import FORECASTERS
from sim.model.scenario import load_scenario

RUNS = 200
SERIAL = RunOptions(workers=1)


def alliance(capsys, *args) -> tuple[int, str, str]:
    """The command line in this process (a fresh one would compile the kernels again): exit
    status, stdout and stderr."""
    from sim.cli.main import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["alliance", *map(str, args)])
        mp.setenv("COLUMNS", "250")
        with pytest.raises(SystemExit) as stop:
            main()
    printed = capsys.readouterr()
    return int(stop.value.code or 0), printed.out, printed.err


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Three synthetic cases, a posterior fitted on none of them (low and high intercepts), and
    one fitted on the case `north`."""
    folder = tmp_path_factory.mktemp("score")
    cases = write_cases(folder)
    experiment = write_experiment(
        folder, cases, replications=20, points=8, walkers=4, steps=4, burn=1
    )
    elsewhere = write_posterior(folder / "elsewhere", (-4.6, -4.4), cases=(("west", "west"),))
    high = write_posterior(folder / "high", (-2.0,), cases=(("west", "west"),))
    seen = write_posterior(folder / "seen", (-4.5,), cases=(("north", "north"),))
    return folder, experiment, elsewhere, high, seen


def test_refuses_a_posterior_fitted_on_a_scored_case(library, capsys):
    folder, experiment, _, _, seen = library
    out = folder / "refused"
    code, _, err = alliance(
        capsys, "score", experiment, "--posterior", seen, "--out", out, "--runs", "50"
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--posterior" in err and "'north'" in err and "--leave-out north" in err
    assert not out.exists()


def test_a_left_out_case_is_not_scored_and_an_unknown_one_is_refused(library, capsys):
    folder, experiment, _, _, seen = library
    result = score(
        experiment, seen, folder / "without_north", runs=50, options=SERIAL, leave_out=["north"]
    )
    assert set(result.events["case"]) == {"south", "east"}
    assert result.summary["left_out"] == ["north"]
    out = folder / "unknown"
    code, _, err = alliance(
        capsys, "score", experiment, "--posterior", seen, "--out", out, "--leave-out", "nowhere"
    )
    assert code == 2 and "--leave-out" in err and "nowhere" in err and not out.exists()


def test_scores_deterministically_with_a_fixed_seed(library):
    folder, experiment, elsewhere, high, _ = library
    first = score(experiment, elsewhere, folder / "first", runs=RUNS, options=SERIAL, folds=2)
    again = score(experiment, elsewhere, folder / "again", runs=RUNS, options=SERIAL, folds=2)
    pd.testing.assert_frame_equal(first.events, again.events)
    pd.testing.assert_frame_equal(first.scores, again.scores)
    # the model runs under the given posterior: a higher intercept, more members disengaged
    higher = score(experiment, high, folder / "higher", runs=RUNS, options=SERIAL, folds=2)
    assert higher.events["p_model"].mean() > first.events["p_model"].mean() + 0.1
    # the references do not depend on the posterior
    for column in ("p_base_rate", "p_logit", "p_fifty_fifty"):
        pd.testing.assert_series_equal(first.events[column], higher.events[column])


def test_every_forecaster_is_in_the_scores_table(library, capsys):
    folder, experiment, elsewhere, _, _ = library
    out = folder / "cli"
    code, printed, err = alliance(
        capsys, "score", experiment, "--posterior", elsewhere, "--out", out, "--runs", str(RUNS),
        "--folds", "3", "--workers", "1",
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(out / "scores.csv")
    assert set(table["forecaster"]) == set(FORECASTERS)
    assert {"case", "era", "size", "all"} <= set(table["group"])
    for forecaster in FORECASTERS:
        rows = table[table["forecaster"] == forecaster]
        assert rows["brier"].notna().all() and rows["log_score"].notna().all()
    assert {"auc_withdrawn", "calibration_intercept", "calibration_slope"} <= set(table)
    result = load(out)
    assert result.manifest.kind == "score" and result.manifest.posterior.hash
    assert len(result.manifest.folds) == 3
    # the references are fitted once per fold, on the other folds' cases
    base = pd.read_csv(out / "base_rates.csv")
    assert base["held_out"].nunique() == 3
    assert "Scores of" in printed and "logit" in printed
    # how many cases the model is worse on, per reference, as summary.json's per-case verdicts
    summary = json.loads((out / "summary.json").read_text())
    cases = summary["versus_per_case"]
    for ref in ("base_rate", "fifty_fifty", "logit"):
        worse = sum(
            "worse" in {v[ref]["brier"]["verdict"], v[ref]["log_score"]["verdict"]}
            for v in cases.values()
        )
        label = {"base_rate": "base rate", "fifty_fifty": "50/50", "logit": "logit"}[ref]
        assert f"the {label} on {worse}" in " ".join(printed.split())
    assert f"of the {len(cases)} cases" in " ".join(printed.split())


def test_refuses_a_posterior_fitted_on_a_scored_record_under_another_name(library, capsys):
    folder, experiment, _, _, _ = library
    renamed = write_posterior(folder / "renamed", (-4.5,), cases=(("old_east", "old_east"),))
    manifest = json.loads((renamed / "posterior.json").read_text())
    manifest["cases"][0]["record"] = record_id(load_scenario(folder / "east.yaml"))
    manifest["manifest_hash"] = manifest_digest(manifest)
    (renamed / "posterior.json").write_text(json.dumps(manifest))
    out = folder / "refused_record"
    code, _, err = alliance(capsys, "score", experiment, "--posterior", renamed, "--out", out)
    assert code == 2 and "'old_east'" in err and "'east'" in err and not out.exists()
