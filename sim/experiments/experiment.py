"""The experiment file format (YAML): what to vary, how to sample it, what to report.

`docs/experiments.md` documents it. An experiment names a scenario, the parameters to vary (each
with a range or a list of values, by default the documented range), the design (grid, Latin
hypercube, Sobol/Saltelli, Morris), replications per point, a seed and the outcomes to report.
Loading checks everything against the scenario and the parameter table, so that a bad file fails
with one line naming the file, the line, the field and what was expected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from sim.batch.outcomes import PROBABILITY_KINDS, Outcome, default_label, outcome_from_spec
from sim.batch.tasks import MAX_RUNS
from sim.model.errors import InputError
from sim.model.months import month_text
from sim.model.parameters import BY_NAME, PARAMETER_NAMES
from sim.model.scenario import Scenario, load_scenario
from sim.model.schema import Strict
from sim.model.shipped import resolve
from sim.model.stages import LaterStageName
from sim.model.yamlio import Location, combined, load_yaml, located, validate_model

DESIGN_METHODS = ("grid", "lhs", "sobol", "morris")
OUTCOME_KINDS = ("reach_stage", "any_exit", "members_reaching", "active_members")
TAGS = frozenset(DESIGN_METHODS + OUTCOME_KINDS)
MAX_POINTS = 2_000_000


class Varied(Strict):
    """One parameter to vary: a range (default: the documented one) or a list of values."""

    low: float | None = None
    high: float | None = None
    values: list[float] | None = Field(None, min_length=1)


class Grid(Strict):
    """Every combination of each parameter's values; ranges are cut into `levels` values."""

    method: Literal["grid"]
    levels: int = Field(5, ge=2, le=1000)


class LatinHypercube(Strict):
    """`points` points spread by a Latin hypercube (scipy.stats.qmc), seeded by the experiment."""

    method: Literal["lhs"]
    points: int = Field(ge=2, le=MAX_POINTS)
    optimization: Literal["none", "random-cd", "lloyd"] = "none"


class Sobol(Strict):
    """Saltelli's scheme on a scrambled Sobol' sequence: `samples` * (D + 2) points (SALib)."""

    method: Literal["sobol"]
    samples: int = Field(ge=2, le=1 << 20)
    second_order: bool = False
    resamples: int = Field(100, ge=10, le=10_000)

    @field_validator("samples")
    @classmethod
    def _power_of_two(cls, n: int) -> int:
        if n & (n - 1):
            raise ValueError("expected a power of 2 (Sobol' sequences balance only then)")
        return n


class Morris(Strict):
    """Morris elementary effects: `trajectories` * (D + 1) points on a `levels` grid (SALib)."""

    method: Literal["morris"]
    trajectories: int = Field(ge=2, le=100_000)
    levels: int = Field(4, ge=2, le=100)
    resamples: int = Field(1000, ge=10, le=100_000)

    @field_validator("levels")
    @classmethod
    def _even(cls, n: int) -> int:
        if n % 2:
            raise ValueError("expected an even number of levels (Morris' design needs one)")
        return n


AnyDesign = Annotated[Grid | LatinHypercube | Sobol | Morris, Field(discriminator="method")]


class _OutcomeBase(Strict):
    label: str | None = Field(None, min_length=1)


class ReachStage(_OutcomeBase):
    """Probability that a member has reached a stage by the end of a month."""

    kind: Literal["reach_stage"]
    member: str
    stage: LaterStageName
    by: str

    _by = field_validator("by", mode="before")(month_text)


class AnyExit(_OutcomeBase):
    """Probability that at least one member has formally withdrawn by the end of a month."""

    kind: Literal["any_exit"]
    by: str

    _by = field_validator("by", mode="before")(month_text)


class MembersReaching(_OutcomeBase):
    """Expected number of members that have reached a stage by the end of a month."""

    kind: Literal["members_reaching"]
    stage: LaterStageName
    by: str

    _by = field_validator("by", mode="before")(month_text)


class ActiveMembers(_OutcomeBase):
    """Expected number of members whose status is `active` at the end of a month."""

    kind: Literal["active_members"]
    at: str

    _at = field_validator("at", mode="before")(month_text)


AnyOutcome = Annotated[
    ReachStage | AnyExit | MembersReaching | ActiveMembers, Field(discriminator="kind")
]


