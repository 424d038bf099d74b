"""The one chunk task and the one runner behind batches and point runs (sweep, sensitivity,
calibration, backtest).

A chunk is replications first..first+replications-1 of the run's seed, at one or more parameter
points stepped together as lanes. A batch chunk keeps every run's first passages and the monthly
aggregates (`sim.batch.chunkfiles.encode_chunk`); a point-run chunk tallies its measures per point
(`encode_tally`). `run_chunks` maps the tasks over an engine and writes each finished chunk
through the ledger (`sim.batch.ledger.write_chunk`) as it arrives, so memory stays flat and an
interrupted run keeps everything finished.
"""

from __future__ import annotations

import errno
import gc
import numbers
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, CancelledError
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.batch.chunkfiles import encode_chunk, encode_tally
from sim.batch.conditioning import CONDITIONING, Condition, simulate_conditioned_chunk
from sim.batch.engines import Engine
from sim.batch.lanes import simulate_chunk
from sim.batch.ledger import identity, write_chunk
from sim.batch.manifests import read_manifest
from sim.batch.outcomes import RunMeasure, tally_runs
from sim.batch.store import parquet_bytes
from sim.model.errors import InputError, Interrupted, RunStopped
from sim.model.scenario import Scenario

if TYPE_CHECKING:
    from sim.batch.posterior import PosteriorDraws

MACHINE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}  # the disk, not the input
MAX_RUNS = 1_000_000_000  # runs one command may ask for (a batch, or points x replications)


@dataclass(frozen=True)
class ChunkTask:
    """One chunk to simulate: what a worker receives.

    `parameters` are floats, or arrays over the chunk's `points` for a point run. With `measures`
    the chunk is tallied per point into a table of kind `tally_kind` (points numbered from
    `point_start`); without, it is a batch chunk (first passages, aggregates, `trajectories`).
    """

    index: int
    scenario: Scenario
    seed: int
    first: int
    replications: int
    run_id: str
    parameters: dict[str, Any] = field(default_factory=dict)
    points: int = 1
    point_start: int = 0
    measures: tuple[RunMeasure, ...] | None = None
    tally_kind: str = "tally"
    trajectories: bool = False
    conditions: tuple[Condition, ...] = ()  # a batch chunk conditioned on facts (forecasts)
    posterior: PosteriorDraws | None = None  # each replication its own parameter draw

    def lane_values(self) -> dict[str, Any] | None:
        """The posterior draws' per-lane parameter arrays (None without a posterior)."""
        if self.posterior is None:
            return None
        return self.posterior.lane_values(self.seed, self.first, self.replications, self.points)

    @property
    def runs(self) -> int:
        """Lanes in the chunk: points x replications."""
        return self.points * self.replications


@dataclass
class ChunkDone:
    """What a worker sends back: the chunk's encoded tables."""

    index: int
    runs: int
    files: dict[str, bytes]
    cpu_seconds: float


def compute_chunk(task: ChunkTask) -> ChunkDone:
    """Simulate one chunk and encode its tables (runs in a worker process or on a cluster)."""
    cpu_start = time.process_time()
    mark = identity(task.run_id, task.index, task.seed)
    if task.measures is None:
        counts = None
        if task.conditions:
            result, counts = simulate_conditioned_chunk(
                task.scenario, task.seed, task.first, task.replications, task.conditions,
                task.parameters, task.posterior,
            )  # fmt: skip
        else:
            result = simulate_chunk(
                task.scenario,
                task.seed,
                task.first,
                task.replications,
                parameters=task.parameters,
                trajectories=task.trajectories,
                lane_values=task.lane_values(),
            )
            if task.posterior is not None:
                result.draw = task.posterior.draw_of(task.first, task.replications)
        patron = task.scenario.spec.patron.name
        files = encode_chunk(result, task.first, task.scenario.members, patron, mark)
        if counts is not None:
            files[CONDITIONING] = parquet_bytes(counts, mark)
    else:
        months = sorted({m for measure in task.measures for m in measure.status_months()})
        result = simulate_chunk(
            task.scenario,
            task.seed,
            task.first,
            task.replications,
            parameters=task.parameters,
            points=task.points,
            aggregate=False,
            trajectories=bool(months),
            lane_values=task.lane_values(),
        )
        status_at = None
        if months:
            status = result.trajectories["status"]  # (months, members, lanes)
            status_at = {m: status[m].T for m in months}
        tally = tally_runs(list(task.measures), result.first_passage, status_at, task.points)
        data = encode_tally(tally, task.point_start, task.first, task.replications, mark)
        files = {task.tally_kind: data}
    del result
    gc.collect()  # a model and its agents form reference cycles: free its arrays before the next
    return ChunkDone(task.index, task.runs, files, time.process_time() - cpu_start)


