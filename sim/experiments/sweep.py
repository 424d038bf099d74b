"""`alliance sweep`: outcomes with confidence intervals at every point of a grid or Latin hypercube.

Output directory (documented in docs/experiments.md): manifest.json (kind "sweep"), copies of
the experiment and scenario files, design.csv (the points), chunks/ (tallies, resumable) and
results.csv / results.parquet: point, one column per varied parameter, outcome, estimate, low,
high, n.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.batch.jobs import DEFAULTS, RunDir, RunOptions
from sim.batch.manifests import ExperimentManifest, FileRef, PosteriorRef
from sim.batch.outcomes import Tally, interval
from sim.batch.pointruns import (
    Chunk,
    PointJob,
    plan_chunks,
    run_points,
)
from sim.batch.posterior import load_posterior
from sim.batch.store import now, versions
from sim.experiments.designs import Design, build_design
from sim.experiments.experiment import Experiment, load_experiment, require_method

RESULT_COLUMNS = ("point", "outcome", "estimate", "low", "high", "n")


@dataclass
class PointRun:
    """An experiment's design run into an output directory, with its tallies."""

    experiment: Experiment
    design: Design
    run: RunDir
    tally: Tally


def sweep(
    experiment_path: Path,
    out: Path,
    options: RunOptions = DEFAULTS,
    posterior: Path | None = None,
) -> pd.DataFrame:
    """Run a grid or Latin-hypercube experiment and write its tidy results table.

    With `posterior`, every replication draws the parameters the experiment neither varies nor
    fixes from that calibration's samples (`sim.batch.posterior`)."""
    experiment = load_experiment(experiment_path)
    require_method(experiment, ("grid", "lhs"), "sweep")
    with run_design(experiment, "sweep", out, options, posterior) as done:
        results = results_table(done.design, done.experiment, done.tally)
        done.run.write_table("results", results)
    return results


@contextmanager
def run_design(
    experiment: Experiment,
    kind: str,
    out: Path,
    options: RunOptions,
    posterior: Path | None = None,
) -> Iterator[PointRun]:
    """Open `out` for the experiment (file copies, design, manifest), run every chunk not yet
    done and tally it; the caller writes its tables while the directory is still held."""
    design = build_design(experiment)
    chunks = plan_chunks(design.points, experiment.spec.replications)
    manifest = experiment_manifest(kind, experiment, design, chunks)
    design_frame(design).to_csv(buffer := io.StringIO(), index=False)
    inputs = {**input_files(experiment), "design.csv": buffer.getvalue().encode()}
    draws = None
    if posterior is not None:
        own = set(experiment.parameter_names) | set(experiment.fixed)
        draws = load_posterior(posterior, experiment.scenario, own)
        manifest.posterior = PosteriorRef.model_validate(draws.describe())
    job = PointJob(
        experiment.scenario,
        experiment.spec.seed,
        design.names,
        design.matrix,
        experiment.fixed,
        list(experiment.outcomes),
        draws,
    )
    with RunDir(out, manifest, options, inputs) as run:
        tally = run_points(job, out, "tally", chunks, options, f"{kind} {experiment.name}")
        yield PointRun(experiment, design, run, tally)


def experiment_manifest(
    kind: str, experiment: Experiment, design: Design, chunks: list[Chunk]
) -> ExperimentManifest:
    """What a sweep or sensitivity directory records, and what `--resume` must match."""
    sc = experiment.scenario
    return ExperimentManifest(
        kind=kind,
        experiment=experiment_ref(experiment),
        scenario=FileRef(name=sc.name, path=sc.path, hash=sc.content_hash, copy="scenario.yaml"),
        varied=experiment.parameter_names,
        parameters={
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
        design={
            "method": design.method,
            **design.settings,
            "matrix_sha256": hashlib.sha256(design.matrix.tobytes()).hexdigest(),
        },
        points=design.points,
        replications=experiment.spec.replications,
        runs=design.points * experiment.spec.replications,
        seed=experiment.spec.seed,
        outcomes=[o.label for o in experiment.outcomes],
        chunks=len(chunks),
        lanes_per_chunk=max(c.runs for c in chunks),
        versions=versions(),
        started=now(),
    )


def experiment_ref(experiment: Experiment) -> FileRef:
    """The experiment file as a manifest records it (its copy is `experiment.yaml`)."""
    return FileRef(
        name=experiment.name,
        path=experiment.path,
        hash=experiment.content_hash,
        copy="experiment.yaml",
    )


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
