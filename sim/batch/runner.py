"""Monte Carlo batches: N replications of a scenario in chunks, written as they finish.

Replication r always draws the random numbers of stream block r // STREAM_BLOCK of the seed
(sim.model.streams), so a batch's results are the same whatever the chunk size, the number of
workers, the engine, or how often it was interrupted and resumed. Workers return each chunk's
tables as Parquet bytes; this process writes them atomically and keeps nothing else, so memory is
flat in N."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.batch import store
from sim.batch.chunkfiles import AGGREGATES, PASSAGE, TRAJECTORIES
from sim.batch.conditioning import CONDITIONING, Condition
from sim.batch.engines import local_workers, make_engine
from sim.batch.jobs import DEFAULTS, RunDir, RunOptions
from sim.batch.ledger import end_ledger_line, finished_chunks
from sim.batch.manifests import BatchManifest, BatchScenario
from sim.batch.posterior import (
    RUNS_PER_DRAW,
    PosteriorDraws,
    check_runs_per_draw,
    load_posterior,
)
from sim.batch.tasks import ChunkDone, ChunkTask, check_run_arguments, run_chunks
from sim.model.errors import InputError, RunStopped
from sim.model.parameters import BY_NAME
from sim.model.scenario import Scenario, load_scenario, with_parameters
from sim.model.streams import STREAM_BLOCK

KIND = "batch"
SCENARIO_COPY = "scenario.yaml"
MAX_CHUNK = 50_000  # lanes per chunk by default: ~60 MB per worker for a 5-member scenario
MAX_TRAJECTORY_RUNS = 10_000
CHUNKS_PER_WORKER = 4  # default chunking aims for this many chunks per worker (load balance)


@dataclass
class BatchOutcome:
    """How a batch call ended."""

    out: Path
    manifest: BatchManifest
    runs_done: int
    chunks_done: int
    chunks_total: int
    seconds: float
    runs_at_start: int = 0
    cpu_seconds: float = 0.0
    interrupted: bool = False


def check_chunk_size(chunk_size: int) -> None:
    """Chunks are whole stream blocks, so any chunking reproduces the same replications."""
    if chunk_size <= 0 or chunk_size % STREAM_BLOCK:
        raise InputError(
            "--chunk-size",
            str(chunk_size),
            f"expected a positive multiple of {STREAM_BLOCK} (runs per random-number block)",
        )


def default_chunk_size(runs: int, workers: int) -> int:
    """A few chunks per worker for load balance, in whole blocks, at most MAX_CHUNK lanes."""
    per_chunk = math.ceil(runs / (CHUNKS_PER_WORKER * max(workers, 1)))
    return min(MAX_CHUNK, max(STREAM_BLOCK, math.ceil(per_chunk / STREAM_BLOCK) * STREAM_BLOCK))


def chunk_count(runs: int, chunk_size: int) -> int:
    """Number of chunks; the last one may be shorter."""
    return math.ceil(runs / chunk_size)


def chunk_kinds(trajectories: bool, conditioned: bool = False) -> tuple[str, ...]:
    """The tables every finished chunk has on disk."""
    kinds = (PASSAGE, AGGREGATES, TRAJECTORIES) if trajectories else (PASSAGE, AGGREGATES)
    return (*kinds, CONDITIONING) if conditioned else kinds


def parse_parameters(items: list[str]) -> dict[str, float]:
    """`NAME=VALUE` pairs from the command line, checked against the parameter table."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in BY_NAME:
            raise InputError(
                "--param", item, f"expected NAME=VALUE with NAME one of {', '.join(BY_NAME)}"
            )
        try:
            value = float(text)
        except ValueError:
            raise InputError("--param", item, "expected a number after '='") from None
        spec = BY_NAME[name]
        if not spec.low <= value <= spec.high:
            raise InputError("--param", item, f"expected a value in [{spec.low}, {spec.high}]")
        if name in values:
            raise InputError(
                "--param", item, f"{name} is given twice; expected each parameter at most once"
            )
        values[name] = value
    return values


