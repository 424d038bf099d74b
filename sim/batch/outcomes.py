"""Outcomes an experiment reports, computed per run from first-passage months, with Monte Carlo CIs.

An outcome turns each run into one number (0/1 for probabilities, a count for expected numbers).
Runs are tallied as mergeable sums (n, sum, sum of squares), so chunks of runs can be combined in
any order; `interval` turns a tally into an estimate with a 95% confidence interval, by the one
method `sim.batch.intervals` gives each kind of estimand (Clopper-Pearson for probabilities,
Student t for means).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sim.batch.intervals import CONFIDENCE, mean_interval, proportion_interval
from sim.model.scenario import Scenario
from sim.model.stages import ACTIVE, WITHDRAWN, stage_code

PROBABILITY_KINDS = ("reach_stage", "any_exit")  # outcome kinds whose runs give 0 or 1


class RunMeasure(Protocol):
    """Anything the sweep engine can tally: one number per run, from first passages."""

    label: str
    binary: bool

    def status_months(self) -> tuple[int, ...]: ...

    def per_run(
        self, first_passage: np.ndarray, status_at: dict[int, np.ndarray] | None
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class Outcome:
    """One reported outcome, with its month (step index) and member/stage resolved to indices."""

    kind: str  # reach_stage | any_exit | members_reaching | active_members
    label: str
    month: int
    member: int | None = None
    stage: int | None = None  # 1 disengaged, 2 frozen, 3 withdrawn
    upper: float = 1.0  # the largest value one run can give (the number of members for counts)

    @property
    def binary(self) -> bool:
        """True when each run gives 0 or 1, so the estimate is a probability."""
        return self.kind in PROBABILITY_KINDS

    def status_months(self) -> tuple[int, ...]:
        """Months whose status (not just first passages) this outcome needs."""
        return (self.month,) if self.kind == "active_members" else ()

    def per_run(
        self, first_passage: np.ndarray, status_at: dict[int, np.ndarray] | None = None
    ) -> np.ndarray:
        """One value per run. first_passage: (runs, members, 3); status_at[m]: (runs, members)."""
        if self.kind == "active_members":
            if status_at is None or self.month not in status_at:
                raise ValueError(f"outcome {self.label!r} needs the status at month {self.month}")
            return (status_at[self.month] == ACTIVE).sum(axis=1).astype(float)
        stage = WITHDRAWN if self.kind == "any_exit" else self.stage
        assert stage is not None
        reached = reached_by(first_passage[:, :, stage - 1], self.month)
        if self.kind == "reach_stage":
            return reached[:, self.member].astype(float)
        if self.kind == "any_exit":
            return reached.any(axis=1).astype(float)
        return reached.sum(axis=1).astype(float)


def reached_by(first_passage: np.ndarray, month: int) -> np.ndarray:
    """True where the first-passage month is known and at most `month` (-1 means not reached)."""
    return (first_passage >= 0) & (first_passage <= month)


def outcome_from_spec(spec: Any, scenario: Scenario) -> Outcome:
    """Resolve an experiment file's outcome entry against its scenario."""
    kind = spec.kind
    date = spec.at if kind == "active_members" else spec.by
    month = scenario.month_of(date)
    member = scenario.members.index(spec.member) if kind == "reach_stage" else None
    stage = stage_code(spec.stage) if hasattr(spec, "stage") else None
    upper = 1.0 if kind in PROBABILITY_KINDS else float(len(scenario.members))
    return Outcome(kind, spec.label or default_label(spec), month, member, stage, upper)


def default_label(spec: Any) -> str:
    """A short readable label: `North withdrawn by 2030-12`, `active members at 2030-12`."""
    if spec.kind == "reach_stage":
        return f"{spec.member} {spec.stage} by {spec.by}"
    if spec.kind == "any_exit":
        return f"any exit by {spec.by}"
    if spec.kind == "members_reaching":
        return f"members {spec.stage} by {spec.by}"
    return f"active members at {spec.at}"


@dataclass
class Tally:
    """Mergeable sums over runs for points x measures: n, sum and sum of squares."""

    n: np.ndarray  # (points, measures) int64
    total: np.ndarray  # (points, measures) float
    total_sq: np.ndarray  # (points, measures) float

    @classmethod
    def zeros(cls, points: int, measures: int) -> Tally:
        shape = (points, measures)
        return cls(np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape))


def tally_runs(
    measures: list[Any],
    first_passage: np.ndarray,
    status_at: dict[int, np.ndarray] | None,
    points: int,
) -> Tally:
    """Tally every measure for a chunk whose runs are grouped by point (point-major order)."""
    runs = first_passage.shape[0] // points
    tally = Tally.zeros(points, len(measures))
    for j, measure in enumerate(measures):
        values = measure.per_run(first_passage, status_at).reshape(points, runs)
        tally.n[:, j] = runs
        tally.total[:, j] = values.sum(axis=1)
        tally.total_sq[:, j] = np.square(values).sum(axis=1)
    return tally


def interval(
    binary: bool | np.ndarray,
    n: np.ndarray,
    total: np.ndarray,
    total_sq: np.ndarray,
    level: float = CONFIDENCE,
    upper: float | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate and two-sided confidence interval from tallies (arrays of the same shape):
    `sim.batch.intervals`' method for a probability where `binary`, for a mean elsewhere. Given
    `upper`, the most one run can give (an outcome counting members), the mean's interval is kept
    within [0, upper], where every run's value lies."""
    mean, t_low, t_high = mean_interval(n, total, total_sq, level)
    if upper is not None:
        t_low, t_high = np.maximum(t_low, 0.0), np.minimum(t_high, upper)
    cp_low, cp_high = proportion_interval(np.rint(np.asarray(total, float)), n, level)
    binary = np.broadcast_to(np.asarray(binary, bool), mean.shape)
    return mean, np.where(binary, cp_low, t_low), np.where(binary, cp_high, t_high)


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate with its confidence interval and number of runs."""

    estimate: float
    low: float
    high: float
    n: int


def estimate(
    outcome: RunMeasure,
    first_passage: np.ndarray,
    status_at: dict[int, np.ndarray] | None = None,
    level: float = CONFIDENCE,
) -> Estimate:
    """Estimate one outcome from a set of runs' first passages (and statuses where needed)."""
    values = outcome.per_run(first_passage, status_at)
    n, total, total_sq = (np.array(x) for x in (values.size, values.sum(), (values**2).sum()))
    mean, low, high = interval(
        outcome.binary, n, total, total_sq, level, getattr(outcome, "upper", None)
    )
    return Estimate(float(mean), float(low), float(high), int(values.size))
