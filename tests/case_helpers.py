"""Synthetic case libraries for pooled calibration and cross-validation tests.

Each case is a small alliance whose members differ only in their outside options (so the hazard
of disengaging is logistic(intercept + slope * outside_weight * outside), contagion off); its
facts are read off one simulated history at the true parameters, with a seed of its own. Values
are arbitrary test values, not taken from any case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.batch.lanes import simulate_chunk
from sim.experiments.observations import dump_observations, observations_from_run
from sim.model.scenario import load_scenario

TRUTH = {"disengage_intercept": -4.5, "hazard_slope": 2.0}
FIXED = {"contagion_weight": 0.0, "reengage_intercept": -9.0, "unobserved_sd": 0.0}
CASES = {  # name: (start, months, outside options of its members)
    "north": ("2030-01", 36, [0.0, 0.0, 0.2, 0.4, 0.4, 0.6, 0.8, 0.8, 1.0, 1.0]),
    "south": ("2050-06", 30, [0.0, 0.1, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0]),
    "east": ("2070-03", 42, [0.0, 0.0, 0.3, 0.3, 0.6, 0.6, 0.9]),
}


def _unit(value: float) -> dict[str, Any]:
    return {"value": value, "source": "test value"}


def scenario_data(name: str, start: str, months: int, outside: list[float]) -> dict[str, Any]:
    """A scenario whose members' only reason to leave is their outside options."""
    year, month = map(int, start.split("-"))
    end_index = year * 12 + month - 1 + months - 1
    end = f"{end_index // 12:04d}-{end_index % 12 + 1:02d}"
    return {
        "name": name,
        "description": f"Synthetic case {name}: members differing in outside options.",
        "sources": ["Test fixture: synthetic case"],
        "calendar": {"start": start, "history_end": end, "end": end},
        "patron": {"name": "Patron", "capacity": _unit(0.5)},
        "members": [
            {
                "name": f"{name[0].upper()}{i:02d}",
                "trust": _unit(0.0),
                "capacity": _unit(0.5),
                "threat": _unit(0.0),
                "dependence": _unit(0.0),
                "outside_options": _unit(x),
                "domestic_pressure": _unit(0.0),
                "crises": {"rate": 0.0, "source": "test value"},
            }
            for i, x in enumerate(outside, start=1)
        ],
    }


def write_cases(folder: Path, names: tuple[str, ...] = tuple(CASES)) -> list[dict[str, str]]:
    """Write each case's scenario and its synthetic facts; return the `cases:` entries."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, name in enumerate(names):
        start, months, outside = CASES[name]
        scenario_path = folder / f"{name}.yaml"
        scenario_path.write_text(yaml.safe_dump(scenario_data(name, start, months, outside)))
        scenario = load_scenario(scenario_path)
        history = simulate_chunk(
            scenario, 101 + k, 0, 1, parameters={**TRUTH, **FIXED}, aggregate=False
        )
        facts = observations_from_run(
            scenario, history.first_passage[0], scenario.months - 1, "synthetic history", (1,)
        )
        obs_path = folder / f"{name}.obs.yaml"
        obs_path.write_text(dump_observations(facts))
        entries.append({"scenario": scenario_path.name, "observations": obs_path.name})
    return entries


def write_experiment(
    folder: Path,
    cases: list[dict[str, Any]],
    *,
    replications: int,
    points: int,
    walkers: int,
    steps: int,
    burn: int,
    window: int = 6,
    parameters: dict[str, Any] | None = None,
) -> Path:
    """A pooled experiment over the cases (paths relative to the experiment file)."""
    data = {
        "name": "synthetic_pool",
        "description": "Pooled fit of synthetic cases.",
        "scenario": cases[0]["scenario"],
        "seed": 5,
        "replications": replications,
        "parameters": parameters
        or {"disengage_intercept": {"low": -7.0, "high": -2.0}, "hazard_slope": {}},
        "fixed": FIXED,
        "design": {"method": "lhs", "points": points},
        "calibration": {
            "sampler": "emcee",
            "walkers": walkers,
            "steps": steps,
            "burn": burn,
            "window": window,
        },
        "cases": cases,
        "outcomes": [{"kind": "members_reaching", "stage": "disengaged", "by": "2032-12"}],
    }
    path = folder / "pool.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_crossval(folder: Path, runs: int) -> tuple[Path, Path, str]:
    """`alliance crossval` of the three synthetic cases at tiny sizes, in this process; return
    the experiment file, the result directory (`folder/cv`) and what the command printed."""
    import contextlib
    import io

    import pytest

    from sim.cli.main import main

    cases = write_cases(folder)
    experiment = write_experiment(
        folder, cases, replications=20, points=8, walkers=4, steps=4, burn=1
    )
    out = folder / "cv"
    mp = pytest.MonkeyPatch()  # the command line, in this process (module-scoped fixtures)
    try:
        mp.setattr(
            "sys.argv",
            ["alliance", "crossval", str(experiment), "--out", str(out), "--runs", str(runs),
             "--workers", "1"],
        )  # fmt: skip
        printed = io.StringIO()
        with pytest.raises(SystemExit) as stop, contextlib.redirect_stdout(printed):
            main()
        assert stop.value.code == 0
    finally:
        mp.undo()
    return experiment, out, printed.getvalue()


def synthetic_likelihood(folder: Path, cases: list[dict[str, str]], runs: int = 20):
    """The synthetic cases loaded, and a maker of their likelihood at `runs` runs a point (floor
    0.5, window 6) for chosen cases, grouping and timing."""
    from sim.batch.engines import SerialEngine
    from sim.experiments.cases import load_cases, parameter_space
    from sim.experiments.experiment import load_experiment
    from sim.experiments.likelihood import Likelihood

    path = write_experiment(folder, cases, replications=runs, points=8, walkers=4, steps=3, burn=1)
    experiment = load_experiment(path)
    loaded = load_cases(experiment, None)
    names, _ = parameter_space(experiment, loaded)

    def likelihood_of(chosen=None, grouping: str = "by_member", timing: str = "window"):
        return Likelihood(
            loaded if chosen is None else chosen, names, experiment.fixed, experiment.spec.seed,
            runs, grouping, 0.5, SerialEngine(), window=6, timing=timing,
        )  # fmt: skip

    return loaded, likelihood_of