def batch_manifest(
    scenario: Scenario,
    runs: int,
    seed: int,
    chunk_size: int,
    overrides: dict[str, float],
    trajectories: bool,
    posterior: PosteriorDraws | None = None,
) -> BatchManifest:
    """What a batch is: everything needed to reproduce it, and to check a resume against it."""
    return BatchManifest(
        posterior=posterior.describe() if posterior else None,
        scenario=BatchScenario(
            name=scenario.name,
            hash=scenario.content_hash,
            source=str(scenario.path),
            copy=SCENARIO_COPY,
            members=list(scenario.members),
            months=scenario.months,
            start=scenario.month_label(0),
            end=scenario.month_label(scenario.months - 1),
        ),
        parameters=with_parameters(scenario, overrides),
        parameter_overrides=overrides,
        seed=seed,
        runs=runs,
        chunk_size=chunk_size,
        chunks=chunk_count(runs, chunk_size),
        stream_block=STREAM_BLOCK,
        trajectories=trajectories,
        chunk_files=list(chunk_kinds(trajectories)),
        versions=store.versions(),
        started=store.now(),
    )


Finished = Callable[[RunDir, BatchOutcome], None]


def run_batch(
    scenario_path: Path,
    out: Path,
    runs: int,
    seed: int = 0,
    *,
    options: RunOptions = DEFAULTS,
    chunk_size: int | None = None,
    trajectories: bool = False,
    overrides: dict[str, float] | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    conditions: tuple[Condition, ...] = (),
    forecast: dict[str, Any] | None = None,
    posterior: Path | None = None,
    then: Finished | None = None,
    runs_per_draw: int = RUNS_PER_DRAW,
) -> BatchOutcome:
    """Run (or finish) a batch into `out`; `on_progress(runs_done, runs_total, runs_at_start)`.

    On Ctrl-C the finished chunks stay on disk and the outcome says `interrupted`; a full disk or
    a lost cluster raises RunStopped after recording the session (the chunks written stay). With
    `conditions` (sim.experiments.forecast) lanes are conditioned on facts, and `forecast`
    (what was conditioned on) goes into the manifest. With `posterior`, replications are
    grouped by parameter draw, `runs_per_draw` runs each (`sim.batch.posterior`). When every
    chunk is done, `then(run, outcome)` runs while the directory is still locked (the summary,
    a forecast's record).
    """
    check_run_arguments(runs=runs, seed=seed)
    scenario = load_scenario(scenario_path)
    if trajectories and runs > MAX_TRAJECTORY_RUNS:
        raise InputError(
            "--trajectories",
            f"--runs {runs}",
            f"full trajectories are kept for at most {MAX_TRAJECTORY_RUNS} runs; "
            "use fewer runs or drop --trajectories (the monthly aggregates need no trajectories)",
        )
    if chunk_size is not None:
        check_chunk_size(chunk_size)
    overrides = overrides or {}
    draws = None
    if posterior:
        check_runs_per_draw(runs_per_draw)
        draws = load_posterior(posterior, scenario, set(overrides)).grouped(runs_per_draw)
    if draws is not None and conditions:
        draws.refuse_double_counting("--posterior")
    planned_workers = local_workers(options.workers, runs)
    size = min(chunk_size or default_chunk_size(runs, planned_workers), runs)
    if options.resume and chunk_size is None and (out / store.MANIFEST).is_file():
        stored = store.read_manifest(out, KIND)
        size = stored.chunk_size if isinstance(stored, BatchManifest) else size
    asked = batch_manifest(scenario, runs, seed, size, overrides, trajectories, draws)
    if forecast is not None:
        asked.forecast = forecast
        asked.chunk_files = list(chunk_kinds(trajectories, bool(conditions)))
    inputs = {SCENARIO_COPY: Path(scenario.path).read_bytes()}
    cluster = make_engine(None, options.scheduler) if options.scheduler else None  # reachable?
    plan = _ChunkPlan(scenario, cluster, planned_workers, on_progress, conditions, draws)
    handed = False
    try:
        with RunDir(out, asked, options, inputs) as run:
            handed = True  # the chunks' engine now: closed when the chunks are done
            outcome = _run_chunks(run, plan)
            if not outcome.interrupted and then is not None:
                then(run, outcome)
            outcome.manifest = run.manifest
    finally:
        if cluster is not None and not handed:
            cluster.close()
    return outcome


