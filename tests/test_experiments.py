"""Experiment files, designs, outcomes and sweeps: validation, CIs, common random numbers, resume
(~20 s)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from model_helpers import DATA, ROOT, alliance
from scipy import stats

from sim.batch.jobs import RunOptions
from sim.batch.lanes import simulate_chunk
from sim.batch.outcomes import Outcome, estimate, interval
from sim.experiments.designs import build_design
from sim.experiments.experiment import load_experiment
from sim.experiments.sweep import sweep
from sim.model.parameters import BY_NAME, PARAMETER_NAMES

EXPERIMENTS = ROOT / "experiments"
ONE_LEVER = DATA / "one_lever.yaml"


def base_experiment() -> dict:
    """A small grid sweep on the one-member test alliance (3 x 2 points, 300 runs each)."""
    return {
        "name": "small_grid",
        "description": "a small grid for tests",
        "scenario": str(ONE_LEVER),
        "seed": 5,
        "replications": 300,
        "parameters": {
            "disengage_intercept": {"values": [-5.0, -4.0, -3.0]},
            "trust_drift": {"low": 0.0, "high": 0.1},
        },
        "design": {"method": "grid", "levels": 2},
        "outcomes": [
            {"kind": "reach_stage", "member": "Solo", "stage": "disengaged", "by": "2031-12"},
            {"kind": "active_members", "at": "2031-12"},
            {"kind": "any_exit", "by": "2031-12", "label": "exit"},
        ],
    }


def write(tmp_path: Path, data: dict, name: str = "experiment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_shipped_experiments_load_and_fit_their_commands():
    methods = {
        p.stem: load_experiment(p).method
        for p in EXPERIMENTS.glob("*.yaml")
        if p.stem != "observations_pre2022"
    }
    assert methods == {
        "drain_vs_response": "grid",
        "sobol_csto": "sobol",
        "calibrate_pre2022": "lhs",
        "calibrate_history": "lhs",
        "calibrate_atop": "lhs",
        "trial_event_weights": "lhs",
        "trial_atop_grievance": "lhs",
        "trial_atop_r400": "lhs",
        "trial_atop_window24": "lhs",
        "trial_atop_stay": "lhs",
        "trial_atop_floor": "lhs",
        "trial_atop_leave": "lhs",
        "trial_atop_witness": "lhs",
        "trial_atop_duration": "lhs",
        "trial_history_witness": "lhs",
    }
    sobol = load_experiment(EXPERIMENTS / "sobol_csto.yaml")
    assert sobol.parameter_names == list(PARAMETER_NAMES)
    assert len(sobol.parameter_names) >= 10 and sobol.spec.design.samples == 1024
    assert sobol.spec.replications == 100
    for v in sobol.varied:
        assert (v.low, v.high) == (BY_NAME[v.name].low, BY_NAME[v.name].high)


def _edit(path: tuple, value: object):
    def edit(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "phrases"),
    [
        (_edit(("parameters", "drain_scal"), {}), ["parameters.drain_scal", "unknown parameter"]),
        (
            _edit(("parameters", "trust_drift", "high"), 0.5),
            ["line 14", "parameters.trust_drift.high", "outside the documented range [0.0, 0.1]"],
        ),
        (
            _edit(("parameters", "trust_drift"), {"low": 0.05, "high": 0.01}),
            ["parameters.trust_drift", "must be below high"],
        ),
        (
            _edit(("parameters", "disengage_intercept", "values"), [-5.0, -12.0]),
            ["parameters.disengage_intercept.values[1]", "expected a value in [-9.0, -2.0]"],
        ),
        (_edit(("design", "method"), "gird"), ["design.method", "expected one of grid, lhs"]),
        (_edit(("design", "levels"), 1), ["line 17", "design.levels", "greater than or equal"]),
        (
            _edit(("design",), {"method": "lhs", "points": 9, "levels": 3}),
            ["design.levels", "unknown field"],
        ),
        (
            _edit(("design",), {"method": "lhs", "points": 10}),
            ["parameters.disengage_intercept.values", "a lhs design needs a range"],
        ),
        (
            _edit(("design",), {"method": "sobol", "samples": 100}),
            ["design.samples", "power of 2"],
        ),
        (
            _edit(("design",), {"method": "morris", "trajectories": 10, "levels": 5}),
            ["design.levels", "even number"],
        ),
        (_edit(("outcomes", 0, "member"), "Duo"), ["outcomes[0].member", "expected one of Solo"]),
        (_edit(("outcomes", 0, "stage"), "gone"), ["outcomes[0].stage", "'disengaged'"]),
        (_edit(("outcomes", 0, "by"), "2035-01"), ["outcomes[0].by", "2030-01 to 2031-12"]),
        (_edit(("outcomes", 1, "kind"), "exits"), ["outcomes[1].kind", "reach_stage"]),
        (_edit(("outcomes",), []), ["outcomes", "at least 1"]),
        (_edit(("replications",), 0), ["replications", "greater than or equal to 1"]),
        (_edit(("seed",), -1), ["seed", "greater than or equal to 0"]),
        (_edit(("scenario",), "missing.yaml"), ["line 3", "scenario", "not found"]),
        (_edit(("fixed",), {"trust_drift": 0.05}), ["fixed.trust_drift", "also varied"]),
        (_edit(("fixed",), {"hazard_slope": 9.0}), ["fixed.hazard_slope", "[0.0, 6.0]"]),
        (_edit(("name",), None), ["name", "required field is missing"]),
    ],
)
def test_bad_experiment_files_give_one_line_and_status_2(
    tmp_path, monkeypatch, capsys, edit, phrases
):
    data = base_experiment()
    edit(data)
    experiment = write(tmp_path, data)
    out = tmp_path / "sweep"
    status, _, err = alliance(monkeypatch, capsys, "sweep", experiment, "--out", out)
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {experiment}: ")
    for phrase in phrases:
        assert phrase in err, err
    assert not out.exists()


def test_a_broken_scenario_is_reported_in_its_own_file(tmp_path, monkeypatch, capsys):
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(ONE_LEVER.read_text().replace("rate: 0.0", "rate: 0.9"))
    data = base_experiment()
    data["scenario"] = str(scenario)
    status, _, err = alliance(
        monkeypatch, capsys, "sweep", write(tmp_path, data), "--out", tmp_path / "o"
    )
    assert status == 2 and err.startswith(f"error: {scenario}: line ")


def test_designs_have_the_documented_sizes_and_are_reproducible(tmp_path):
    data = base_experiment()
    grid = build_design(load_experiment(write(tmp_path, data)))
    assert grid.matrix.shape == (6, 2)
    assert sorted(set(grid.matrix[:, 0])) == [-5.0, -4.0, -3.0]
    assert sorted(set(grid.matrix[:, 1])) == [0.0, 0.1]
    data["parameters"] = {"disengage_intercept": {}, "trust_drift": {}, "hazard_slope": {}}
    data["design"] = {"method": "lhs", "points": 40}
    lhs = build_design(load_experiment(write(tmp_path, data)))
    assert lhs.matrix.shape == (40, 3)
    for j, name in enumerate(lhs.names):  # one point per stratum of each parameter
        p = BY_NAME[name]
        strata = np.floor((lhs.matrix[:, j] - p.low) / (p.high - p.low) * 40)
        assert sorted(strata) == list(range(40))
    again = build_design(load_experiment(write(tmp_path, data)))
    np.testing.assert_array_equal(lhs.matrix, again.matrix)
    data["seed"] = 6
    assert not np.array_equal(
        build_design(load_experiment(write(tmp_path, data))).matrix, lhs.matrix
    )
    data["design"] = {"method": "sobol", "samples": 64}
    assert build_design(load_experiment(write(tmp_path, data))).matrix.shape == (64 * 5, 3)
    data["design"] = {"method": "morris", "trajectories": 7, "levels": 4}
    assert build_design(load_experiment(write(tmp_path, data))).matrix.shape == (7 * 4, 3)


def test_outcomes_from_first_passages_by_hand():
    # 4 runs, 2 members; stages disengaged, frozen, withdrawn; -1 = not reached by the horizon.
    fp = np.full((4, 2, 3), -1, dtype=np.int16)
    fp[0, 0] = [2, 5, 9]
    fp[1, 0] = [1, -1, -1]
    fp[2, 1] = [0, 3, 4]
    fp[3, 1] = [6, 7, 8]
    reach = Outcome("reach_stage", "m0 withdrawn by 9", 9, member=0, stage=3)
    assert reach.per_run(fp).tolist() == [1, 0, 0, 0]
    assert Outcome("any_exit", "exit by 8", 8, stage=None).per_run(fp).tolist() == [0, 0, 1, 1]
    counted = Outcome("members_reaching", "disengaged by 1", 1, stage=1).per_run(fp)
    assert counted.tolist() == [0, 1, 1, 0]
    status = {5: np.array([[0, 0], [1, 0], [0, 3], [0, 1]])}
    active = Outcome("active_members", "active at 5", 5).per_run(fp, status)
    assert active.tolist() == [2, 1, 1, 1]
    result = estimate(Outcome("any_exit", "x", 8), fp)
    assert (result.estimate, result.n) == (0.5, 4)


def test_intervals_are_clopper_pearson_for_probabilities_and_t_for_means():
    n = np.array([50, 50, 50])
    k = np.array([0, 7, 50])
    mean, low, high = interval(True, n, k, k)
    for i in range(3):
        ci = stats.binomtest(int(k[i]), int(n[i])).proportion_ci(method="exact")
        assert (low[i], high[i]) == pytest.approx((ci.low, ci.high))
    values = np.array([1.0, 2.0, 2.0, 5.0])
    mean, low, high = interval(
        False, np.array(4), np.array(values.sum()), np.array((values**2).sum())
    )
    ci = stats.t.interval(0.95, 3, loc=values.mean(), scale=stats.sem(values))
    assert (low, high) == pytest.approx(ci)


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    experiment = write(folder, base_experiment())
    out = folder / "out"
    results = sweep(experiment, out, options=RunOptions(workers=1, progress=False))
    return experiment, out, results


def test_sweep_writes_the_tidy_results_contract(grid_sweep):
    _, out, results = grid_sweep
    assert list(results.columns) == [
        "point", "disengage_intercept", "trust_drift", "outcome", "estimate", "low", "high", "n"
    ]  # fmt: skip
    assert len(results) == 6 * 3 and (results["n"] == 300).all()
    assert (results["low"] <= results["estimate"]).all()
    assert (results["estimate"] <= results["high"]).all()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), results)
    assert pd.read_csv(out / "results.csv").shape == results.shape
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "sweep"
    assert manifest["varied"] == ["disengage_intercept", "trust_drift"]
    assert manifest["finished"] and manifest["runs"] == 6 * 300
    assert (out / "experiment.yaml").read_text() == (grid_sweep[0]).read_text()


def test_sweep_points_share_random_numbers_and_match_a_direct_run(grid_sweep):
    _, _, results = grid_sweep
    reach = results[results["outcome"] == "Solo disengaged by 2031-12"]
    by_point = reach.set_index(["disengage_intercept", "trust_drift"])["estimate"]
    # trust_drift cannot move the disengagement of a member with no reasons to stay or leave;
    # with common random numbers its two values give exactly the same runs.
    for value in (-5.0, -4.0, -3.0):
        assert by_point[(value, 0.0)] == by_point[(value, 0.1)]
    assert by_point[(-5.0, 0.0)] < by_point[(-4.0, 0.0)] < by_point[(-3.0, 0.0)]
    scenario = load_experiment(grid_sweep[0]).scenario
    direct = simulate_chunk(
        scenario, 5, 0, 300, parameters={"disengage_intercept": -4.0}, aggregate=False
    )
    expected = np.mean((direct.first_passage[:, 0, 0] >= 0) & (direct.first_passage[:, 0, 0] <= 23))
    assert by_point[(-4.0, 0.0)] == pytest.approx(expected)


def test_sweep_resumes_to_identical_results_and_refuses_mismatches(grid_sweep, tmp_path):
    experiment, out, results = grid_sweep
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "results.csv").unlink()
    (copy / "results.parquet").unlink()
    chunks = sorted((copy / "chunks").glob("*.parquet"))
    chunks[0].unlink()
    resumed = sweep(experiment, copy, options=RunOptions(workers=1, resume=True, progress=False))
    pd.testing.assert_frame_equal(resumed, results)
    with pytest.raises(Exception, match="already holds a sweep"):
        sweep(experiment, copy, options=RunOptions(workers=1, progress=False))
    data = base_experiment()
    data["replications"] = 301
    changed = write(tmp_path, data, "changed.yaml")
    with pytest.raises(Exception, match="the stored run has"):
        sweep(changed, copy, options=RunOptions(workers=1, resume=True, progress=False))


def test_sweep_is_identical_with_two_workers_and_other_chunking(grid_sweep, tmp_path, monkeypatch):
    experiment, _, results = grid_sweep
    monkeypatch.setattr("sim.batch.pointruns.LANES_PER_CHUNK", 50)  # 6 chunks of 50 runs per point
    two = sweep(experiment, tmp_path / "two", options=RunOptions(workers=2, progress=False))
    pd.testing.assert_frame_equal(two, results)


def test_a_sweep_point_equals_a_batch_with_the_same_seed_and_parameters(tmp_path):
    from sim.batch.results import load
    from sim.batch.runner import run_batch

    quiet = DATA / "quiet.yaml"
    data = base_experiment()
    data.update(scenario=str(quiet), replications=1000, seed=3)
    default = BY_NAME["disengage_intercept"].default
    data["parameters"] = {"disengage_intercept": {"values": [default, default + 1.0]}}
    data["outcomes"] = [
        {"kind": "reach_stage", "member": "Gamma", "stage": "disengaged", "by": "2032-12"},
        {"kind": "any_exit", "by": "2032-12"},
        {"kind": "active_members", "at": "2032-12"},
    ]
    results = sweep(
        write(tmp_path, data), tmp_path / "sweep", options=RunOptions(workers=1, progress=False)
    )
    at_default = results[results["disengage_intercept"] == default].set_index("outcome")["estimate"]
    run_batch(quiet, tmp_path / "batch", runs=1000, seed=3, options=RunOptions(workers=1))
    batch = load(tmp_path / "batch")
    curves = batch.curves.set_index(["member", "stage", "date"])["probability"]
    alliance_end = batch.alliance.set_index("date").loc["2032-12"]
    gamma = curves[("Gamma", "disengaged", "2032-12")]
    assert at_default["Gamma disengaged by 2032-12"] == pytest.approx(gamma, abs=1e-12)
    assert 0.05 < gamma < 0.95  # a number that tells runs apart, not a trivial 0 or 1
    assert at_default["any exit by 2032-12"] == pytest.approx(alliance_end["p_any_exit"])
    assert at_default["active members at 2032-12"] == pytest.approx(alliance_end["expected_active"])
