"""Run many parameter points as lanes, in chunks, on local processes, resumably.

Shared by sweeps, sensitivity analyses and calibration. Every point runs replications 0..R-1 of the
experiment's seed (`sim.batch.lanes.simulate_chunk` with `points=`), so all points share their
random numbers (common random numbers). A chunk is a block of points times a block of replications;
its tallies (`sim.batch.outcomes.Tally`) are written atomically through `sim.batch.store`, so an
interrupted run resumes with the finished chunks and ends with the same numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from sim.batch.engines import available_cores, make_engine
from sim.batch.lanes import simulate_chunk
from sim.batch.outcomes import RunMeasure, Tally, tally_runs
from sim.batch.posterior import PosteriorDraws
from sim.batch.progress import runs_progress
from sim.batch.store import (
    arrays_table,
    chunk_path,
    finished_chunks,
    parquet_bytes,
    table_arrays,
    write_chunk,
)
from sim.model.scenario import Scenario

LANES_PER_CHUNK = 20_000  # lanes stepped together: ~0.6 s a chunk on the CSTO scenario


@dataclass(frozen=True)
class Chunk:
    """Points start..stop-1, replications first..first+replications-1."""

    index: int
    start: int
    stop: int
    first: int
    replications: int

    @property
    def runs(self) -> int:
        return (self.stop - self.start) * self.replications


@dataclass
class PointJob:
    """What every chunk of a run needs: the scenario, seed, points and what to tally."""

    scenario: Scenario
    seed: int
    names: list[str]
    matrix: np.ndarray  # (points, parameters)
    fixed: dict[str, float]
    measures: list[RunMeasure]
    posterior: PosteriorDraws | None = None  # each replication its own parameter draw

    @property
    def points(self) -> int:
        return int(self.matrix.shape[0])


def plan_chunks(points: int, replications: int, lanes: int | None = None) -> list[Chunk]:
    """Cut points x replications into chunks of about `lanes` lanes, points kept whole if small."""
    lanes = lanes or LANES_PER_CHUNK
    if replications >= lanes:
        per = -(-replications // -(-replications // lanes))
        return [
            Chunk(i, p, p + 1, r, min(per, replications - r))
            for i, (p, r) in enumerate(
                (p, r) for p in range(points) for r in range(0, replications, per)
            )
        ]
    step = max(1, lanes // replications)
    return [
        Chunk(i, s, min(s + step, points), 0, replications)
        for i, s in enumerate(range(0, points, step))
    ]


@dataclass
class ChunkTask:
    """One chunk with only its own points' parameter rows: what a worker receives."""

    scenario: Scenario
    seed: int
    names: list[str]
    rows: np.ndarray  # (chunk points, parameters)
    fixed: dict[str, float]
    measures: list[RunMeasure]
    chunk: Chunk
    posterior: PosteriorDraws | None = None


def chunk_task(job: PointJob, chunk: Chunk) -> ChunkTask:
    """The task for one chunk of a job."""
    rows = job.matrix[chunk.start : chunk.stop].copy()
    return ChunkTask(
        job.scenario, job.seed, job.names, rows, job.fixed, job.measures, chunk, job.posterior
    )


def run_chunk(task: ChunkTask) -> Tally:
    """Simulate one chunk and tally its measures per point."""
    chunk = task.chunk
    parameters: dict[str, Any] = dict(task.fixed)
    parameters.update({n: task.rows[:, j] for j, n in enumerate(task.names)})
    months = sorted({m for measure in task.measures for m in measure.status_months()})
    result = simulate_chunk(
        task.scenario,
        task.seed,
        chunk.first,
        chunk.replications,
        parameters=parameters,
        points=len(task.rows),
        aggregate=False,
        trajectories=bool(months),
        lane_values=task.posterior.lane_values(
            task.seed, chunk.first, chunk.replications, len(task.rows)
        )
        if task.posterior
        else None,
    )
    status_at = None
    if months:
        status = result.trajectories["status"]  # (months, members, lanes)
        status_at = {m: status[m].T for m in months}
    return tally_runs(task.measures, result.first_passage, status_at, len(task.rows))


def run_task(task: ChunkTask) -> tuple[Chunk, bytes]:
    """Run a chunk and encode its tallies (the function engines map over tasks)."""
    return task.chunk, chunk_bytes(task.chunk, run_chunk(task))


def chunk_bytes(chunk: Chunk, tally: Tally) -> bytes:
    """A chunk's tallies as Parquet bytes (one row per point)."""
    arrays = {
        "point": np.arange(chunk.start, chunk.stop),
        "n": tally.n,
        "total": tally.total,
        "total_sq": tally.total_sq,
    }
    return parquet_bytes(arrays_table(arrays, {"first": chunk.first, "reps": chunk.replications}))


def read_tallies(
    out: Path, kind: str, chunks: Sequence[Chunk], points: int, measures: int
) -> Tally:
    """Sum every chunk's tallies from disk into one Tally over all points."""

    total = Tally.zeros(points, measures)
    for chunk in chunks:
        arrays, _ = table_arrays(pq.read_table(chunk_path(out, kind, chunk.index)))
        rows = arrays["point"]
        total.n[rows] += arrays["n"]
        total.total[rows] += arrays["total"]
        total.total_sq[rows] += arrays["total_sq"]
    return total


def run_points(
    job: PointJob,
    out: Path,
    kind: str,
    chunks: list[Chunk],
    workers: int | None = None,
    description: str = "runs",
    show_progress: bool = True,
    scheduler: str | None = None,
) -> Tally:
    """Run every chunk not yet on disk (kind `kind`), then return the tallies of all chunks.

    Chunks run on local processes (`workers`, default all cores) or a Dask cluster
    (`scheduler`), finish in any order and are written as they finish; Ctrl-C stops the workers
    and keeps the finished chunks, so `--resume` carries on from there.
    """
    done = set(finished_chunks(out, [kind], len(chunks)))
    todo = [c for c in chunks if c.index not in done]
    total_runs = sum(c.runs for c in chunks)
    at_start = done_runs = total_runs - sum(c.runs for c in todo)
    with runs_progress(description, show_progress) as update:
        update(done_runs, total_runs, at_start)
        if todo:
            engine = make_engine(min(workers or available_cores(), len(todo)), scheduler)
            try:
                tasks = (chunk_task(job, c) for c in todo)
                for chunk, data in engine.map_unordered(run_task, tasks):
                    write_chunk(out, chunk.index, {kind: data})
                    done_runs += chunk.runs
                    update(done_runs, total_runs, at_start)
            except BaseException:
                engine.abort()
                raise
            engine.close()
    return read_tallies(out, kind, chunks, job.points, len(job.measures))
