"""The simulated likelihood of several cases' facts at many parameter points, in parallel.

For a point, each case is simulated `replications` times up to its last fact's month. Facts are
grouped (by member by default); a group's probability is (k + a) / (n + 2a), k of n runs satisfying
every fact of the group, a the smoothing floor, so a group never seen counts as rare, not
impossible. With a `window`, a fact "reached in month m" holds for a run that first reached the
stage within `window` months of m: the probability of one exact month is a few per cent, which a
few hundred runs estimate poorly, and history rarely dates a boycott to the month; the window keeps
the timing at a coarser resolution. With `timing="by"`, such a fact holds for a run that reached
the stage by month m (a current-status likelihood: whether it happened by then, not when), the
event the scores judge; it never rests on a rare exact month. A case's log-likelihood is the sum
over its groups, the total the sum over cases (the cases are independent histories). Every point
runs the same replications of each case's seed (common random numbers), so the estimate is a
deterministic, piecewise-smooth function of the parameters: a sampler sees one fixed surface, not
fresh noise at every visit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from sim.batch.engines import Engine
from sim.batch.lanes import simulate_chunk
from sim.experiments.cases import CASE_SEP, Case
from sim.experiments.observations import Fact, FactGroup
from sim.model.scenario import Scenario

LANES_PER_TASK = 20_000


@dataclass
class CaseTask:
    """One case at a block of points: what a worker simulates."""

    case: int
    scenario: Scenario
    seed: int
    months: int
    replications: int
    names: list[str]  # model parameter names of the columns of `rows`
    rows: np.ndarray  # (points, parameters)
    fixed: dict[str, float]
    groups: list[FactGroup]  # the likelihood's groups, then one group per fact
    first_point: int


def run_case_task(task: CaseTask) -> tuple[int, int, np.ndarray]:
    """Simulate one case at a block of points; count the runs satisfying each group."""
    parameters: dict[str, float | np.ndarray] = dict(task.fixed)
    parameters.update({n: task.rows[:, j] for j, n in enumerate(task.names)})
    result = simulate_chunk(
        task.scenario,
        task.seed,
        0,
        task.replications,
        parameters=parameters,
        points=len(task.rows),
        aggregate=False,
        months=task.months,
    )
    points = len(task.rows)
    counts = np.empty((points, len(task.groups)), dtype=np.int64)
    for j, group in enumerate(task.groups):
        held = group.per_run(result.first_passage).reshape(points, task.replications)
        counts[:, j] = held.sum(axis=1)
    return task.case, task.first_point, counts


@dataclass
class Evaluation:
    """The likelihood at a block of points: total, per case, and every fact's probability."""

    loglik: np.ndarray  # (points,)
    case_loglik: np.ndarray  # (points, cases)
    fact_p: np.ndarray  # (points, facts of all cases, in case order)


class Likelihood:
    """The pooled simulated log-likelihood of the cases' facts as a function of the parameters."""

    def __init__(
        self,
        cases: list[Case],
        names: list[str],
        fixed: dict[str, float],
        seed: int,
        replications: int,
        grouping: str,
        floor: float,
        engine: Engine,
        window: int = 0,
        timing: Literal["window", "by"] = "window",
        on_runs: Callable[[int], None] | None = None,
    ):
        self.cases = cases
        self.names = names
        self.fixed = fixed
        self.seed = seed
        self.replications = replications
        self.runs = [c.replications or replications for c in cases]  # per case
        self.floor = floor
        self.engine = engine
        self.on_runs = on_runs
        self.settings = {"grouping": grouping, "floor": floor, "window": window}
        if timing != "window":  # the default leaves the identity (and old checkpoints) as they were
            self.settings["timing"] = timing
        self.groups = [_timed(c.observations.groups(grouping), window, timing) for c in cases]
        self.singles = [c.observations.groups("independent") for c in cases]
        self.columns = [self._columns(c) for c in cases]

    def identity(self) -> str:
        """A hash of everything the likelihood's values depend on: a checkpoint of a chain is
        continued only under the same one."""
        key = {
            "cases": [
                [c.name, c.scenario.content_hash, c.observations.content_hash, c.months]
                for c in self.cases
            ],
            "names": self.names,
            "fixed": self.fixed,
            "seed": self.seed,
            "replications": self.replications,
            **({"runs": self.runs} if set(self.runs) != {self.replications} else {}),
            **self.settings,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def _columns(self, case: Case) -> tuple[list[str], list[int]]:
        """The model names of a case's parameters and their columns in a point's vector."""
        own = {f"{v.name}{CASE_SEP}{case.name}": v.name for v in case.own}
        picked = [(n, j) for j, n in enumerate(self.names) if CASE_SEP not in n or n in own]
        return [own.get(n, n) for n, _ in picked], [j for _, j in picked]

    def __call__(self, matrix: np.ndarray) -> Evaluation:
        """Evaluate every row of `matrix` (points x fitted parameters)."""
        points = len(matrix)
        tasks = []
        for c, case in enumerate(self.cases):
            names, cols = self.columns[c]
            block = max(1, LANES_PER_TASK // self.runs[c])
            if self.engine.workers > 1:  # enough tasks to keep every worker busy
                tasks_wanted = 2 * self.engine.workers
                block = max(1, min(block, -(-points * len(self.cases) // tasks_wanted)))
            for start in range(0, points, block):
                tasks.append(
                    CaseTask(
                        c,
                        case.scenario,
                        case.seed(self.seed),
                        case.months,
                        self.runs[c],
                        names,
                        matrix[start : start + block][:, cols],
                        self.fixed,
                        [*self.groups[c], *self.singles[c]],
                        start,
                    )
                )
        tasks.sort(key=lambda t: -t.months * len(t.scenario.members) * len(t.rows) * t.replications)
        case_loglik = np.zeros((points, len(self.cases)))
        fact_p = [np.zeros((points, len(s))) for s in self.singles]
        a = self.floor
        for c, first, counts in self.engine.map_unordered(run_case_task, tasks):
            n = self.runs[c]
            rows = slice(first, first + len(counts))
            grouped = counts[:, : len(self.groups[c])]
            case_loglik[rows, c] = np.log((grouped + a) / (n + 2 * a)).sum(axis=1)
            fact_p[c][rows] = counts[:, len(self.groups[c]) :] / n
            if self.on_runs:
                self.on_runs(len(counts) * n)
        return Evaluation(case_loglik.sum(axis=1), case_loglik, np.hstack(fact_p))


def _timed(groups: list[FactGroup], window: int, timing: str) -> list[FactGroup]:
    """The groups with each `reached_in` fact held within `window` months either side, or, with
    `timing="by"`, held when the stage was reached by its month."""
    if timing == "window" and not window:
        return groups

    def timed(fact: Fact) -> Fact:
        return _by(fact) if timing == "by" else replace(fact, window=window)

    return [FactGroup(g.label, tuple(timed(f) for f in g.facts), g.binary) for g in groups]


def _by(fact: Fact) -> Fact:
    """A `reached_in` fact as `reached_by` its month; other facts as they are."""
    return replace(fact, kind="reached_by") if fact.kind == "reached_in" else fact