SAMPLERS = ("importance", "emcee")
EMCEE_SETTINGS = ("walkers", "steps", "burn")
IMPORTANCE_SETTINGS = ("batch", "effective_samples", "max_evaluations", "draws")


class Calibration(Strict):
    """Settings of `alliance calibrate`: simulated likelihood, and the posterior's sampler:
    adaptive importance sampling in large batches (default) or emcee's ensemble sampler."""

    sampler: Literal["importance", "emcee"] = "importance"
    walkers: int = Field(16, ge=4, le=1000)
    steps: int = Field(200, ge=2, le=100_000)
    burn: int = Field(100, ge=0, le=100_000)
    batch: int = Field(256, ge=8, le=100_000)
    effective_samples: int = Field(200, ge=10, le=1_000_000)
    max_evaluations: int = Field(4096, ge=8, le=10_000_000)
    draws: int = Field(4000, ge=100, le=1_000_000)
    likelihood: Literal["by_member", "joint", "independent"] = "by_member"
    floor: float = Field(0.5, gt=0.0, le=10.0)
    window: int = Field(0, ge=0, le=24)
    timing: Literal["window", "by"] = "window"

    @model_validator(mode="after")
    def _settings_of_its_sampler(self) -> Calibration:
        other = EMCEE_SETTINGS if self.sampler == "importance" else IMPORTANCE_SETTINGS
        given = [name for name in other if name in self.model_fields_set]
        if given:
            owner = "emcee" if self.sampler == "importance" else "importance"
            raise ValueError(
                f"{', '.join(given)}: setting(s) of sampler {owner}, but the sampler is "
                f"{self.sampler}; set `sampler: {owner}` or drop them"
            )
        if self.sampler == "emcee" and self.burn >= self.steps:
            raise ValueError(f"burn ({self.burn}) must be below steps ({self.steps})")
        return self


class CaseSpec(Strict):
    """One case of a pooled calibration: a scenario and its observations (and own parameters)."""

    scenario: str = Field(min_length=1)
    observations: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1)
    group: str | None = Field(None, min_length=1)  # cases of one group share a fold (--folds)
    replications: int | None = Field(None, ge=1, le=10_000_000)  # the likelihood's runs of it
    parameters: dict[str, Varied | None] = {}


