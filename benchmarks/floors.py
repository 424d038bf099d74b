"""The floors of the lane design: what numpy needs to draw one uniform and compute one exp per
member-month of a batch, and what the engine's own random streams cost alone, each split over
the batch's worker processes (`benchmarks/bench.py` prints the engine's time as a multiple)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from sim.model.model import AllianceModel
from sim.model.scenario import Scenario, load_scenario


def _floor_share(args: tuple[int, int, int, int, bool]) -> float:
    """One worker's share of the floor: a uniform (and an exp) per member-month, in blocks."""
    lanes, members, months, seed, with_exp = args
    rng = np.random.default_rng(seed)
    block = min(lanes, 50_000)
    u = np.empty((members, block))
    start = time.perf_counter()
    for first in range(0, lanes, block):
        size = min(block, lanes - first)
        for _ in range(months):
            rng.random(out=u[:, :size])
            if with_exp:
                np.exp(u[:, :size], out=u[:, :size])
    return time.perf_counter() - start


def time_floor(scenario: Path, runs: int, workers: int) -> dict[str, Any]:
    """The floor of the lane design: numpy drawing one uniform and computing one exp per
    member-month of `runs` replications, split over `workers` processes (pool start excluded);
    and the uniforms alone (`draws_seconds`): numpy's PCG64, the engine's own random streams."""
    import multiprocessing

    compiled = load_scenario(scenario)
    members, months = len(compiled.members), compiled.months
    shares = [runs // workers + (i < runs % workers) for i in range(workers)]
    seconds = {}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_floor_share, [(1000, members, 2, i, True) for i in range(workers)])  # warm up
        for with_exp in (True, False):
            start = time.perf_counter()
            shares_args = [(n, members, months, i, with_exp) for i, n in enumerate(shares)]
            pool.map(_floor_share, shares_args)
            seconds[with_exp] = time.perf_counter() - start
    return {
        "runs": runs,
        "member_months": runs * members * months,
        "seconds": seconds[True],
        "draws_seconds": seconds[False],
    }


def _draws_share(args: tuple[str, int, int, int]) -> float:
    """One worker's share of the engine's own draws: the month kernel's generator and layout
    (`sim.model.month.fill_month`) reading the rows each month reads (`draws_used`, the model's
    rule), in chunks of 50,000 lanes; each number is also stored, so this bounds the draws' cost
    from above."""
    from sim.model.month import fill_month
    from sim.model.streams import REGIME, LaneUniforms

    scenario_path, seed, first, lanes = args
    compiled = load_scenario(Path(scenario_path))
    members = len(compiled.members)
    rows = _rows_read(compiled)
    start = time.perf_counter()
    for chunk in range(first, first + lanes, 50_000):
        size = min(50_000, first + lanes - chunk)
        uniforms = LaneUniforms.from_seed(seed, chunk, size, members, 1)
        if any(REGIME in month for month in rows):
            uniforms.enable_regime()
        out = np.empty((4, members, size))
        for month in rows:
            fill_month(uniforms.streams(), uniforms.flags(month), out)
    return time.perf_counter() - start


def _rows_read(compiled: Scenario) -> list[tuple[int, ...]]:
    """The random rows each month of the scenario reads, by the model's own rule."""
    model = AllianceModel(compiled, 1)
    return [model.draws_used(t) for t in range(compiled.months)]


def time_draws(scenario: Path, runs: int, seed: int, workers: int) -> dict[str, Any]:
    """The engine's own random numbers for `runs` replications and nothing else, split over
    `workers` processes (pool start and kernel loading excluded): what the same random streams
    cost whatever the rules."""
    import multiprocessing

    compiled = load_scenario(scenario)
    per_run = len(compiled.members) * sum(len(r) for r in _rows_read(compiled))
    shares = [runs // workers + (i < runs % workers) for i in range(workers)]
    firsts = [sum(shares[:i]) for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_draws_share, [(str(scenario), seed, 0, 1000)] * workers)  # load the kernels
        start = time.perf_counter()
        parts = [(str(scenario), seed, f, n) for f, n in zip(firsts, shares, strict=True)]
        pool.map(_draws_share, parts)
        seconds = time.perf_counter() - start
    return {"runs": runs, "numbers": runs * per_run, "seconds": seconds}
