"""Experimental designs: which parameter points to run (grid, Latin hypercube, Sobol, Morris).

Latin hypercubes come from `scipy.stats.qmc`; Sobol/Saltelli and Morris samples from SALib, so
that SALib's analysers can read the runs back. Every design is reproducible from the experiment's
seed, through a stream kept apart from the simulation's random numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample
from scipy.stats import qmc

from sim.experiments.experiment import Experiment, Grid, LatinHypercube, Morris, Sobol

DESIGN_STREAM = 0x5EED_DE51  # entropy word that keeps design draws apart from the model's streams


@dataclass
class Design:
    """Parameter points as a matrix (points x parameters), with the SALib problem behind it."""

    method: str
    names: list[str]
    matrix: np.ndarray
    problem: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return int(self.matrix.shape[0])

    def parameters(self, rows: slice | np.ndarray = slice(None)) -> dict[str, np.ndarray]:
        """The rows' parameter values as {name: array over points}, as simulate_chunk takes them."""
        block = self.matrix[rows]
        return {name: block[:, j].copy() for j, name in enumerate(self.names)}


def design_rng(seed: int) -> np.random.Generator:
    """The generator for a design: seeded by the experiment seed, independent of the model's."""
    return np.random.default_rng(np.random.SeedSequence((seed, DESIGN_STREAM)))


def salib_problem(experiment: Experiment) -> dict[str, Any]:
    """SALib's problem dictionary for the varied parameters and their ranges."""
    return {
        "num_vars": len(experiment.varied),
        "names": experiment.parameter_names,
        "bounds": [[v.low, v.high] for v in experiment.varied],
    }


def build_design(experiment: Experiment) -> Design:
    """The experiment's parameter points, by its design method."""
    spec = experiment.spec.design
    problem = salib_problem(experiment)
    names = experiment.parameter_names
    rng = design_rng(experiment.spec.seed)
    if isinstance(spec, Grid):
        matrix = grid_matrix(
            [
                np.array(v.values) if v.values else np.linspace(v.low, v.high, spec.levels)
                for v in experiment.varied
            ]
        )
        settings: dict[str, Any] = {"levels": spec.levels}
    elif isinstance(spec, LatinHypercube):
        optimization = None if spec.optimization == "none" else spec.optimization
        sampler = qmc.LatinHypercube(d=len(names), optimization=optimization, rng=rng)
        unit = sampler.random(spec.points)
        matrix = qmc.scale(unit, *np.array(problem["bounds"]).T)
        settings = {"points": spec.points, "optimization": spec.optimization}
    elif isinstance(spec, Sobol):
        matrix = sobol_sample.sample(
            problem, spec.samples, calc_second_order=spec.second_order, scramble=True, seed=rng
        )
        settings = {"samples": spec.samples, "second_order": spec.second_order}
    elif isinstance(spec, Morris):
        matrix = morris_sample.sample(problem, spec.trajectories, num_levels=spec.levels, seed=rng)
        settings = {"trajectories": spec.trajectories, "levels": spec.levels}
    else:  # pragma: no cover - the schema admits only the four methods
        raise ValueError(f"unknown design {spec!r}")
    return Design(spec.method, names, np.asarray(matrix, dtype=float), problem, settings)


def grid_matrix(axes: list[np.ndarray]) -> np.ndarray:
    """Every combination of the axes' values, the last parameter varying fastest."""
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))