@dataclass
class _ChunkPlan:
    """What running a batch's chunks needs besides its directory."""

    scenario: Scenario
    cluster: Any
    planned_workers: int
    on_progress: Callable[[int, int, int], None] | None
    conditions: tuple[Condition, ...]
    draws: PosteriorDraws | None


def _run_chunks(run: RunDir, plan: _ChunkPlan) -> BatchOutcome:
    """Run the chunks not yet done (and verified) into a prepared, locked batch directory."""
    manifest, out, cluster, on_progress = run.manifest, run.out, plan.cluster, plan.on_progress
    assert isinstance(manifest, BatchManifest)
    runs, size, seed = manifest.runs, manifest.chunk_size, manifest.seed
    total, run_id = manifest.chunks, str(manifest.run_id)
    end_ledger_line(out)
    finished = set(finished_chunks(out, manifest.chunk_files, total, run_id))
    todo = [
        ChunkTask(
            i,
            plan.scenario,
            seed,
            i * size,
            min(size, runs - i * size),
            run_id,
            parameters=manifest.parameter_overrides,
            trajectories=manifest.trajectories,
            conditions=plan.conditions,
            posterior=plan.draws,
        )
        for i in range(total)
        if i not in finished
    ]
    runs_at_start = sum(min(size, runs - i * size) for i in finished)
    outcome = BatchOutcome(out, manifest, runs_at_start, len(finished), total, 0.0, runs_at_start)
    session: dict[str, Any] = {"started": store.now(), "chunks_before": len(finished)}
    started = time.perf_counter()
    if on_progress:
        on_progress(outcome.runs_done, runs, runs_at_start)
    if cluster and not todo:
        cluster.close()
    stopped: RunStopped | None = None
    if todo:
        engine = cluster or make_engine(min(plan.planned_workers, len(todo)), None)
        session["engine"] = run.options.scheduler or ("local" if engine.workers > 1 else "serial")
        session["workers"] = engine.workers

        def written(done: ChunkDone) -> None:
            outcome.runs_done += done.runs
            outcome.chunks_done += 1
            outcome.cpu_seconds += done.cpu_seconds
            if on_progress:
                on_progress(outcome.runs_done, runs, runs_at_start)

        try:
            run_chunks(out, run_id, todo, engine, written, manifest.resume_command(out))
        except KeyboardInterrupt:
            outcome.interrupted = True
        except RunStopped as exc:
            outcome.interrupted, stopped = True, exc
    outcome.seconds = time.perf_counter() - started
    session.update(
        ended=store.now(),
        chunks_after=outcome.chunks_done,
        seconds=round(outcome.seconds, 3),
        worker_cpu_seconds=round(outcome.cpu_seconds, 3),
    )
    manifest.sessions = [*manifest.sessions, session]
    store.remove_temporaries(out)
    run.stopped = outcome.interrupted
    if stopped is not None:
        raise stopped  # the run's directory records the session on its way out
    if not outcome.interrupted:
        run.finish_now()  # before `then`: a summary's fingerprint includes the time
    return outcome


def is_complete(out: Path, manifest: BatchManifest) -> tuple[int, int]:
    """(finished chunks, all chunks) of a batch directory, by the ledger (not yet verified)."""
    kinds, total = manifest.chunk_files, manifest.chunks
    done = finished_chunks(out, kinds, total, str(manifest.run_id), verify=False)
    return len(done), total
