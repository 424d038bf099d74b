"""Run a chunk of replications as lanes of one model and keep what a batch needs.

Shared by batches, sweeps and sensitivity runs: a chunk is `replications` consecutive
replications of a batch seed, optionally repeated for several parameter points (lanes
`p * replications + r`), so every point sees the same random numbers (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.model.scenario import Scenario
from sim.model.stages import WITHDRAWN
from sim.model.streams import LaneUniforms

if TYPE_CHECKING:
    from sim.model.model import AllianceModel

BINS = 100  # histogram bins on [0, 1] for monthly quantiles (resolution 0.01)
# Sums of values in [0, 1] are kept as integers in units of 1 / SUM_SCALE: integer addition is
# exact in any order, so means are identical however a batch is chunked (float sums are not).
# int64 holds up to ~2e9 runs' sums per month.
SUM_SCALE = 2**32


@dataclass
class MonthlyAggregates:
    """Sums and histograms per month, mergeable by addition, so memory is flat in N."""

    runs: int
    trust_sum: np.ndarray  # (months, members) int64, in units of 1 / SUM_SCALE
    trust_hist: np.ndarray  # (months, members, BINS)
    capacity_sum: np.ndarray  # (months,) int64, in units of 1 / SUM_SCALE
    capacity_hist: np.ndarray  # (months, BINS)
    stage_counts: np.ndarray  # (months, members, 4): lanes in each stage at the month's end
    active_sum: np.ndarray  # (months,): sum over lanes of members still active

    @classmethod
    def empty(cls, months: int, members: int) -> MonthlyAggregates:
        return cls(
            runs=0,
            trust_sum=np.zeros((months, members), dtype=np.int64),
            trust_hist=np.zeros((months, members, BINS), dtype=np.int64),
            capacity_sum=np.zeros(months, dtype=np.int64),
            capacity_hist=np.zeros((months, BINS), dtype=np.int64),
            stage_counts=np.zeros((months, members, 4), dtype=np.int64),
            active_sum=np.zeros(months, dtype=np.int64),
        )

    def add_month(self, t: int, model: AllianceModel) -> None:
        """Fold the model's state at the end of month t into the sums."""
        from sim.batch.fold import fold_month  # compiled; readers of chunk files never need it

        self.active_sum[t] += fold_month(
            model.trust,
            model.status,
            model.patron.capacity,
            float(SUM_SCALE),
            BINS,
            self.trust_sum[t],
            self.trust_hist[t],
            self.stage_counts[t],
            self.capacity_sum[t : t + 1],
            self.capacity_hist[t],
        )

    def merge(self, other: MonthlyAggregates) -> MonthlyAggregates:
        """The aggregates of both sets of runs together."""
        return MonthlyAggregates(
            self.runs + other.runs,
            *(getattr(self, f) + getattr(other, f) for f in _ARRAYS),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {f: getattr(self, f) for f in _ARRAYS}


_ARRAYS = (
    "trust_sum",
    "trust_hist",
    "capacity_sum",
    "capacity_hist",
    "stage_counts",
    "active_sum",
)


@dataclass
class ChunkResult:
    """First passages of every lane, and monthly aggregates when asked for."""

    first_passage: np.ndarray  # (lanes, members, 3) int16; -1 = not reached by the horizon
    first_exit: np.ndarray  # (lanes,) int16: month of the first formal exit of any member
    aggregates: MonthlyAggregates | None
    trajectories: dict[str, np.ndarray] | None  # trust (months, members, lanes), etc.
    draw: np.ndarray | None = None  # (lanes,) int64: each run's parameter draw, under a posterior


def simulate_chunk(
    scenario: Scenario,
    seed: int,
    first: int,
    replications: int,
    parameters: dict[str, float | np.ndarray] | None = None,
    points: int = 1,
    aggregate: bool = True,
    trajectories: bool = False,
    after_month: Callable[[int, AllianceModel], None] | None = None,
    months: int | None = None,
    lane_values: dict[str, np.ndarray] | None = None,
) -> ChunkResult:
    """Run replications first..first+replications-1 of `seed`, at `points` parameter points.

    `parameters` values are scalars or arrays of length `points`; lane p*replications + r runs
    point p with replication first + r's random numbers. `after_month(t, model)`, if given, is
    called at the end of every month t, before the month is aggregated (conditioned forecasts
    drop and copy lanes there: `take_lanes`). `lane_values` are arrays with one value per lane
    (posterior draws), taking precedence. `months` stops after that many months (a likelihood
    needs the months up to its last fact only); first passages later stay -1.
    """
    lanes = replications * points
    lane_params = {
        k: (np.repeat(np.asarray(v, float), replications) if np.ndim(v) else v)
        for k, v in (parameters or {}).items()
    }
    lane_params.update(lane_values or {})
    uniforms = LaneUniforms.from_seed(seed, first, replications, len(scenario.members), points)
    from sim.model.model import (
        AllianceModel,
    )  # here, so that reading chunk files needs no Mesa import

    model = AllianceModel(scenario, lanes, lane_params, rng=seed, uniforms=uniforms)
    agg = MonthlyAggregates.empty(scenario.months, len(scenario.members)) if aggregate else None
    traj = _empty_trajectories(scenario, lanes) if trajectories else None
    for t in range(scenario.months if months is None else min(months, scenario.months)):
        model.step()
        if after_month is not None:
            after_month(t, model)
        if agg is not None:
            agg.add_month(t, model)
        if traj is not None:
            traj["trust"][t] = model.trust_matrix()
            traj["status"][t] = model.status_matrix()
            traj["capacity"][t] = model.patron.capacity
    if agg is not None:
        agg.runs = lanes
    withdrawn = model.first_passage[:, :, WITHDRAWN - 1]
    first_exit = np.where(withdrawn >= 0, withdrawn, np.iinfo(np.int16).max).min(axis=1)
    first_exit = np.where(first_exit == np.iinfo(np.int16).max, -1, first_exit).astype(np.int16)
    return ChunkResult(model.first_passage, first_exit, agg, traj)


def _empty_trajectories(scenario: Scenario, lanes: int) -> dict[str, np.ndarray]:
    months, members = scenario.months, len(scenario.members)
    return {
        "trust": np.zeros((months, members, lanes), dtype=np.float32),
        "status": np.zeros((months, members, lanes), dtype=np.int8),
        "capacity": np.zeros((months, lanes), dtype=np.float32),
    }


def take_lanes(model: AllianceModel, order: np.ndarray) -> None:
    """Make lane j of the model a copy of lane order[j]: every lane-indexed array changes.

    Found generically, so that state added to the model or its agents later is copied too: each
    numpy array attribute of the model and of each of its agents (and inside dict, list or tuple
    attributes) with an axis of length `model.lanes` is re-indexed along it, in place
    (references to it stay valid): the last such axis (lanes are the last axis of the members'
    (members, lanes) state), or the one the model names in `LANE_AXIS` (`first_passage`). Arrays
    sharing memory with one already done are skipped (aliases like each member's rows of the
    model's state). What the model names in `NOT_LANE_STATE` (the random
    streams, the month kernel's tables of shared values, the rows of the parameter table:
    an attribute, or a field of one, `parameters.values`) is not lane state.
    """
    lanes = model.lanes
    lane_axis = {f"{type(model).__name__}.{name}": axis for name, axis in model.LANE_AXIS.items()}
    skipped = {f"{type(model).__name__}.{name}" for name in model.NOT_LANE_STATE}
    done: list[np.ndarray] = []

    def visit(value: Any, where: str) -> None:
        if where in skipped:
            return
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named group of arrays
            for field, item in zip(value._fields, value, strict=True):
                visit(item, f"{where}.{field}")
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{where}[{key!r}]")
        elif isinstance(value, list | tuple):
            for k, item in enumerate(value):
                visit(item, f"{where}[{k}]")
        elif isinstance(value, np.ndarray):
            axes = [axis for axis, size in enumerate(value.shape) if size == lanes]
            if not axes or any(np.may_share_memory(value, seen) for seen in done):
                return
            axis = lane_axis.get(where, axes[-1])
            value[...] = np.take(value, order, axis=axis)
            done.append(value)

    for owner in (model, *model.agents):
        for name, value in vars(owner).items():
            if name not in model.NOT_LANE_STATE:
                visit(value, f"{type(owner).__name__}.{name}")
