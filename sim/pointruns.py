"""Run many parameter points as lanes, in chunks, on local processes, resumably.

Shared by sweeps, sensitivity analyses and calibration. Every point runs replications
0..R-1 of the experiment's seed (`sim.lanes.simulate_chunk` with `points=`), so all points share
their random numbers (common random numbers). A chunk is a block of points times a block of
replications; its tallies (`sim.outcomes.Tally`) are written atomically through `sim.store`, so an
interrupted run resumes with the finished chunks and ends with the same numbers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from sim.lanes import simulate_chunk
from sim.outcomes import RunMeasure, Tally, tally_runs
from sim.scenario import Scenario
from sim.store import (
    arrays_table,
    chunk_path,
    finished_chunks,
    parquet_bytes,
    table_arrays,
    write_chunk,
)

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

    @property
    def points(self) -> int:
        return int(self.matrix.shape[0])


def plan_chunks(points: int, replications: int, lanes: int = LANES_PER_CHUNK) -> list[Chunk]:
    """Cut points x replications into chunks of about `lanes` lanes, points kept whole if small."""
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


def run_chunk(job: PointJob, chunk: Chunk) -> Tally:
    """Simulate one chunk and tally its measures per point."""
    rows = slice(chunk.start, chunk.stop)
    count = chunk.stop - chunk.start
    parameters: dict[str, Any] = dict(job.fixed)
    parameters.update({n: job.matrix[rows, j] for j, n in enumerate(job.names)})
    months = sorted({m for measure in job.measures for m in measure.status_months()})
    result = simulate_chunk(
        job.scenario,
        job.seed,
        chunk.first,
        chunk.replications,
        parameters=parameters,
        points=count,
        aggregate=False,
        trajectories=bool(months),
    )
    status_at = None
    if months:
        status = result.trajectories["status"]  # (months, members, lanes)
        status_at = {m: status[m].T for m in months}
    return tally_runs(job.measures, result.first_passage, status_at, count)


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


_WORKER_JOB: PointJob | None = None


def _init_worker(job: PointJob) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _worker_chunk(chunk: Chunk) -> tuple[Chunk, bytes]:
    assert _WORKER_JOB is not None
    return chunk, chunk_bytes(chunk, run_chunk(_WORKER_JOB, chunk))


def default_workers() -> int:
    """All the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_points(
    job: PointJob,
    out: Path,
    kind: str,
    chunks: list[Chunk],
    workers: int | None = None,
    description: str = "runs",
    show_progress: bool = True,
) -> Tally:
    """Run every chunk not yet on disk (kind `kind`), then return the tallies of all chunks.

    Chunks finish in any order and are written as they finish; Ctrl-C keeps the finished ones.
    """
    done = set(finished_chunks(out, [kind], len(chunks)))
    todo = [c for c in chunks if c.index not in done]
    total_runs = sum(c.runs for c in chunks)
    with progress_bar(show_progress) as progress:
        task = progress.add_task(
            description, total=total_runs, completed=total_runs - sum(c.runs for c in todo)
        )
        for chunk, data in _execute(job, todo, workers or default_workers()):
            write_chunk(out, chunk.index, {kind: data})
            progress.advance(task, chunk.runs)
    return read_tallies(out, kind, chunks, job.points, len(job.measures))


def _execute(job: PointJob, chunks: list[Chunk], workers: int) -> Iterator[tuple[Chunk, bytes]]:
    """Yield (chunk, bytes) as chunks finish, in this process or on a process pool."""
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield chunk, chunk_bytes(chunk, run_chunk(job, chunk))
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(job,),
    )
    try:
        pending: set[Future] = set()
        queue = iter(chunks)
        for chunk in queue:
            pending.add(pool.submit(_worker_chunk, chunk))
            if len(pending) >= 2 * workers:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(_worker_chunk, nxt))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class RunsPerSecond(ProgressColumn):
    """Runs per second over the recent past."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} runs/s", style="progress.data.speed")


def progress_bar(show: bool = True) -> Progress:
    """A rich progress bar: runs done of total, runs/s, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RunsPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show,
    )
