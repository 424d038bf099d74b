"""Where chunks run: in this process, in a pool of local processes, or on a Dask cluster.

Every engine maps one picklable function over tasks and yields results as they finish, keeping
only a few tasks in flight, so the caller can write each result and drop it (memory stays flat
however many chunks there are). Which engine ran a chunk never changes its result.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any, Protocol

from sim.model.errors import InputError

IN_FLIGHT_PER_WORKER = 2


def available_cores() -> int:
    """Cores this process may use (respects CPU affinity and containers' cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Engine(Protocol):
    """Runs `fn` over tasks and yields results as they finish."""

    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class SerialEngine:
    """One worker: run each task here, in order (no process start-up cost), after the same
    imports and garbage-collector freeze as a pool's workers (`import_chunk_modules`)."""

    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        import_chunk_modules()
        for task in tasks:
            yield fn(task)

    def abort(self) -> None:
        """Nothing runs outside this process."""

    def close(self) -> None:
        """Nothing to release."""


# What every worker imports before its first chunk (Mesa alone takes about a second). A
# forkserver imports them once; each worker is then a fork of it, ready at once.
WORKER_MODULES = (
    "__main__",
    "sim.model.model",
    "sim.batch.lanes",
    "sim.batch.fold",
    "sim.batch.chunkfiles",
)


# A batch this small runs faster in one process than it takes to start a pool of workers and
# send them its chunks (about 0.3 s of simulation per 10,000 runs of a ten-year scenario).
SERIAL_RUNS = 20_000


def local_workers(requested: int | None, runs: int | None = None) -> int:
    """Local worker processes for a request: all cores by default (one for a batch of at most
    SERIAL_RUNS runs, which one process does faster), never more than the cores (more only add
    memory and start-up time); says so on stderr when it caps a request."""
    cores = available_cores()
    if requested is None:
        return 1 if runs is not None and runs <= SERIAL_RUNS else cores
    if requested > cores:
        print(
            f"warning: --workers {requested} is more than the {cores} CPUs this process may use; "
            f"using {cores}",
            file=sys.stderr,
        )
        return cores
    return requested


@functools.cache
def import_chunk_modules() -> None:
    """Import what chunks need (already there in a worker forked from the forkserver) and freeze
    those objects out of the garbage collector, whose full passes after each chunk then cost
    microseconds instead of ~50 ms over Mesa's, pandas' and scipy's objects. Once per process:
    what is frozen is never collected, so later calls (a session running many batches) must not
    freeze the garbage of the runs between them."""
    for module in WORKER_MODULES:
        if module != "__main__":
            importlib.import_module(module)
    gc.freeze()


def _prepare_worker(lifeline: Connection) -> None:
    """Workers leave Ctrl-C to the parent, which stops them (no traceback per worker), and
    import and freeze what chunks need (`import_chunk_modules`). A thread watches the parent's
    lifeline and ends the worker at once when it closes (see LocalEngine)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import_chunk_modules()
    threading.Thread(target=_exit_when_cut, args=(lifeline,), daemon=True).start()


def _exit_when_cut(lifeline: Connection) -> None:
    """Block until the parent's end of the lifeline closes, then end this worker at once."""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()
    os._exit(ORPHANED)


ORPHANED = 75  # exit status of a worker whose parent went away or stopped the pool


def worker_context() -> multiprocessing.context.BaseContext:
    """How local workers start: forked from a single-threaded server that has already imported
    WORKER_MODULES ('forkserver', safe with threads), or 'spawn' where there is no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_MODULES))
    return context


def start_worker_server(
    workers: int | None = None, scheduler: str | None = None, runs: int | None = None
) -> None:
    """Start the forkserver's imports now, in parallel with this process's own start-up work,
    so that local workers are ready when the first chunk is submitted (nothing to do for one
    worker, a batch one process runs, a Dask cluster, or under 'spawn')."""
    small = runs is not None and runs <= SERIAL_RUNS
    if scheduler or workers == 1 or (workers is None and (small or available_cores() == 1)):
        return
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class LocalEngine:
    """A pool of `workers` local processes (see `worker_context`: safe with threads).

    Each worker holds the reading end of a pipe (the lifeline) whose only writing end is this
    process's. When this process dies, however it dies, the kernel closes that end and every
    worker exits within moments (and the forkserver with them); `abort` closes it on purpose to
    stop the workers in the middle of their chunks. Only public APIs: concurrent.futures and
    multiprocessing.
    """

    def __init__(self, workers: int):
        self.workers = workers
        context = worker_context()
        self._workers_end, self._lifeline = context.Pipe(duplex=False)
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_prepare_worker,
            initargs=(self._workers_end,),
        )

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        yield from _windowed(self._pool.submit, fn, tasks, self.workers * IN_FLIGHT_PER_WORKER)

    def abort(self) -> None:
        """Stop now: the workers end at once (their writes are atomic), queued tasks are dropped."""
        self._lifeline.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._workers_end.close()

    def close(self) -> None:
        """Let the workers finish and exit, then cut the lifeline."""
        self._pool.shutdown(wait=True)
        self._lifeline.close()
        self._workers_end.close()


class DaskEngine:
    """Chunks sent to an existing Dask distributed cluster (`tcp://HOST:PORT`).

    The cluster's workers need this package installed; results come back to this process,
    which writes them, so the workers need no access to the output directory.
    """

    def __init__(self, address: str, timeout: float = 10.0):
        from dask.distributed import Client

        try:
            self._client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                "--scheduler", address, f"cannot reach a Dask scheduler there ({exc})"
            ) from None
        threads = sum(self._client.nthreads().values())
        self.workers = max(threads, 1)

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        from dask.distributed import as_completed

        pending = iter(tasks)
        window = self.workers * IN_FLIGHT_PER_WORKER
        first = [self._client.submit(fn, t, pure=False) for t in islice(pending, window)]
        if not first:
            return
        running = as_completed(first, loop=self._client.loop)
        for future in running:
            result = future.result()
            future.release()
            task = next(pending, None)
            if task is not None:
                running.add(self._client.submit(fn, task, pure=False))
            yield result

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()


def _windowed(
    submit: Callable[..., Future], fn: Callable[[Any], Any], tasks: Iterable[Any], window: int
) -> Iterator[Any]:
    """Keep at most `window` tasks submitted; yield each result once it is done."""
    pending = iter(tasks)
    running: set[Future] = set()
    while True:
        for task in islice(pending, window - len(running)):
            running.add(submit(fn, task))
        if not running:
            return
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()


def check_address(scheduler: str) -> None:
    """A Dask scheduler address must name its protocol, e.g. tcp://HOST:PORT."""
    if not scheduler.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        raise InputError(
            "--scheduler", scheduler, "expected a Dask scheduler address like tcp://HOST:PORT"
        )


def make_engine(workers: int | None, scheduler: str | None) -> Engine:
    """The engine a batch asked for: Dask if a scheduler is given, else local processes."""
    if scheduler:
        check_address(scheduler)
        return DaskEngine(scheduler)
    workers = workers or available_cores()
    return SerialEngine() if workers == 1 else LocalEngine(workers)


@contextlib.contextmanager
def engine_for(workers: int | None, scheduler: str | None) -> Iterator[Engine]:
    """An engine for the block of work inside: closed when it ends, stopped when it fails."""
    engine = make_engine(workers, scheduler)
    ended = False
    try:
        yield engine
        ended = True
    finally:
        if ended:
            engine.close()
        else:
            engine.abort()
