"""The benchmark's own arithmetic: issue 22's targets judged from a run's figures, effective
samples per minute, the summary it reads and the --quick copy of an experiment (no timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from benchmarks.targets import verdicts
from benchmarks.workflows import (
    HISTORY,
    QUICK,
    per_minute,
    quick_experiment,
    read_ess,
    with_ess,
)
from sim.experiments.cases import load_cases
from sim.experiments.experiment import load_experiment


def figures(**changes) -> dict:
    """A full run's figures (sizes 1e4..1e6, shipped workflows, --atop), every target met."""
    base = {
        "workers": 2,
        "batches": [
            {"runs": 10_000, "seconds": 1.2, "peak_rss_mb": 200.0},
            {"runs": 1_000_000, "seconds": 3.0, "peak_rss_mb": 260.0},
        ],
        "floor_ratio": 2.5,
        "ratio": 1200.0,
        "memory_ratio": 1.3,
        "small_default": {"runs": 10_000, "seconds": 1.2},
        "startup_floor": {"seconds": 1.0},
        "workflows": {
            "quick": False,
            "calibration": {"seconds": 19.0},
            "fold": {"seconds": 12.0, "folds": 9, "crossval_seconds": 108.0},
            "atop": {"seconds": 590.0},
        },
    }
    base.update(changes)
    return base


def by_target(rows) -> dict:
    return {row.target.split(",")[0].split(":")[0]: row for row in rows}


def test_a_run_within_every_limit_meets_every_target():
    rows = verdicts(figures())
    assert len(rows) == 7
    assert all(row.met is True for row in rows), [r for r in rows if not r.met]
    assert by_target(rows)["10^4 runs end to end (one process)"].value == "1.20x"
    with_cpu = figures(
        small_default={"runs": 10_000, "seconds": 1.2, "cpu_seconds": 2.8},
        startup_floor={"seconds": 1.0, "cpu_seconds": 2.0},
    )
    startup = by_target(verdicts(with_cpu))["10^4 runs end to end (one process)"]
    assert startup.value == "1.20x (CPU 1.40x)" and startup.met is True  # judged on wall time


def test_each_target_fails_just_past_its_limit():
    flows = figures()["workflows"]
    slow = {
        "nine-case pooled calibration": {**flows, "calibration": {"seconds": 20.01}},
        "its cross-validation": {
            **flows,
            "calibration": {"seconds": 121.0},
            "fold": {**flows["fold"], "crossval_seconds": 300.0},
        },
        "ATOP library's pooled calibration": {**flows, "atop": {"seconds": 601.0}},
    }
    for target, workflows in slow.items():
        assert by_target(verdicts(figures(workflows=workflows)))[target].met is False
    between = {**flows, "fold": {**flows["fold"], "crossval_seconds": 121.0}}
    crossval = by_target(verdicts(figures(workflows=between)))["its cross-validation"]
    assert crossval.met is None and crossval.value == "19 to 121 s"  # bounds straddle 120 s
    assert by_target(verdicts(figures(floor_ratio=3.01)))["10^6 runs of the scenario"].met is False
    assert by_target(verdicts(figures(ratio=999.0)))["10^6 runs"].met is False
    late = figures(small_default={"runs": 10_000, "seconds": 1.26})
    assert by_target(verdicts(late))["10^4 runs end to end (one process)"].met is False
    assert by_target(verdicts(figures(memory_ratio=1.51)))["peak memory"].met is False


