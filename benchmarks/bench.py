"""Speed and memory: the lane engine (`alliance batch`) against `mesa.batch_run` over the reference.

In one run, on one scenario and the same number of worker processes: (a) `alliance batch` (a
subprocess, timed from start to exit: interpreter start, worker pool, simulation, Parquet chunks
and manifest), once per size, each in a fresh probe process that reads the peak resident memory of
its process tree (getrusage RUSAGE_CHILDREN, ru_maxrss: the largest single process among the
batch's main process and its workers); (b) `mesa.batch_run` over benchmarks/reference.py (one
scalar model per run), and (c) per CPU second in this process, one chunk of the lane engine
(sim.batch.lanes.simulate_chunk) and reference models one after another: a ratio that other load on
the machine hardly moves. It prints runs per second, the ratio (a) / (b), the per-CPU ratio (c),
and the memory table. docs/performance.md keeps the latest figures.

    .venv/bin/python benchmarks/bench.py                # sizes 1e4, 1e5, 1e6 (about 2-3 minutes)
    .venv/bin/python benchmarks/bench.py --quick        # sizes 1e4, 1e5, fewer reference runs

It also prints the floor of the design (numpy drawing one uniform and computing one exp per
member-month of the largest batch, same processes) with the engine's time as a multiple of it,
`alliance --help`'s wall time with the smallest batch's (run as a user types it, without
--workers) as a multiple of it, the start-up floor of the design (a fresh interpreter importing
Mesa and numba and loading one cached kernel), and the smallest batch once more with an empty
kernel cache (the first run after installation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `benchmarks` and `sim` importable

import mesa  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.reference import ReferenceModel  # noqa: E402
from sim.batch.lanes import simulate_chunk  # noqa: E402
from sim.model.model import AllianceModel  # noqa: E402
from sim.model.scenario import Scenario, load_scenario  # noqa: E402

DEFAULT_SCENARIO = ROOT / "scenarios" / "csto_2022.yaml"
# The probe adopts the batch's orphans (Linux PR_SET_CHILD_SUBREAPER): the workers' forkserver
# ends just after the batch's main process, and reaping it counts the workers' memory too.
PROBE = """
import ctypes, json, os, resource, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - start
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kb": peak_kb, "returncode": done.returncode,
                  "stderr": done.stderr[-3000:]}))
"""


def alliance_command() -> list[str]:
    """The `alliance` console script beside this interpreter, or the CLI module through it."""
    script = Path(sys.executable).parent / "alliance"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from sim.cli.main import main; main()"]


def time_batch(
    scenario: Path,
    runs: int,
    seed: int,
    workers: int | None,
    chunk_size: int | None,
    out: Path,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Run `alliance batch` in a fresh probe process: wall seconds and peak memory of the tree.
    `workers` None leaves the choice to `alliance batch` (one process for a small batch). With
    `cache`, numba keeps its compiled kernels there (an empty folder: the first run after
    installation, which compiles them)."""
    command = [
        *alliance_command(),
        "batch",
        str(scenario),
        "--runs",
        str(runs),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--force",
        "--no-summary",
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    if chunk_size:
        command += ["--chunk-size", str(chunk_size)]
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache)) if cache else None
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *command], capture_output=True, text=True, check=True, env=env
    )
    result = json.loads(probe.stdout)
    if result["returncode"] != 0:
        raise SystemExit(f"alliance batch failed ({' '.join(command)}):\n{result['stderr']}")
    return {
        "runs": runs,
        "seconds": result["seconds"],
        "runs_per_second": runs / result["seconds"],
        "peak_rss_mb": result["peak_kb"] / 1024,
    }


def time_reference(scenario: Path, runs: int, seed: int, workers: int) -> dict[str, Any]:
    """`mesa.batch_run` over the reference model: one model per run, `workers` processes."""
    months = load_scenario(scenario).months
    start = time.perf_counter()
    results = mesa.batch_run(
        ReferenceModel,
        {"scenario": str(scenario)},
        rng=list(range(seed, seed + runs)),
        max_steps=months,
        number_processes=workers,
        display_progress=False,
    )
    seconds = time.perf_counter() - start
    if len(results) != runs:
        raise SystemExit(f"mesa.batch_run returned {len(results)} rows for {runs} runs")
    return {"runs": runs, "seconds": seconds, "runs_per_second": runs / seconds}


def time_reference_cpu(scenario: Path, runs: int, seed: int) -> dict[str, Any]:
    """Reference models run one after another in this process, per CPU second (load-robust)."""
    compiled = load_scenario(scenario)
    cpu = time.process_time()
    for r in range(runs):
        model = ReferenceModel(compiled, rng=seed + r)
        while model.running:
            model.step()
    cpu_seconds = time.process_time() - cpu
    return {"runs": runs, "cpu_seconds": cpu_seconds, "runs_per_cpu_second": runs / cpu_seconds}


