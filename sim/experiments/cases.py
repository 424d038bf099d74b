"""The cases of a pooled calibration: each a scenario, its observations and its own parameters.

An experiment file's `cases:` list names several histories (`docs/calibration.md`); without it
the experiment's scenario and the `--observations` file are the one case. The shared parameters
are the experiment's `parameters`; a case's own `parameters` are fitted for that case alone (its
name is `NAME@CASE` in the posterior). Each case is simulated only up to its last fact's month,
with a seed of its own derived from the experiment's seed and the case's name, so leaving a case
out (cross-validation) does not change the random numbers of the others.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sim.batch.posterior import CASE_NAME, CASE_SEP, record_id
from sim.experiments.experiment import (
    Experiment,
    VariedParameter,
    experiment_error,
)
from sim.experiments.observations import Observations, clash, load_observations
from sim.model.errors import InputError
from sim.model.parameters import BY_NAME, PARAMETER_NAMES
from sim.model.scenario import Scenario, load_scenario
from sim.model.shipped import resolve


@dataclass
class Case:
    """One history to fit: its scenario, facts, own parameters and simulation horizon."""

    name: str
    scenario: Scenario
    observations: Observations
    own: list[VariedParameter]  # fitted for this case only
    group: str = ""  # the alliance it belongs to, for grouped folds (default: its own name)
    replications: int | None = None  # runs per point in the likelihood (None: the experiment's)

    @property
    def group_name(self) -> str:
        """The group it is held out with in grouped cross-validation (`--folds`)."""
        return self.group or self.name

    @property
    def months(self) -> int:
        """Months to simulate: up to and including the last fact's month."""
        return max(f.month for f in self.observations.facts) + 1

    @property
    def facts(self) -> int:
        return len(self.observations.facts)

    def seed(self, seed: int) -> int:
        """This case's simulation seed: the experiment's seed and the case's name, hashed."""
        digest = hashlib.sha256(f"{seed}:{self.name}".encode()).digest()
        return int.from_bytes(digest[:8], "little") >> 1

    def own_names(self) -> list[str]:
        """The posterior's names of this case's own parameters (`NAME@CASE`)."""
        return [f"{v.name}{CASE_SEP}{self.name}" for v in self.own]


def load_cases(experiment: Experiment, observations_path: Path | None) -> list[Case]:
    """The experiment's cases, checked: its `cases` list, or its scenario with `--observations`."""
    listed = experiment.spec.cases
    if listed is None:
        if observations_path is None:
            raise experiment_error(
                experiment,
                ("cases",),
                "no observations: list `cases` (scenario and observations each) in the file, "
                "or give --observations FILE for the experiment's scenario",
            )
        _check_name(experiment, experiment.scenario.name, ("scenario",))
        observations = load_observations(observations_path, experiment.scenario)
        return [Case(experiment.scenario.name, experiment.scenario, observations, [])]
    if observations_path is not None:
        raise InputError(
            "--observations",
            str(observations_path),
            f"{experiment.path} lists its own `cases`; give the observations there, not both",
        )
    base = Path(experiment.path).parent
    varied = set(experiment.parameter_names)
    cases: list[Case] = []
    for i, spec in enumerate(listed):
        scenario_file = _case_file(experiment, base, spec.scenario, (i, "scenario"), "scenarios")
        scenario = load_scenario(scenario_file)
        obs_file = _case_file(experiment, base, spec.observations, (i, "observations"), "")
        observations = load_observations(obs_file, scenario)
        name = spec.name or scenario.name
        named = ("cases", i, "name" if spec.name else "scenario")
        _check_name(experiment, name, named)
        if any(c.name == name for c in cases):
            raise experiment_error(
                experiment, named, f"duplicate case name {name!r}; give each case its own `name`"
            )
        for earlier in cases:
            problem = _same_record(earlier, scenario, observations)
            if problem:
                raise experiment_error(experiment, ("cases", i, "observations"), problem)
        own = []
        for key, given in spec.parameters.items():
            where = ("cases", i, "parameters", key)
            if key not in BY_NAME:
                known = ", ".join(PARAMETER_NAMES)
                raise experiment_error(experiment, where, f"unknown parameter; expected {known}")
            if key in varied or key in experiment.fixed:
                raise experiment_error(
                    experiment, where, "already shared (parameters or fixed); fit it one way"
                )
            p = BY_NAME[key]
            low = p.low if given is None or given.low is None else given.low
            high = p.high if given is None or given.high is None else given.high
            if given is not None and given.values is not None:
                raise experiment_error(experiment, where, "expected a range (`low`, `high`)")
            if not p.low <= low < high <= p.high:
                raise experiment_error(
                    experiment,
                    where,
                    f"expected low < high within the documented range [{p.low}, {p.high}]",
                )
            own.append(VariedParameter(key, low, high))
        cases.append(Case(name, scenario, observations, own, spec.group or "", spec.replications))
    return cases


def _check_name(experiment: Experiment, name: str, where: tuple[str | int, ...]) -> None:
    """A case's name names its folders (inputs/NAME, folds/NAME): a plain name, never a path."""
    if not re.match(CASE_NAME, name):
        raise experiment_error(
            experiment,
            where,
            f"case name {name!r} is not a plain name; expected letters, digits, '_', '.' or '-' "
            f"(starting with a letter or digit, at most 64), no path and no {CASE_SEP!r}",
        )


def _same_record(earlier: Case, scenario: Scenario, observations: Observations) -> str | None:
    """Why a case may not be fitted beside an earlier case of the same record, if it may not."""
    if record_id(earlier.scenario) != record_id(scenario):
        return None
    problem = clash(earlier.observations, observations)
    return f"case {earlier.name!r} is of the same record and {problem}" if problem else None


def _case_file(
    experiment: Experiment, base: Path, given: str, where: tuple[int, str], kind: str
) -> Path:
    """A case's file: relative to the experiment file, absolute, or a shipped name."""
    path = Path(given)
    candidates = [path if path.is_absolute() else base / path]
    for k in (kind,) if kind else ("experiments", "scenarios"):
        candidates.append(resolve(given, k))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if candidate.is_dir():
            raise experiment_error(
                experiment, ("cases", *where), f"{str(candidate)!r} is a directory; expected a file"
            )
    raise experiment_error(
        experiment,
        ("cases", *where),
        f"file {given!r} not found; expected a path relative to the experiment file, an "
        "absolute path or a shipped name",
    )


def parameter_space(
    experiment: Experiment, cases: list[Case]
) -> tuple[list[str], list[VariedParameter]]:
    """Names and ranges of everything fitted: the shared parameters, then each case's own."""
    names = list(experiment.parameter_names)
    ranges = list(experiment.varied)
    for case in cases:
        names += case.own_names()
        ranges += case.own
    return names, ranges
