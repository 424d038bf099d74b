"""Run many parameter points as lanes, in chunks, on local processes or Dask, resumably.

Shared by sweeps, sensitivity analyses, calibration and backtests. Every point runs replications
0..R-1 of the experiment's seed (`sim.batch.lanes.simulate_chunk` with `points=`), so all points
share their random numbers (common random numbers). A chunk is a block of points times a block of
replications; it runs through the same task and runner as a batch chunk (`sim.batch.tasks`), and
its tallies (`sim.batch.outcomes.Tally`) go through the same ledger (`sim.batch.ledger`), so an
interrupted run resumes with the finished, verified chunks and ends with the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.batch.chunkfiles import add_tally
from sim.batch.engines import local_workers, make_engine
from sim.batch.jobs import DEFAULTS, RunOptions
from sim.batch.ledger import end_ledger_line, finished_chunks, read_ledger
from sim.batch.manifests import read_manifest
from sim.batch.outcomes import RunMeasure, Tally
from sim.batch.posterior import PosteriorDraws
from sim.batch.progress import runs_progress
from sim.batch.tasks import ChunkDone, ChunkTask, run_chunks
from sim.model.scenario import Scenario

LANES_PER_CHUNK = 20_000  # lanes stepped together: ~0.6 s a chunk on a five-member scenario


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


def chunk_task(job: PointJob, chunk: Chunk, run_id: str, kind: str) -> ChunkTask:
    """The task for one chunk of a job, carrying only its own points' parameter rows."""
    rows = job.matrix[chunk.start : chunk.stop]
    parameters: dict[str, Any] = dict(job.fixed)
    parameters.update({n: rows[:, j].copy() for j, n in enumerate(job.names)})
    return ChunkTask(
        chunk.index,
        job.scenario,
        job.seed,
        chunk.first,
        chunk.replications,
        run_id,
        parameters=parameters,
        points=chunk.stop - chunk.start,
        point_start=chunk.start,
        measures=tuple(job.measures),
        tally_kind=kind,
        posterior=job.posterior,
    )


def read_tallies(out: Path, kind: str, chunks: list[Chunk], job: PointJob, run_id: str) -> Tally:
    """Sum every chunk's tallies from disk (each checked against the ledger) into one Tally."""
    total = Tally.zeros(job.points, len(job.measures))
    ledger = read_ledger(out)
    for chunk in chunks:
        add_tally(total, out, kind, chunk.index, run_id, ledger)
    return total


def run_points(
    job: PointJob,
    out: Path,
    kind: str,
    chunks: list[Chunk],
    options: RunOptions = DEFAULTS,
    description: str = "runs",
) -> Tally:
    """Run every chunk not yet on disk (kind `kind`) into the prepared, locked directory `out`,
    then return the tallies of all chunks.

    Chunks run on local processes (`options.workers`, default all cores) or a Dask cluster
    (`options.scheduler`), finish in any order and are written as they finish; Ctrl-C stops the
    workers and keeps the finished chunks, so `--resume` carries on from there (it runs again any
    chunk whose file fails its check).
    """
    manifest = read_manifest(out)
    run_id = str(manifest.run_id)
    end_ledger_line(out)
    done = set(finished_chunks(out, [kind], len(chunks), run_id))
    todo = [chunk_task(job, c, run_id, kind) for c in chunks if c.index not in done]
    total_runs = sum(c.runs for c in chunks)
    at_start = total_runs - sum(t.runs for t in todo)
    progress = {"runs": at_start}
    with runs_progress(description, options.progress) as update:
        update(at_start, total_runs, at_start)
        if todo:
            workers = min(local_workers(options.workers), len(todo))
            engine = make_engine(workers, options.scheduler)

            def written(chunk: ChunkDone) -> None:
                progress["runs"] += chunk.runs
                update(progress["runs"], total_runs, at_start)

            run_chunks(out, run_id, todo, engine, written, manifest.resume_command(out))
    return read_tallies(out, kind, chunks, job, run_id)