def time_chunk(scenario: Path, lanes: int, seed: int) -> dict[str, Any]:
    """One chunk of lanes in this process, with monthly aggregates (what a batch worker does)."""
    compiled = load_scenario(scenario)
    simulate_chunk(compiled, seed, 0, 1000)  # warm up imports and caches
    start, cpu = time.perf_counter(), time.process_time()
    simulate_chunk(compiled, seed, 0, lanes)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return {
        "lanes": lanes,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "runs_per_cpu_second": lanes / cpu_seconds,
    }


def _floor_share(args: tuple[int, int, int, int, bool]) -> float:
    """One worker's share of the floor: a uniform (and an exp) per member-month, in blocks."""
    lanes, members, months, seed, with_exp = args
    rng = np.random.default_rng(seed)
    block = min(lanes, 50_000)
    u = np.empty((members, block))
    start = time.perf_counter()
    for first in range(0, lanes, block):
        size = min(block, lanes - first)
        for _ in range(months):
            rng.random(out=u[:, :size])
            if with_exp:
                np.exp(u[:, :size], out=u[:, :size])
    return time.perf_counter() - start


def time_floor(scenario: Path, runs: int, workers: int) -> dict[str, Any]:
    """The floor of the lane design: numpy drawing one uniform and computing one exp per
    member-month of `runs` replications, split over `workers` processes (pool start excluded);
    and the uniforms alone (`draws_seconds`): numpy's PCG64, the engine's own random streams."""
    import multiprocessing

    compiled = load_scenario(scenario)
    members, months = len(compiled.members), compiled.months
    shares = [runs // workers + (i < runs % workers) for i in range(workers)]
    seconds = {}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_floor_share, [(1000, members, 2, i, True) for i in range(workers)])  # warm up
        for with_exp in (True, False):
            start = time.perf_counter()
            shares_args = [(n, members, months, i, with_exp) for i, n in enumerate(shares)]
            pool.map(_floor_share, shares_args)
            seconds[with_exp] = time.perf_counter() - start
    return {
        "runs": runs,
        "member_months": runs * members * months,
        "seconds": seconds[True],
        "draws_seconds": seconds[False],
    }


def _draws_share(args: tuple[str, int, int, int]) -> float:
    """One worker's share of the engine's own draws: the month kernel's generator and layout
    (`sim.model.month.fill_month`) reading the rows each month reads (`draws_used`, the model's
    rule), in chunks of 50,000 lanes; each number is also stored, so this bounds the draws' cost
    from above."""
    from sim.model.month import fill_month
    from sim.model.streams import REGIME, LaneUniforms

    scenario_path, seed, first, lanes = args
    compiled = load_scenario(Path(scenario_path))
    members = len(compiled.members)
    rows = _rows_read(compiled)
    start = time.perf_counter()
    for chunk in range(first, first + lanes, 50_000):
        size = min(50_000, first + lanes - chunk)
        uniforms = LaneUniforms.from_seed(seed, chunk, size, members, 1)
        if any(REGIME in month for month in rows):
            uniforms.enable_regime()
        out = np.empty((4, members, size))
        for month in rows:
            fill_month(uniforms.streams(), uniforms.flags(month), out)
    return time.perf_counter() - start


def _rows_read(compiled: Scenario) -> list[tuple[int, ...]]:
    """The random rows each month of the scenario reads, by the model's own rule."""
    model = AllianceModel(compiled, 1)
    return [model.draws_used(t) for t in range(compiled.months)]


