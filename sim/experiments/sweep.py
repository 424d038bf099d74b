"""`alliance sweep`: outcomes with confidence intervals at every point of a grid or Latin hypercube.

Output directory (documented in docs/experiments.md): manifest.json (kind "sweep"), copies of
the experiment and scenario files, design.csv (the points), chunks/ (tallies, resumable) and
results.csv / results.parquet: point, one column per varied parameter, outcome, estimate, low,
high, n.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.outcomes import Tally, interval
from sim.batch.pointruns import (
    Chunk,
    PointJob,
    plan_chunks,
    run_points,
)
from sim.batch.posterior import load_posterior
from sim.batch.store import finish, now, prepare_output, release, versions, write_bytes_atomic
from sim.experiments.designs import Design, build_design
from sim.experiments.experiment import Experiment, load_experiment, require_method

RESULT_COLUMNS = ("point", "outcome", "estimate", "low", "high", "n")
COMPARE = (
    "experiment.hash",
    "scenario.hash",
    "seed",
    "replications",
    "design",
    "parameters",
    "outcomes",
    "points",
    "chunks",
    "lanes_per_chunk",
    "posterior.hash",
)
OWNED = (
    "results.csv",
    "results.parquet",
    "design.csv",
    "experiment.yaml",
    "scenario.yaml",
    "indices.csv",
    "indices.parquet",
    "indices_second_order.csv",
    "indices_second_order.parquet",
    "figures",
)


@dataclass
class PointRun:
    """An experiment's design run into an output directory, with its tallies."""

    experiment: Experiment
    design: Design
    out: Path
    tally: Tally
    manifest: dict[str, Any]


def sweep(
    experiment_path: Path,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    resume: bool = False,
    show_progress: bool = True,
    posterior: Path | None = None,
) -> pd.DataFrame:
    """Run a grid or Latin-hypercube experiment and write its tidy results table.

    With `posterior`, every replication draws the parameters the experiment neither varies nor
    fixes from that calibration's samples (`sim.batch.posterior`)."""
    experiment = load_experiment(experiment_path)
    require_method(experiment, ("grid", "lhs"), "sweep")
    run = run_design(
        experiment,
        "sweep",
        out,
        workers=workers,
        scheduler=scheduler,
        force=force,
        resume=resume,
        show=show_progress,
        posterior=posterior,
    )
    try:
        results = results_table(run.design, run.experiment, run.tally)
        write_table(out, "results", results)
    except BaseException:
        release(out)
        raise
    finish(out, run.manifest)
    return results


def run_design(
    experiment: Experiment,
    kind: str,
    out: Path,
    *,
    workers: int | None,
    scheduler: str | None,
    force: bool,
    resume: bool,
    show: bool,
    posterior: Path | None = None,
) -> PointRun:
    """Prepare and lock `out` (file copies, design, manifest last), run every chunk not yet done,
    tally it. The lock stays held for the caller to write its tables; `finish` releases it."""
    design = build_design(experiment)
    chunks = plan_chunks(design.points, experiment.spec.replications)
    manifest = experiment_manifest(kind, experiment, design, chunks)
    design_frame(design).to_csv(buffer := io.StringIO(), index=False)
    inputs = {**input_files(experiment), "design.csv": buffer.getvalue().encode()}
    draws = None
    if posterior is not None:
        own = set(experiment.parameter_names) | set(experiment.fixed)
        draws = load_posterior(posterior, experiment.scenario, own)
        manifest["posterior"] = draws.describe()
    manifest = prepare_output(
        out, manifest, force=force, resume=resume, compare=COMPARE, owned=OWNED, inputs=inputs
    )
    job = PointJob(
        experiment.scenario,
        experiment.spec.seed,
        design.names,
        design.matrix,
        experiment.fixed,
        list(experiment.outcomes),
        draws,
    )
    try:
        tally = run_points(
            job, out, "tally", chunks, workers, f"{kind} {experiment.name}", show, scheduler
        )
    except BaseException:
        release(out)
        raise
    return PointRun(experiment, design, out, tally, manifest)


def experiment_manifest(
    kind: str, experiment: Experiment, design: Design, chunks: list[Chunk]
) -> dict[str, Any]:
    """What a sweep or sensitivity directory records, and what `--resume` must match."""
    sc = experiment.scenario
    return {
        "kind": kind,
        "experiment": {
            "name": experiment.name,
            "path": experiment.path,
            "hash": experiment.content_hash,
            "copy": "experiment.yaml",
        },
        "scenario": {
            "name": sc.name,
            "path": sc.path,
            "hash": sc.content_hash,
            "copy": "scenario.yaml",
        },
        "varied": experiment.parameter_names,
        "parameters": {
            "varied": [
                {
                    "name": v.name,
                    "low": v.low,
                    "high": v.high,
                    "values": list(v.values) if v.values else None,
                }
                for v in experiment.varied
            ],
            "fixed": experiment.fixed,
        },
        "design": {
            "method": design.method,
            **design.settings,
            "matrix_sha256": hashlib.sha256(design.matrix.tobytes()).hexdigest(),
        },
        "points": design.points,
        "replications": experiment.spec.replications,
        "runs": design.points * experiment.spec.replications,
        "seed": experiment.spec.seed,
        "outcomes": [o.label for o in experiment.outcomes],
        "chunks": len(chunks),
        "lanes_per_chunk": max(c.runs for c in chunks),
        "versions": versions(),
        "started": now(),
        "finished": None,
    }


def input_files(experiment: Experiment) -> dict[str, bytes]:
    """The experiment and scenario files as they were run, to be kept beside the results."""
    return {
        "experiment.yaml": Path(experiment.path).read_bytes(),
        "scenario.yaml": Path(experiment.scenario.path).read_bytes(),
    }


def design_frame(design: Design) -> pd.DataFrame:
    """The design's points: point, one column per varied parameter."""
    frame = pd.DataFrame(design.matrix, columns=design.names)
    frame.insert(0, "point", np.arange(design.points))
    return frame


def results_table(design: Design, experiment: Experiment, tally: Tally) -> pd.DataFrame:
    """Tidy results: one row per point and outcome, with its 95% Monte Carlo interval."""
    binary = np.array([o.binary for o in experiment.outcomes])
    upper = np.array([o.upper for o in experiment.outcomes])
    mean, low, high = interval(
        binary[None, :], tally.n, tally.total, tally.total_sq, upper=upper[None, :]
    )
    points, outcomes = tally.n.shape
    frame = pd.DataFrame(
        {
            "point": np.repeat(np.arange(points), outcomes),
            "outcome": np.tile([o.label for o in experiment.outcomes], points),
            "estimate": mean.ravel(),
            "low": low.ravel(),
            "high": high.ravel(),
            "n": tally.n.ravel(),
        }
    )
    values = np.repeat(design.matrix, outcomes, axis=0)
    for j, name in enumerate(design.names):
        frame.insert(1 + j, name, values[:, j])
    return frame


def write_table(out: Path, name: str, table: pd.DataFrame) -> None:
    """Write a table as Parquet and CSV, each atomically."""
    sink = io.BytesIO()
    table.to_parquet(sink, index=False)
    write_bytes_atomic(out / f"{name}.parquet", sink.getvalue())
    write_bytes_atomic(out / f"{name}.csv", table.to_csv(index=False).encode())
