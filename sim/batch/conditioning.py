"""Lanes conditioned on dated facts: sequential importance resampling inside stream blocks.

At the end of each month that has facts, lanes that contradict a fact are dropped and the
survivors are split (systematic resampling) to refill their stream block of STREAM_BLOCK lanes;
the block then draws from a fresh stream (`sim.model.streams.resample_seed`), so every copy goes
on with its own random numbers. Resampling never crosses a block, and a chunk always simulates
whole blocks (a short last block is padded and the padding left out of the results), so every
number is the same for any chunk size, number of workers or engine. Every lane-indexed array of
the model and its agents is copied (`sim.batch.lanes.take_lanes`), and so are the monthly states
kept for the aggregates: those of the months up to the last fact are held back and folded in
once every fact has been applied, so the monthly tables are conditioned too.

A `reached_in` fact may be imposed instead of conditioned on: lanes that reached the stage
before its month are dropped, and in its month the member's stage is set in every lane (as a
`status` event does); the share of lanes that met it on their own is its likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from sim.batch.lanes import ChunkResult, MonthlyAggregates, simulate_chunk, take_lanes
from sim.model.errors import InputError
from sim.model.scenario import Scenario
from sim.model.streams import STREAM_BLOCK, resample_seed

if TYPE_CHECKING:
    from sim.batch.posterior import PosteriorDraws
    from sim.model.model import AllianceModel

CONDITIONING = "conditioning"
FIXED_POINT = 2**20  # parameter sums are kept as integers in these units (exact in any order)
KINDS = ("reached_in", "reached_by", "not_reached_by")


class NoConsistentLane(InputError):
    """No lane of a stream block is consistent with the facts of a month (picklable): the record
    cannot be met, a refusal of the input like any other (a new run is taken back whole)."""

    def __init__(self, labels: str, month: int, block: int):
        super().__init__(labels, "", f"no lane of stream block {block} is consistent with it")
        self.labels, self.month, self.block = labels, month, block

    def __reduce__(self) -> tuple[type, tuple[str, int, int]]:
        return (NoConsistentLane, (self.labels, self.month, self.block))


@dataclass(frozen=True)
class Condition:
    """A fact as the lanes see it: member index, stage 1..3, kind, month index."""

    member: int
    stage: int
    kind: str
    month: int
    label: str
    impose: bool = False

    def consistent(self, first_passage: np.ndarray) -> np.ndarray:
        """Per lane at the end of the fact's month: is the lane consistent with the fact?

        An imposed `reached_in` needs only that the stage was not reached before its month."""
        fp = first_passage[:, self.member, self.stage - 1]
        if self.kind == "reached_in":
            return (fp == self.month) | (fp < 0) if self.impose else fp == self.month
        return fp >= 0 if self.kind == "reached_by" else fp < 0

    def met(self, first_passage: np.ndarray) -> np.ndarray:
        """Per lane: does the fact hold on its own (before any imposition)?"""
        fp = first_passage[:, self.member, self.stage - 1]
        if self.kind == "reached_in":
            return fp == self.month
        return self.consistent(first_passage)


class _KeptLanes:
    """The first lanes of a month's state, shaped as `MonthlyAggregates.add_month` reads it."""

    def __init__(self, trust: np.ndarray, status: np.ndarray, capacity: np.ndarray, keep: int):
        self.lanes = keep
        self.trust = np.ascontiguousarray(trust[:, :keep])
        self.status = np.ascontiguousarray(status[:, :keep])
        self.patron = SimpleNamespace(capacity=np.ascontiguousarray(capacity[:keep]))


