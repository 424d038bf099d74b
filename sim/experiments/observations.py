"""Observation files (YAML): dated facts about members' stages, each with its source.

A fact says that a member reached a stage in a given month (`reached_in`), by a given month
(`reached_by`), or had not reached it by a given month (`not_reached_by`). Calibration turns facts
into a simulated likelihood; backtests turn them into binary events to score forecasts against.
`docs/experiments.md` documents the format. Loading checks the facts against a scenario, so a bad
file fails with one line naming the file, the line, the field and what was expected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field, field_validator, model_validator

from sim.batch.outcomes import reached_by
from sim.model.months import date_text, optional, parse_month
from sim.model.scenario import Scenario
from sim.model.schema import SourceText, Strict
from sim.model.shipped import resolve
from sim.model.stages import LATER_STAGES, STAGES, stage_code
from sim.model.yamlio import Location, combined, load_yaml, located, validate_model

FACT_KINDS = ("reached_in", "reached_by", "not_reached_by")


class FactSpec(Strict):
    """One fact: exactly one of reached_in, reached_by, not_reached_by, and its source."""

    member: str = Field(min_length=1)
    stage: str
    reached_in: str | None = None
    reached_by: str | None = None
    not_reached_by: str | None = None
    source: SourceText
    note: str = ""

    _months = field_validator("reached_in", "reached_by", "not_reached_by", mode="before")(
        optional(date_text)
    )

    @field_validator("stage")
    @classmethod
    def _stage(cls, value: str) -> str:
        if value not in LATER_STAGES:
            raise ValueError(f"expected one of {', '.join(LATER_STAGES)}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> FactSpec:
        given = [k for k in FACT_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of {', '.join(FACT_KINDS)}")
        return self


class ObservationsSpec(Strict):
    """A whole observations file."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    as_of: str
    base_rate: float | dict[str, float] | None = None
    facts: list[FactSpec] = Field(min_length=1)

    _as_of = field_validator("as_of", mode="before")(date_text)

    @field_validator("base_rate")
    @classmethod
    def _rates(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        rates = value if isinstance(value, dict) else {"": value} if value is not None else {}
        for stage, rate in rates.items():
            if stage and stage not in LATER_STAGES:
                raise ValueError(f"unknown stage {stage!r}; expected {', '.join(LATER_STAGES)}")
            if not 0.0 < rate < 1.0:
                raise ValueError("expected a probability strictly between 0 and 1")
        return value


@dataclass(frozen=True)
class Fact:
    """A checked fact, resolved against a scenario: member index, stage 1..3, month index."""

    index: int
    member: int
    member_name: str
    stage: int
    kind: str  # reached_in | reached_by | not_reached_by
    month: int
    date: str
    source: str
    window: int = 0  # a likelihood's tolerance on a `reached_in` month, in months either side

    @property
    def label(self) -> str:
        what = {"reached_in": "in", "reached_by": "by", "not_reached_by": "not by"}[self.kind]
        return f"{self.member_name} {STAGES[self.stage]} {what} {self.date}"

    @property
    def occurred(self) -> int:
        """As a binary event `reached the stage by the month`: 1 if it happened, else 0."""
        return 0 if self.kind == "not_reached_by" else 1

    def holds(self, first_passage: np.ndarray) -> np.ndarray:
        """Per run: does the fact hold? first_passage: (runs, members, 3)."""
        fp = first_passage[:, self.member, self.stage - 1]
        if self.kind == "reached_in":
            return (fp >= 0) & (np.abs(fp - self.month) <= self.window)
        reached = reached_by(fp, self.month)
        return reached if self.kind == "reached_by" else ~reached


@dataclass(frozen=True)
class FactGroup:
    """Facts evaluated jointly: one run counts when every fact in the group holds (a measure)."""

    label: str
    facts: tuple[Fact, ...]
    binary: bool = True

    def status_months(self) -> tuple[int, ...]:
        return ()

    def per_run(
        self, first_passage: np.ndarray, status_at: dict[int, np.ndarray] | None = None
    ) -> np.ndarray:
        held = np.ones(first_passage.shape[0], dtype=bool)
        for fact in self.facts:
            held &= fact.holds(first_passage)
        return held.astype(float)


@dataclass
class Observations:
    """A checked observations file."""

    spec: ObservationsSpec
    path: str
    content_hash: str
    facts: list[Fact]

    @property
    def name(self) -> str:
        return self.spec.name

    def base_rate(self, stage: int, override: float | None = None) -> float | None:
        """The constant reference forecast for a stage (command line first, then the file)."""
        if override is not None:
            return override
        rate = self.spec.base_rate
        if isinstance(rate, dict):
            return rate.get(STAGES[stage])
        return rate

    def groups(self, how: str) -> list[FactGroup]:
        """Facts grouped for a likelihood: `joint` (one group), `by_member`, or `independent`."""
        if how == "joint":
            return [FactGroup("all facts", tuple(self.facts))]
        if how == "independent":
            return [FactGroup(f.label, (f,)) for f in self.facts]
        members = dict.fromkeys(f.member_name for f in self.facts)
        return [
            FactGroup(name, tuple(f for f in self.facts if f.member_name == name))
            for name in members
        ]


def load_observations(path: str | Path, scenario: Scenario) -> Observations:
    """Read and check an observations file against a scenario; InputError naming every problem."""
    path = resolve(path, "experiments")
    file = str(path)
    data, lines = load_yaml(path)
    spec = validate_model(ObservationsSpec, data, file, lines)
    problems = check(spec, scenario)
    if problems:
        raise combined([located(file, loc, lines, msg) for loc, msg in problems])
    facts = []
    for i, f in enumerate(spec.facts):
        kind = next(k for k in FACT_KINDS if getattr(f, k) is not None)
        date = getattr(f, kind)[:7]
        facts.append(
            Fact(
                i,
                scenario.members.index(f.member),
                f.member,
                stage_code(f.stage),
                kind,
                scenario.month_of(date),
                date,
                f.source,
            )
        )
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return Observations(spec, file, digest, facts)


def check(spec: ObservationsSpec, scenario: Scenario) -> list[tuple[Location, str]]:
    """Problems pydantic cannot see: member names, months against the calendar and `as_of`."""
    problems: list[tuple[Location, str]] = []
    names = ", ".join(scenario.members)
    as_of = parse_month(spec.as_of)
    first, last = scenario.month_label(0), scenario.month_label(scenario.months - 1)
    seen: set[tuple[str, str, str, str]] = set()
    problems += _contradictions(spec)
    for i, fact in enumerate(spec.facts):
        if fact.member not in scenario.members:
            problems.append(
                (("facts", i, "member"), f"unknown member {fact.member!r}; expected one of {names}")
            )
        kind = next(k for k in FACT_KINDS if getattr(fact, k) is not None)
        date = getattr(fact, kind)
        if parse_month(date) > as_of or _later_day(date, spec.as_of):
            problems.append(
                (("facts", i, kind), f"after as_of ({spec.as_of}); facts must be known by then")
            )
        if not 0 <= scenario.month_of(date) < scenario.months:
            problems.append(
                (("facts", i, kind), f"outside the scenario's calendar {first} to {last}")
            )
        key = _key(fact)
        if key in seen:
            problems.append((("facts", i), "the same fact appears twice"))
        seen.add(key)
    return problems


def _later_day(date: str, as_of: str) -> bool:
    """A fact dated to the day after an `as_of` day of the same month (both with a day)."""
    return len(date) == len(as_of) == 10 and date > as_of


def _bounds(fact: FactSpec) -> tuple[int, float]:
    """What a fact says of the month its stage was first reached: (earliest, latest) as month
    numbers (year * 12 + month); `inf` when it may never be reached."""
    kind = next(k for k in FACT_KINDS if getattr(fact, k) is not None)
    year, month = parse_month(getattr(fact, kind))
    at = year * 12 + month
    if kind == "reached_in":
        return at, at
    if kind == "reached_by":
        return -(10**9), at
    return at + 1, float("inf")


def _contradictions(spec: ObservationsSpec) -> list[tuple[Location, str]]:
    """Pairs of facts that cannot both be true, the later named with the earlier.

    Stages are reached in order (a member reaches `frozen` no earlier than `disengaged`), so a
    fact bounding a stage from below bounds every later stage too, and one bounding it from
    above bounds every earlier stage: two facts contradict when the lower bound of one exceeds
    the upper bound of the other at a stage as late or later.
    """
    problems: list[tuple[Location, str]] = []
    for i, fact in enumerate(spec.facts):
        for j, other in enumerate(spec.facts[:i]):
            if other.member == fact.member and _incompatible(fact, other):
                problems.append(
                    (
                        ("facts", i),
                        f"contradicts facts[{j}] ({_describe(other)}): {_describe(fact)} "
                        "cannot also be true; expected facts that can all hold",
                    )
                )
                break
    return problems


def clash(a: Observations, b: Observations) -> str | None:
    """The first fact of `b` that `a` states too or contradicts, described; None when the two
    files are about different things (two cases of one record must not count a fact twice)."""
    for fact in b.spec.facts:
        for other in a.spec.facts:
            if other.member != fact.member:
                continue
            if _key(other) == _key(fact):
                return f"states {_describe(fact)} too, so it would count twice"
            if _incompatible(fact, other):
                return f"says {_describe(fact)}, which contradicts {_describe(other)}"
    return None


def _key(fact: FactSpec) -> tuple[str, str, str, str]:
    kind = next(k for k in FACT_KINDS if getattr(fact, k) is not None)
    return (fact.member, fact.stage, kind, getattr(fact, kind)[:7])


def _incompatible(a: FactSpec, b: FactSpec) -> bool:
    """Can two facts about one member not both hold?"""
    return any(
        stage_code(low.stage) <= stage_code(high.stage) and _bounds(low)[0] > _bounds(high)[1]
        for low, high in ((a, b), (b, a))
    )


def _describe(fact: FactSpec) -> str:
    kind = next(k for k in FACT_KINDS if getattr(fact, k) is not None)
    return f"{fact.member} {fact.stage} {kind} {getattr(fact, kind)}"


def observations_from_run(
    scenario: Scenario, first_passage: np.ndarray, as_of: int, sources: str, stages: tuple[int, ...]
) -> dict[str, Any]:
    """Facts one simulated history shows by month `as_of`, as observation-file data (YAML-ready).

    first_passage: (members, 3) of one run. For each member and stage: `reached_in` its month if
    reached by `as_of`, else `not_reached_by` `as_of`. Used to test that calibration recovers the
    parameters that generated the history.
    """
    facts = []
    for i, name in enumerate(scenario.members):
        for stage in stages:
            month = int(first_passage[i, stage - 1])
            fact = {"member": name, "stage": STAGES[stage], "source": sources}
            if 0 <= month <= as_of:
                fact["reached_in"] = scenario.month_label(month)
            else:
                fact["not_reached_by"] = scenario.month_label(as_of)
            facts.append(fact)
    return {
        "name": f"{scenario.name}_synthetic",
        "description": "Facts read off one simulated history (synthetic observations).",
        "as_of": scenario.month_label(as_of),
        "facts": facts,
    }


def dump_observations(data: dict[str, Any]) -> str:
    """Observation-file data as YAML text."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