def time_draws(scenario: Path, runs: int, seed: int, workers: int) -> dict[str, Any]:
    """The engine's own random numbers for `runs` replications and nothing else, split over
    `workers` processes (pool start and kernel loading excluded): what the same random streams
    cost whatever the rules."""
    import multiprocessing

    compiled = load_scenario(scenario)
    per_run = len(compiled.members) * sum(len(r) for r in _rows_read(compiled))
    shares = [runs // workers + (i < runs % workers) for i in range(workers)]
    firsts = [sum(shares[:i]) for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_draws_share, [(str(scenario), seed, 0, 1000)] * workers)  # load the kernels
        start = time.perf_counter()
        parts = [(str(scenario), seed, f, n) for f, n in zip(firsts, shares, strict=True)]
        pool.map(_draws_share, parts)
        seconds = time.perf_counter() - start
    return {"runs": runs, "numbers": runs * per_run, "seconds": seconds}


# What any engine of this design imports and loads before its first lane: Mesa (whose agents
# hold the state) and numba with one kernel loaded from its cache (numba sets up its compiler);
# it leaves as `alliance` does (the heap frozen: no last collection).
STARTUP_FLOOR = (
    "import gc, numpy as np, mesa, numba\n"
    "from sim.batch.fold import fold_month\n"
    "z = np.zeros(1, np.int64)\n"
    "fold_month(np.zeros((1, 1)), np.zeros((1, 1), np.int8), np.zeros(1), 1.0, 1, z,"
    " np.zeros((1, 1), np.int64), np.zeros((1, 4), np.int64), z, z)\n"
    "gc.freeze()\n"
)


def time_startup_floor() -> dict[str, Any]:
    """Wall time of a fresh interpreter that only imports Mesa and numba and loads one cached
    kernel (STARTUP_FLOOR), best of three: what no batch in this design can start below."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP_FLOOR], check=True, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best}


def time_help() -> dict[str, Any]:
    """Wall time of `alliance --help` (interpreter start and the CLI's imports), best of three."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([*alliance_command(), "--help"], stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mesa": mesa.__version__,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the lane engine (alliance batch) against mesa.batch_run over the "
        "reference model, and measure peak memory by batch size."
    )
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario file")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for both engines"
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(float(x)) for x in s.split(",")],
        default=None,
        help="batch sizes for the memory table, comma-separated (default 1e4,1e5,1e6; quick: "
        "1e4,1e5); the largest also gives the engine's runs per second",
    )
    parser.add_argument(
        "--reference-runs",
        type=int,
        default=None,
        help="runs of mesa.batch_run (default 4000; quick: 1000)",
    )
    parser.add_argument(
        "--chunk-lanes", type=int, default=50_000, help="lanes of the in-process chunk timing"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="--chunk-size for alliance batch"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for every run")
    parser.add_argument(
        "--quick", action="store_true", help="sizes 1e4,1e5 and 1000 reference runs (~1 minute)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.sizes is None:
        args.sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    if args.reference_runs is None:
        args.reference_runs = 1000 if args.quick else 4000
    return args


def main() -> None:
    """Run every measurement, then print the tables and the ratio."""
    args = parse_args()
    console = Console()
    figures: dict[str, Any] = {"machine": machine(), "workers": args.workers}
    sizes = sorted(args.sizes)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with (
        Progress(*columns, console=console, transient=True) as progress,
        tempfile.TemporaryDirectory(prefix="alliance-bench-") as tmp,
    ):
        step = progress.add_task("", total=None)
        progress.update(step, description=f"mesa.batch_run: {args.reference_runs} reference runs")
        figures["reference"] = time_reference(
            args.scenario, args.reference_runs, args.seed, args.workers
        )
        progress.update(step, description=f"lane engine: one chunk of {args.chunk_lanes} lanes")
        figures["chunk"] = time_chunk(args.scenario, args.chunk_lanes, args.seed)
        progress.update(step, description="reference models in this process, per CPU second")
        figures["reference_cpu"] = time_reference_cpu(args.scenario, 300, args.seed)
        progress.update(step, description="alliance --help, and the floor of the design")
        figures["help"] = time_help()
        figures["startup_floor"] = time_startup_floor()
        figures["floor"] = time_floor(args.scenario, max(sizes), args.workers)
        figures["draws"] = time_draws(args.scenario, max(sizes), args.seed, args.workers)
        size = min(sizes)
        progress.update(step, description=f"alliance batch --runs {size:,}, kernels not compiled")
        figures["cold"] = time_batch(
            args.scenario, size, args.seed, args.workers, args.chunk_size,
            Path(tmp) / "cold", cache=Path(tmp) / "numba-cache",
        )  # fmt: skip
        progress.update(step, description=f"alliance batch --runs {size:,}, workers not given")
        figures["small_default"] = time_batch(
            args.scenario, size, args.seed, None, args.chunk_size, Path(tmp) / "small"
        )
        figures["batches"] = []
        for size in sizes:
            progress.update(step, description=f"alliance batch --runs {size:,}")
            out = Path(tmp) / f"batch-{size}"
            figures["batches"].append(
                time_batch(args.scenario, size, args.seed, args.workers, args.chunk_size, out)
            )
    engine = figures["batches"][-1]
    figures["ratio"] = engine["runs_per_second"] / figures["reference"]["runs_per_second"]
    figures["cpu_ratio"] = (
        figures["chunk"]["runs_per_cpu_second"] / figures["reference_cpu"]["runs_per_cpu_second"]
    )
    smallest, largest = figures["batches"][0], figures["batches"][-1]
    figures["memory_ratio"] = largest["peak_rss_mb"] / smallest["peak_rss_mb"]
    figures["floor_ratio"] = largest["seconds"] / figures["floor"]["seconds"]
    figures["startup_ratio"] = figures["small_default"]["seconds"] / figures["help"]["seconds"]
    report(console, figures, args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def report(console: Console, figures: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the machine, the speed comparison and the memory table."""
    m = figures["machine"]
    console.print(
        f"[bold]Machine[/]: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, load "
        f"{m['load_average_1min']} at the start; Python {m['python']}, numpy {m['numpy']}, "
        f"mesa {m['mesa']}. Scenario {args.scenario.name}, {args.workers} worker(s)."
    )
    ref, engine, chunk = figures["reference"], figures["batches"][-1], figures["chunk"]
    smallest = figures["batches"][0]
    speed = Table(title="Replications per second")
    for name in ("engine", "runs", "seconds", "runs/s"):
        speed.add_column(name, justify="right" if name != "engine" else "left")
    speed.add_row(
        "mesa.batch_run, reference model",
        f"{ref['runs']:,}",
        f"{ref['seconds']:.1f}",
        f"{ref['runs_per_second']:,.0f}",
    )
    speed.add_row(
        "alliance batch (lane engine)",
        f"{engine['runs']:,}",
        f"{engine['seconds']:.1f}",
        f"{engine['runs_per_second']:,.0f}",
    )
    speed.add_row(
        "lane engine, one chunk, per CPU second",
        f"{chunk['lanes']:,}",
        f"{chunk['cpu_seconds']:.2f}",
        f"{chunk['runs_per_cpu_second']:,.0f}",
    )
    ref_cpu = figures["reference_cpu"]
    speed.add_row(
        "reference models, per CPU second",
        f"{ref_cpu['runs']:,}",
        f"{ref_cpu['cpu_seconds']:.2f}",
        f"{ref_cpu['runs_per_cpu_second']:,.0f}",
    )
    console.print(speed)
    console.print(f"[bold]Ratio[/] alliance batch / mesa.batch_run: {figures['ratio']:,.0f}x")
    console.print(f"Per CPU second, lane engine / reference model: {figures['cpu_ratio']:,.0f}x")
    floor = figures["floor"]
    console.print(
        f"[bold]Floor[/] of the design ({floor['member_months']:,} member-months of "
        f"{floor['runs']:,} runs, one uniform and one exp each, {args.workers} process(es)): "
        f"{floor['seconds']:.2f} s; alliance batch takes {figures['floor_ratio']:.1f}x the floor."
    )
    console.print(
        f"The uniforms alone (numpy's PCG64, the engine's streams): {floor['draws_seconds']:.2f} "
        f"s, {floor['draws_seconds'] / floor['seconds']:.0%} of the floor."
    )
    draws = figures["draws"]
    console.print(
        f"The engine's own draws alone ({draws['numbers']:,} numbers of its PCG64 streams, as "
        f"the month kernel reads them, each also stored): {draws['seconds']:.2f} s, "
        f"{draws['seconds'] / floor['seconds']:.0%} of the floor."
    )
    help_seconds = figures["help"]["seconds"]
    startup_floor = figures["startup_floor"]["seconds"]
    console.print(
        f"[bold]Start-up[/]: alliance --help {help_seconds:.2f} s; importing Mesa and numba and "
        f"loading one cached kernel, nothing else: {startup_floor:.2f} s "
        f"({startup_floor / help_seconds:.1f}x --help); "
        f"alliance batch --runs {smallest['runs']:,} (workers not given: one process) "
        f"{figures['small_default']['seconds']:.2f} s, {figures['startup_ratio']:.1f}x --help; "
        f"the first run after installation (kernels compiled, then cached on disk) "
        f"{figures['cold']['seconds']:.1f} s."
    )
    memory = Table(title="alliance batch: wall time and peak memory (largest process)")
    for name in ("runs", "seconds", "runs/s", "peak RSS MB"):
        memory.add_column(name, justify="right")
    for row in figures["batches"]:
        memory.add_row(
            f"{row['runs']:,}",
            f"{row['seconds']:.1f}",
            f"{row['runs_per_second']:,.0f}",
            f"{row['peak_rss_mb']:.0f}",
        )
    console.print(memory)
    console.print(
        f"Peak memory, largest over smallest batch: {figures['memory_ratio']:.2f}x "
        f"({figures['batches'][-1]['runs']:,} vs {figures['batches'][0]['runs']:,} runs)."
    )


if __name__ == "__main__":
    main()