@dataclass
class ConditionedRun:
    """The after-month hook of one chunk: checks facts, resamples blocks, keeps the counts."""

    conditions: tuple[Condition, ...]
    seed: int
    first_block: int
    keep: int
    months: int
    members: int
    aggregates: MonthlyAggregates = field(init=False)
    consistent: np.ndarray = field(init=False)  # per condition: kept lanes consistent
    met: np.ndarray = field(init=False)  # per condition: kept lanes meeting it on their own
    joint: dict[int, tuple[int, int]] = field(init=False)  # per fact month: consistent, met
    origin: np.ndarray | None = None
    held: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    last: int = field(init=False)  # the last month with a fact
    draws: dict[str, np.ndarray] | None = None  # each lane's posterior draw, by parameter

    def __post_init__(self) -> None:
        self.aggregates = MonthlyAggregates.empty(self.months, self.members)
        self.aggregates.runs = self.keep
        self.consistent = np.zeros(len(self.conditions), dtype=np.int64)
        self.met = np.zeros(len(self.conditions), dtype=np.int64)
        self.joint = {}
        self.last = max((c.month for c in self.conditions), default=-1)

    def __call__(self, t: int, model: AllianceModel) -> None:
        """End of month t: condition, impose, then aggregate (or hold back until the last fact)."""
        if self.origin is None:
            self.origin = np.arange(model.lanes)
        todays = [(k, c) for k, c in enumerate(self.conditions) if c.month == t]
        if todays:
            self._condition(t, model, todays)
        trust, status = model.trust, model.status
        if t > self.last:
            view = _KeptLanes(trust, status, model.patron.capacity, self.keep)
            self.aggregates.add_month(t, view)
            return
        self.held.append((status.copy(), trust.copy(), model.patron.capacity.copy()))
        if t == self.last:
            for month, (held_status, held_trust, capacity) in enumerate(self.held):
                view = _KeptLanes(held_trust, held_status, capacity, self.keep)
                self.aggregates.add_month(month, view)
            self.held = []

    def _condition(self, t: int, model: AllianceModel, todays: list[tuple[int, Condition]]) -> None:
        fp = model.first_passage
        ok = np.ones(model.lanes, dtype=bool)
        on_own = np.ones(model.lanes, dtype=bool)
        each = []
        for k, condition in todays:
            holds, met = condition.consistent(fp), condition.met(fp)
            self.consistent[k] += int(holds[: self.keep].sum())
            self.met[k] += int(met[: self.keep].sum())
            ok &= holds
            on_own &= met
            each.append(holds)
        self.joint[t] = (int(ok[: self.keep].sum()), int(on_own[: self.keep].sum()))
        order = np.arange(model.lanes)
        for b in range(model.lanes // STREAM_BLOCK):
            lanes = slice(b * STREAM_BLOCK, (b + 1) * STREAM_BLOCK)
            survivors = np.flatnonzero(ok[lanes])
            if survivors.size == STREAM_BLOCK:
                continue
            if survivors.size == 0:
                pairs = zip(todays, each, strict=True)
                alone = [c.label for (_, c), holds in pairs if not holds[lanes].any()]
                labels = "; ".join(alone) or " and ".join(c.label for _, c in todays) + " jointly"
                raise NoConsistentLane(labels, t, self.first_block + b)
            fresh = np.random.default_rng(resample_seed(self.seed, self.first_block + b, t + 1))
            u = fresh.random()
            picks = np.floor((u + np.arange(STREAM_BLOCK)) * survivors.size / STREAM_BLOCK)
            order[lanes] = b * STREAM_BLOCK + survivors[picks.astype(np.int64)]
            model.uniforms.replace_stream(b, fresh)
        take_lanes(model, order)
        self.origin = self.origin[order]
        self.held = [tuple(np.take(a, order, axis=-1) for a in state) for state in self.held]
        for _, condition in todays:
            if condition.impose:
                impose_stage(model, condition.member, condition.stage, t)

    def table(self) -> pa.Table:
        """The chunk's counts: one row per fact, per fact month, and the ancestry sum; with
        posterior draws, per parameter the sums of its values and squares (in units of
        1 / FIXED_POINT: exact in any order) over the lanes as drawn and as kept."""
        kept = self.origin[: self.keep] if self.origin is not None else np.arange(self.keep)
        copies = np.unique(kept, return_counts=True)[1].astype(np.int64)
        items = [f"fact:{k}" for k in range(len(self.conditions))]
        items += [f"month:{t}" for t in sorted(self.joint)]
        items.append("ancestry")
        months = sorted(self.joint)
        consistent = [*self.consistent.tolist(), *(self.joint[t][0] for t in months)]
        met = [*self.met.tolist(), *(self.joint[t][1] for t in months)]
        consistent.append(int(np.square(copies).sum()))
        met.append(int(copies.size))
        sums = [0] * len(items)
        squares = [0] * len(items)
        for name, values in (self.draws or {}).items():
            for stage, lanes in (("drawn", np.arange(self.keep)), ("kept", kept)):
                items.append(f"{stage}:{name}")
                consistent.append(0)
                met.append(0)
                sums.append(int(np.round(values[lanes] * FIXED_POINT).astype(np.int64).sum()))
                square = np.round(np.square(values[lanes]) * FIXED_POINT).astype(np.int64)
                squares.append(int(square.sum()))
        return pa.table(
            {
                "item": items,
                "lanes": [self.keep] * len(items),
                "consistent": consistent,
                "met": met,
                "sum": sums,
                "square_sum": squares,
            }
        )


def impose_stage(model: AllianceModel, member: int, stage: int, month: int) -> None:
    """Set a member's stage in every lane at the end of `month`, as a `status` event does."""
    model.members[member].status[:] = stage
    for reached in range(stage):
        slot = model.first_passage[:, member, reached]
        slot[slot < 0] = month


def padded(replications: int) -> int:
    """Lanes simulated for a chunk: whole stream blocks (the padding is left out of results)."""
    return -(-replications // STREAM_BLOCK) * STREAM_BLOCK


def simulate_conditioned_chunk(
    scenario: Scenario,
    seed: int,
    first: int,
    replications: int,
    conditions: tuple[Condition, ...],
    parameters: dict[str, Any] | None = None,
    posterior: PosteriorDraws | None = None,
) -> tuple[ChunkResult, pa.Table]:
    """Replications first.. of `seed` conditioned on the facts; the result and its counts.
    With `posterior`, each lane draws its parameters as in a batch, and a lane copied by the
    resampling keeps its draw (its `draw` number too): the facts weigh the parameters as they
    weigh the runs, and each draw's kept runs are its weight in the parameter interval."""
    lanes = padded(replications)
    members = len(scenario.members)
    draws = posterior.lane_values(seed, first, lanes) if posterior else None
    run = ConditionedRun(
        conditions, seed, first // STREAM_BLOCK, replications, scenario.months, members,
        draws={name: draws[name].copy() for name in posterior.varied()} if posterior else None,
    )  # fmt: skip
    result = simulate_chunk(
        scenario, seed, first, lanes, parameters, aggregate=False, after_month=run,
        lane_values=draws,
    )  # fmt: skip
    origin = run.origin if run.origin is not None else np.arange(lanes)
    kept = ChunkResult(
        result.first_passage[:replications].copy(),
        result.first_exit[:replications].copy(),
        run.aggregates,
        None,
        posterior.draw_of(first, lanes)[origin[:replications]] if posterior else None,
    )
    return kept, run.table()
