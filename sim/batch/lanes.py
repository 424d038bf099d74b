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
        work = (np.empty(model.lanes), np.empty(model.lanes, dtype=np.int64))
        for member in model.members:
            i = member.index
            self.trust_sum[t, i] += _fixed_point(member.trust, work).sum()
            self.trust_hist[t, i] += _histogram(member.trust, work[0])
            counts = _stage_counts(member.status)
            self.stage_counts[t, i] += counts
            self.active_sum[t] += counts[0]
        capacity = model.patron.capacity
        self.capacity_sum[t] += _fixed_point(capacity, work).sum()
        self.capacity_hist[t] += _histogram(capacity, work[0])

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


def _fixed_point(values: np.ndarray, work: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`(values * SUM_SCALE).astype(np.int64)`, written into the working arrays."""
    scaled, fixed = work
    np.multiply(values, SUM_SCALE, out=scaled)
    np.copyto(fixed, scaled, casting="unsafe")
    return fixed


def _histogram(values: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Counts of values in [0, 1] in BINS equal bins, 1.0 in the last one (int16 bin indices
    convert several times faster than int64 ones)."""
    counts = np.bincount(np.multiply(values, BINS, out=work).astype(np.int16), minlength=BINS + 1)
    counts[BINS - 1] += counts[BINS:].sum()
    return counts[:BINS]


def _stage_counts(status: np.ndarray) -> np.ndarray:
    """Lanes in each stage: active, disengaged, frozen, withdrawn."""
    later = [np.count_nonzero(status == stage) for stage in range(1, 4)]
    return np.array([status.size - sum(later), *later])


@dataclass
class ChunkResult:
    """First passages of every lane, and monthly aggregates when asked for."""

    first_passage: np.ndarray  # (lanes, members, 3) int16; -1 = not reached by the horizon
    first_exit: np.ndarray  # (lanes,) int16: month of the first formal exit of any member
    aggregates: MonthlyAggregates | None
    trajectories: dict[str, np.ndarray] | None  # trust (months, members, lanes), etc.


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
    attributes) with exactly one axis of length `model.lanes` is re-indexed along it, in place
    (references to it stay valid). Arrays sharing memory with one already done are skipped
    (aliases like the rule parameters). The random streams (`model.uniforms`) are not state.
    """
    lanes = model.lanes
    done: list[np.ndarray] = []

    def visit(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{where}[{key!r}]")
        elif isinstance(value, list | tuple):
            for k, item in enumerate(value):
                visit(item, f"{where}[{k}]")
        elif isinstance(value, np.ndarray):
            axes = [axis for axis, size in enumerate(value.shape) if size == lanes]
            if not axes or any(np.may_share_memory(value, seen) for seen in done):
                return
            if len(axes) > 1:
                raise ValueError(f"{where}: shape {value.shape} has several lane-sized axes")
            value[...] = np.take(value, order, axis=axes[0])
            done.append(value)

    for owner in (model, *model.agents):
        for name, value in vars(owner).items():
            if name != "uniforms":
                visit(value, f"{type(owner).__name__}.{name}")