class ExperimentSpec(Strict):
    """A whole experiment file."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    scenario: str = Field(min_length=1)
    seed: int = Field(ge=0, lt=2**63)
    replications: int = Field(ge=1, le=10_000_000)
    parameters: dict[str, Varied | None] | Literal["all"]
    fixed: dict[str, float] = {}
    design: AnyDesign
    outcomes: list[AnyOutcome] = Field(min_length=1)
    calibration: Calibration | None = None
    cases: list[CaseSpec] | None = Field(None, min_length=1)

    @field_validator("parameters", mode="before")
    @classmethod
    def _mapping_or_all(cls, value: object) -> object:
        if value != "all" and not isinstance(value, dict):
            raise ValueError(
                "expected a mapping of parameter names to ranges ({low, high}, {values}, or {} "
                "for the documented range), or the word `all`"
            )
        return value


@dataclass(frozen=True)
class VariedParameter:
    """A parameter to vary, resolved: a range [low, high], or a list of values."""

    name: str
    low: float
    high: float
    values: tuple[float, ...] | None = None


@dataclass
class Experiment:
    """A checked experiment: its scenario loaded, parameters and outcomes resolved."""

    spec: ExperimentSpec
    path: str
    content_hash: str
    scenario: Scenario
    varied: list[VariedParameter]
    fixed: dict[str, float]
    outcomes: list[Outcome]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def method(self) -> str:
        return self.spec.design.method

    @property
    def parameter_names(self) -> list[str]:
        return [v.name for v in self.varied]


def load_experiment(path: str | Path) -> Experiment:
    """Read, validate and resolve an experiment file; raise InputError naming every problem."""
    path = resolve(path, "experiments")
    file = str(path)
    data, lines = load_yaml(path)
    spec = validate_model(ExperimentSpec, data, file, lines, TAGS)
    scenario = _load_scenario(spec, Path(path), file, lines)
    problems = check(spec, scenario)
    if problems:
        raise combined([located(file, loc, lines, msg, TAGS) for loc, msg in problems])
    digest = hashlib.sha256(Path(path).read_bytes() + scenario.content_hash.encode()).hexdigest()
    return Experiment(
        spec=spec,
        path=file,
        content_hash=digest,
        scenario=scenario,
        varied=_resolve_varied(spec),
        fixed=dict(spec.fixed),
        outcomes=[outcome_from_spec(o, scenario) for o in spec.outcomes],
    )


def probability_labels(path: str | Path) -> set[str]:
    """The labels of an experiment file's outcomes that are probabilities (not expected
    numbers), read from the file alone: its scenario need not be at hand (a run's copy)."""
    data, lines = load_yaml(Path(path))
    spec = validate_model(ExperimentSpec, data, str(path), lines, TAGS)
    return {o.label or default_label(o) for o in spec.outcomes if o.kind in PROBABILITY_KINDS}


def scenario_path(spec: ExperimentSpec, experiment_path: Path) -> Path:
    """The scenario file, relative to the experiment file unless absolute."""
    given = Path(spec.scenario)
    return given if given.is_absolute() else experiment_path.parent / given


def _load_scenario(
    spec: ExperimentSpec, path: Path, file: str, lines: dict[Location, int]
) -> Scenario:
    target = scenario_path(spec, path)
    if target.is_dir():
        raise located(
            file,
            ("scenario",),
            lines,
            f"{str(target)!r} is a directory; expected a scenario YAML file",
        )
    if not target.is_file():
        raise located(
            file,
            ("scenario",),
            lines,
            f"scenario file {str(target)!r} not found; expected a path relative to the "
            "experiment file (or absolute)",
        )
    return load_scenario(target)


def check(spec: ExperimentSpec, scenario: Scenario) -> list[tuple[Location, str]]:
    """Problems pydantic cannot see: parameter names and ranges, design fit, outcome names/dates."""
    problems: list[tuple[Location, str]] = []
    known = f"expected one of {', '.join(PARAMETER_NAMES)}"
    varied = {} if spec.parameters == "all" else spec.parameters
    if spec.parameters != "all" and not varied:
        problems.append((("parameters",), "no parameter to vary; name at least one, or `all`"))
    for name, given in varied.items():
        if name not in BY_NAME:
            problems.append((("parameters", name), f"unknown parameter; {known}"))
            continue
        problems += _check_varied(name, given, spec.design.method)
    for name, value in spec.fixed.items():
        if name not in BY_NAME:
            problems.append((("fixed", name), f"unknown parameter; {known}"))
        elif not BY_NAME[name].low <= value <= BY_NAME[name].high:
            p = BY_NAME[name]
            problems.append((("fixed", name), f"expected a value in [{p.low}, {p.high}]"))
        elif spec.parameters == "all" or name in varied:
            problems.append((("fixed", name), "parameter is also varied; fix it or vary it"))
    problems += _check_design_size(spec)
    problems += _check_run_count(spec)
    problems += _check_outcomes(spec, scenario)
    return problems


def planned_points(spec: ExperimentSpec) -> int:
    """Parameter points the design (or a calibration, over all its cases) will run at most."""
    design = spec.design
    count = len(PARAMETER_NAMES) if spec.parameters == "all" else len(spec.parameters)
    if isinstance(design, Grid):
        points = 1
        for given in spec.parameters.values() if spec.parameters != "all" else ():
            points *= len(given.values) if given and given.values else design.levels
    elif isinstance(design, LatinHypercube):
        points = design.points
    elif isinstance(design, Sobol):
        points = design.samples * (2 * count + 2 if design.second_order else count + 2)
    else:
        points = design.trajectories * (count + 1)
    if spec.calibration is not None:  # the sampler's screening design, then what it adds
        c = spec.calibration
        added = c.walkers * (c.steps - 1) if c.sampler == "emcee" else c.max_evaluations
        points = (points + added) * max(len(spec.cases or ()), 1)
    return points


def _check_run_count(spec: ExperimentSpec) -> list[tuple[Location, str]]:
    runs = planned_points(spec) * spec.replications
    if runs <= MAX_RUNS:
        return []
    return [
        (
            ("replications",),
            f"{planned_points(spec):,} points x {spec.replications:,} replications = {runs:,} "
            f"runs; expected at most {MAX_RUNS:,}",
        )
    ]


def _check_varied(name: str, given: Varied | None, method: str) -> list[tuple[Location, str]]:
    p = BY_NAME[name]
    where: Location = ("parameters", name)
    documented = f"[{p.low}, {p.high}]"
    if given is None:
        return []
    problems: list[tuple[Location, str]] = []
    if given.values is not None:
        if given.low is not None or given.high is not None:
            problems.append((where, "give either `values` or `low`/`high`, not both"))
        if method != "grid":
            problems.append(
                ((*where, "values"), f"a {method} design needs a range (`low`, `high`), not values")
            )
        for i, v in enumerate(given.values):
            if not p.low <= v <= p.high:
                problems.append(((*where, "values", i), f"expected a value in {documented}"))
        if len(set(given.values)) != len(given.values):
            problems.append(((*where, "values"), "values repeat; expected distinct values"))
        return problems
    low = p.low if given.low is None else given.low
    high = p.high if given.high is None else given.high
    for key, value in (("low", given.low), ("high", given.high)):
        if value is not None and not p.low <= value <= p.high:
            problems.append(((*where, key), f"outside the documented range {documented}"))
    if low >= high:
        problems.append((where, f"low ({low}) must be below high ({high})"))
    return problems


def _check_design_size(spec: ExperimentSpec) -> list[tuple[Location, str]]:
    design = spec.design
    count = len(PARAMETER_NAMES) if spec.parameters == "all" else len(spec.parameters)
    if isinstance(design, Grid) and spec.parameters != "all":
        points = 1
        for given in spec.parameters.values():
            points *= len(given.values) if given and given.values else design.levels
        if points > MAX_POINTS:
            return [(("design",), f"the grid has {points} points; expected at most {MAX_POINTS}")]
    elif isinstance(design, Grid):
        return [(("design", "method"), "a grid over every parameter is too large; name a few")]
    if isinstance(design, Sobol) and count * design.samples > MAX_POINTS:
        return [(("design", "samples"), f"too many points; expected at most {MAX_POINTS}")]
    return []


def _check_outcomes(spec: ExperimentSpec, scenario: Scenario) -> list[tuple[Location, str]]:
    problems: list[tuple[Location, str]] = []
    labels: set[str] = set()
    first, last = scenario.month_label(0), scenario.month_label(scenario.months - 1)
    for i, outcome in enumerate(spec.outcomes):
        member = getattr(outcome, "member", None)
        if member is not None and member not in scenario.members:
            names = ", ".join(scenario.members)
            problems.append(
                (("outcomes", i, "member"), f"unknown member {member!r}; expected one of {names}")
            )
        field = "at" if isinstance(outcome, ActiveMembers) else "by"
        month = scenario.month_of(getattr(outcome, field))
        if not 0 <= month < scenario.months:
            problems.append(
                (("outcomes", i, field), f"outside the scenario's calendar {first} to {last}")
            )
        label = outcome.label or default_label(outcome)
        if label in labels:
            where: Location = ("outcomes", i, "label") if outcome.label else ("outcomes", i)
            what = "label" if outcome.label else "outcome (the same as an earlier one)"
            problems.append((where, f"duplicate {what} {label!r}; expected each outcome once"))
        labels.add(label)
    return problems


def _resolve_varied(spec: ExperimentSpec) -> list[VariedParameter]:
    if spec.parameters == "all":
        return [VariedParameter(p, BY_NAME[p].low, BY_NAME[p].high) for p in PARAMETER_NAMES]
    out = []
    for name, given in spec.parameters.items():
        p = BY_NAME[name]
        if given is not None and given.values is not None:
            values = tuple(float(v) for v in given.values)
            out.append(VariedParameter(name, min(values), max(values), values))
        else:
            low = p.low if given is None or given.low is None else given.low
            high = p.high if given is None or given.high is None else given.high
            out.append(VariedParameter(name, low, high))
    return out


def require_method(experiment: Experiment, allowed: tuple[str, ...], command: str) -> None:
    """Refuse a design the command cannot use, naming the file and the field."""
    if experiment.method not in allowed:
        hint = {"sweep": "sensitivity", "sensitivity": "sweep"}.get(command, "sweep")
        raise experiment_error(
            experiment,
            ("design", "method"),
            f"`alliance {command}` needs design.method {' or '.join(allowed)}, "
            f"got {experiment.method!r} (use `alliance {hint}` for it)",
        )


def experiment_error(experiment: Experiment, loc: Location, message: str) -> InputError:
    """An InputError pointing at a field of the experiment file."""
    _, lines = load_yaml(experiment.path)
    return located(experiment.path, loc, lines, message, TAGS)