def test_what_a_run_did_not_measure_is_said_not_judged():
    quick = figures(
        batches=[{"runs": 10_000}, {"runs": 100_000}],
        workflows={**figures()["workflows"], "quick": True},
    )
    rows = verdicts(quick)
    assert [row.met for row in rows] == [None, None, None, None, None, True, None]
    assert "--quick" in rows[0].value and "not 10^6" in rows[3].value
    without_atop = {**figures()["workflows"]}
    del without_atop["atop"]
    atop = by_target(verdicts(figures(workflows=without_atop)))["ATOP library's pooled calibration"]
    assert atop.met is None and "--atop" in atop.value and atop.label() == "not measured"
    skipped = figures()
    del skipped["workflows"]
    assert "--no-workflows" in verdicts(skipped)[0].value
    assert verdicts(skipped)[0].as_dict()["verdict"] == "not measured"
    workflows_only = {"workers": 2, "workflows": figures()["workflows"]}
    rows = verdicts(workflows_only)
    assert [row.met for row in rows] == [True, True, True, None, None, None, None]
    assert all("--workflows-only" in row.value for row in rows[3:])


def test_effective_samples_per_minute():
    assert per_minute(150.0, 30.0) == pytest.approx(300.0)
    assert per_minute(150.0, 120.0) == pytest.approx(75.0)
    assert per_minute(None, 30.0) is None and per_minute(150.0, 0.0) is None


def test_a_workflows_ess_per_wall_and_cpu_minute_comes_from_its_summary(tmp_path: Path):
    summary = tmp_path / "summary.json"
    summary.write_text(
        json.dumps({"effective_sample_size": 200, "effective_sample_size_kind": "Kish"})
    )
    row = with_ess({"seconds": 60.0, "cpu_seconds": 120.0}, summary)
    assert row["ess_per_minute"] == pytest.approx(200.0)
    assert row["ess_per_cpu_minute"] == pytest.approx(100.0)
    assert row["ess_kind"] == "Kish" and row["seconds"] == 60.0
    missing = with_ess({"seconds": 60.0, "cpu_seconds": 120.0}, tmp_path / "none.json")
    assert missing["ess_per_minute"] is None and missing["ess_kind"] is None


def test_the_effective_sample_size_is_read_from_a_runs_summary(tmp_path: Path):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"effective_sample_size": 151.5, "walkers": 16}))
    assert read_ess(summary) == 151.5
    summary.write_text(json.dumps({"events": 40}))
    assert read_ess(summary) is None
    summary.write_text("{not json")
    assert read_ess(summary) is None
    assert read_ess(tmp_path / "missing.json") is None


def test_the_quick_copy_is_the_same_experiment_with_a_short_fit(tmp_path: Path):
    copy = load_experiment(quick_experiment(HISTORY, tmp_path / "quick"))
    shipped = load_experiment(HISTORY)
    short, full = copy.spec.calibration, shipped.spec.calibration
    assert short.sampler == full.sampler == "importance"
    for name, value in QUICK["importance"].items():
        assert getattr(short, name) == value < getattr(full, name)
    assert copy.spec.design.points == QUICK["points"] < shipped.spec.design.points
    assert copy.spec.replications == shipped.spec.replications
    assert (short.likelihood, short.window) == (full.likelihood, full.window)
    cases = [c.name for c in load_cases(copy, None)]
    assert cases == [c.name for c in load_cases(shipped, None)] and len(cases) == 9


def test_an_emcee_experiment_gets_a_short_chain(tmp_path: Path):
    spec = yaml.safe_load(HISTORY.read_text())
    spec["calibration"] = {"sampler": "emcee", "walkers": 16, "steps": 400, "burn": 200}
    spec["scenario"] = str((HISTORY.parent / spec["scenario"]).resolve())
    for case in spec["cases"]:
        for key in ("scenario", "observations"):
            case[key] = str((HISTORY.parent / case[key]).resolve())
    emcee = tmp_path / "emcee.yaml"
    emcee.write_text(yaml.safe_dump(spec))
    copy = load_experiment(quick_experiment(emcee, tmp_path / "quick")).spec.calibration
    assert (copy.sampler, copy.walkers) == ("emcee", 16)
    assert (copy.steps, copy.burn) == (QUICK["emcee"]["steps"], QUICK["emcee"]["burn"])