def check_run_arguments(*, runs: object = None, seed: object = None) -> None:
    """Refuse a Python caller's bad runs or seed as the command line does, before anything is
    written (None: not given); InputError names the matching option. (`RunOptions` checks the
    workers.)"""
    given = (("--runs", runs, 1), ("--seed", seed, 0))
    for option, value, lowest in given:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(option, repr(value), "expected a whole number")
        if value < lowest:
            what = "a positive whole number" if lowest else "a whole number, 0 or more"
            raise InputError(option, str(value), f"expected {what}")
    if runs is not None:
        check_run_count(int(runs), "--runs", str(runs))


def check_run_count(runs: int, where: str, what: str) -> None:
    """Refuse a run too large to finish (MAX_RUNS), before anything is written."""
    if runs > MAX_RUNS:
        raise InputError(
            where, what, f"{runs:,} runs asked; expected at most {MAX_RUNS:,} in one command"
        )


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) for the few milliseconds of writing a chunk; it arrives after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: held.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


@contextmanager
def stops_resumably(out: Path) -> Iterator[None]:
    """Run a long job's work in its prepared directory `out` so that Ctrl-C, a full disk, or a
    stop inside an inner run ends with one line naming the file and the command that finishes
    this job (not the inner one)."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(str(out), _finishing(out)) from None
    except RunStopped as exc:
        exc.hint = _finishing(out) or exc.hint
        raise
    except OSError as exc:
        if exc.errno not in MACHINE_ERRORS:
            raise
        where = str(exc.filename or out)
        raise RunStopped(where, exc.strerror or str(exc), _finishing(out)) from None


def _finishing(out: Path) -> str:
    """The command that finishes the run in `out`, from its manifest ("" where there is none)."""
    try:
        return read_manifest(out).resume_command(out)
    except (InputError, OSError, KeyError, ValueError):
        return ""


def _engine_failure(exc: Exception) -> bool:
    """Did the engine fail (a worker or cluster lost, a future cancelled), not the task?"""
    engine_errors = (CancelledError, BrokenExecutor, OSError, TimeoutError, EOFError)
    return isinstance(exc, engine_errors) or type(exc).__module__.split(".")[0] == "distributed"


def run_chunks(
    out: Path,
    run_id: str,
    todo: Sequence[ChunkTask],
    engine: Engine,
    on_done: Callable[[ChunkDone], None],
    hint: str,
) -> None:
    """Run every task on `engine`, writing each chunk through the ledger as it finishes.

    Ctrl-C stops the engine and is raised again; a full disk, or an engine that fails (a Dask
    cluster lost), stops it and raises RunStopped with `hint`, the command that finishes the run.
    The chunks already written stay.
    """
    finished = False
    try:
        for done in engine.map_unordered(compute_chunk, todo):
            with _ctrl_c_deferred():  # a chunk is written and counted whole, or not at all
                try:
                    write_chunk(out, done.index, done.files, run_id)
                except OSError as exc:
                    raise RunStopped(
                        str(exc.filename or out), f"cannot write a chunk ({exc.strerror})", hint
                    ) from None
                on_done(done)
        finished = True
    except (InputError, RunStopped):
        raise
    except Exception as exc:
        if not _engine_failure(exc):
            raise  # the task's own error (e.g. no lane consistent with a fact): its caller's
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise RunStopped(str(out), f"the chunks' engine failed ({cause})", hint) from None
    finally:
        if not finished:  # any exit but the end (Ctrl-C, an error) stops the engine's work
            engine.abort()
    engine.close()
