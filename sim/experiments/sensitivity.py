"""`alliance sensitivity`: Sobol first-order and total indices, or Morris mu*/sigma, per outcome.

The design's points come from SALib (Saltelli's scheme on a Sobol' sequence, or Morris
trajectories); each point's outcome is its Monte Carlo estimate over the experiment's replications,
all points sharing the same random numbers, so an irrelevant parameter changes nothing at all and
gets indices of zero. SALib analyses the estimates. Output directory: manifest.json (kind
"sensitivity"), design.csv, results.csv/.parquet (as a sweep's), indices.csv/.parquet: outcome,
parameter, method, S1, S1_conf, ST, ST_conf, mu_star, mu_star_conf, sigma, mu (NaN where not
applicable), and with second-order Sobol, indices_second_order.csv.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze

from sim.batch.jobs import DEFAULTS, RunOptions
from sim.batch.outcomes import CONFIDENCE
from sim.experiments.designs import Design, design_rng
from sim.experiments.experiment import Experiment, Morris, Sobol, load_experiment, require_method
from sim.experiments.sweep import results_table, run_design

INDEX_COLUMNS = (
    "outcome",
    "parameter",
    "method",
    "S1",
    "S1_conf",
    "ST",
    "ST_conf",
    "mu_star",
    "mu_star_conf",
    "sigma",
    "mu",
)


def sensitivity(experiment_path: Path, out: Path, options: RunOptions = DEFAULTS) -> pd.DataFrame:
    """Run a Sobol or Morris experiment, analyse it with SALib and write the indices table."""
    experiment = load_experiment(experiment_path)
    require_method(experiment, ("sobol", "morris"), "sensitivity")
    with run_design(experiment, "sensitivity", out, options) as done:
        done.run.write_table("results", results_table(done.design, experiment, done.tally))
        estimates = done.tally.total / np.maximum(done.tally.n, 1)
        indices, second = analyse(experiment, done.design, estimates)
        done.run.write_table("indices", indices)
        if second is not None:
            done.run.write_table("indices_second_order", second)
    return indices


def analyse(
    experiment: Experiment, design: Design, estimates: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Indices for every outcome from the points' estimates (points x outcomes)."""
    spec = experiment.spec.design
    frames, second = [], []
    for j, outcome in enumerate(experiment.outcomes):
        y = estimates[:, j]
        seed = design_rng(experiment.spec.seed + j)
        if isinstance(spec, Sobol):
            frame, pairs = _sobol(design, y, spec, seed)
            if pairs is not None:
                second.append(pairs.assign(outcome=outcome.label))
        elif isinstance(spec, Morris):
            frame = _morris(design, y, spec, seed)
        else:  # pragma: no cover - require_method admits only these
            raise ValueError(f"no sensitivity analysis for design {spec.method}")
        frames.append(frame.assign(outcome=outcome.label))
    indices = pd.concat(frames, ignore_index=True).reindex(columns=list(INDEX_COLUMNS))
    pairs_table = None
    if second:
        columns = ["outcome", "parameter_1", "parameter_2", "S2", "S2_conf"]
        pairs_table = pd.concat(second, ignore_index=True)[columns]
    return indices, pairs_table


def _flat(y: np.ndarray) -> bool:
    """True when the outcome does not vary over the design: every index is then undefined."""
    return bool(np.ptp(y) == 0.0)


def _sobol(
    design: Design, y: np.ndarray, spec: Sobol, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    names = design.names
    frame = pd.DataFrame({"parameter": names, "method": "sobol"})
    if _flat(y):
        for column in ("S1", "S1_conf", "ST", "ST_conf"):
            frame[column] = np.nan
        return frame, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = sobol_analyze.analyze(
            design.problem,
            y,
            calc_second_order=spec.second_order,
            num_resamples=spec.resamples,
            conf_level=CONFIDENCE,
            seed=rng,
        )
    for column in ("S1", "S1_conf", "ST", "ST_conf"):
        frame[column] = np.asarray(result[column], float)
    if not spec.second_order:
        return frame, None
    rows = [
        (names[a], names[b], result["S2"][a, b], result["S2_conf"][a, b])
        for a in range(len(names))
        for b in range(a + 1, len(names))
    ]
    return frame, pd.DataFrame(rows, columns=["parameter_1", "parameter_2", "S2", "S2_conf"])


def _morris(design: Design, y: np.ndarray, spec: Morris, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame({"parameter": design.names, "method": "morris"})
    result = morris_analyze.analyze(
        design.problem,
        design.matrix,
        y,
        num_resamples=spec.resamples,
        conf_level=CONFIDENCE,
        num_levels=spec.levels,
        seed=rng,
    )
    for column in ("mu_star", "mu_star_conf", "sigma", "mu"):
        frame[column] = np.asarray(result[column], float)
    return frame
