"""What a hostile user does to run directories, and what must come of it (issue 13): never a wrong
number without a word, never a traceback.

One test per class of failure, several cases each: two commands in one directory, damaged or
foreign chunks, a manifest without what it points to, paths and full disks, sizes without bounds,
`--force` over another kind of run, processes left behind. Small batches of the three-member test
scenario (~40 s in all on two cores).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from model_helpers import DATA, ROOT, alliance

from sim.batch import results, store
from sim.batch.jobs import RunOptions
from sim.batch.runner import run_batch
from sim.experiments.sweep import sweep

QUIET = DATA / "quiet.yaml"
RUNS, SEED = 4000, 11


def one_line_error(status: int, err: str, *phrases: str, code: int = 2) -> str:
    """The command failed with `code`, one line on stderr, no traceback, naming `phrases` (the
    progress bar's last state may stand above it)."""
    assert status == code, (status, err)
    lines = [line for line in err.strip().splitlines() if "━" not in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


def same_results(a: Path, b: Path) -> None:
    """Two batch directories hold identical estimates and identical runs."""
    first, second = results.load(a), results.load(b)
    for name, table in first.tables().items():
        pd.testing.assert_frame_equal(table, second.tables()[name], check_exact=True, obj=name)
    pd.testing.assert_frame_equal(first.first_passage(), second.first_passage(), check_exact=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The batch every damaged copy must come back to: seed 11, 4 chunks of 1000."""
    out = tmp_path_factory.mktemp("reference") / "batch"
    run_batch(QUIET, out, runs=RUNS, seed=SEED, options=RunOptions(workers=1), chunk_size=1000)
    return out


def sweep_file(folder: Path, replications: int = 200) -> Path:
    """A two-point sweep of the test scenario."""
    data = {
        "name": "tiny",
        "description": "two points",
        "scenario": str(QUIET),
        "seed": 2,
        "replications": replications,
        "parameters": {"drain_scale": {"values": [0.5, 1.5]}},
        "design": {"method": "grid"},
        "outcomes": [{"kind": "any_exit", "by": "2032-12"}],
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def hold_lock(directory: Path) -> subprocess.Popen:
    """Another command at work in `directory`: a process holding its lock until killed."""
    directory.mkdir(parents=True, exist_ok=True)
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(directory / store.LOCK)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def cli_batch(out: Path, *extra: object, seed: int = SEED) -> subprocess.Popen:
    args = ["batch", QUIET, "--out", out, "--runs", 20_000, "--seed", seed, "--chunk-size", 1000]
    return subprocess.Popen(
        [sys.executable, "-c", "from sim.cli.main import main; main()", *map(str, args + [*extra])],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_chunks(out: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        ledger = out / store.LEDGER
        if ledger.is_file() and len(ledger.read_text().splitlines()) >= 2 * count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the batch ended or stalled before {count} chunks: {process.poll()}")


# 1. Two commands writing into one directory.


def test_a_directory_in_use_is_locked_against_every_other_command(
    reference, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "shared"
    first = cli_batch(out, "--workers", "1", "--no-summary")
    try:
        wait_for_chunks(out, 1, first)
        status, _, err = alliance(
            monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", 20_000, "--seed", 12,
            "--chunk-size", 1000, "--workers", 2, "--force",
        )  # fmt: skip
        one_line_error(status, err, str(out), "in use by another running command", "--force")
        status, _, err = alliance(
            monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", 20_000, "--seed", SEED,
            "--chunk-size", 1000, "--resume",
        )  # fmt: skip
        one_line_error(status, err, "in use")
        status, _, err = alliance(monkeypatch, capsys, "summarize", out)
        one_line_error(status, err, "incomplete")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == SEED and manifest["finished"] is None

    # the kernel let go of the killed command's lock: the batch resumes, all of seed 11
    status, _, err = alliance(
        monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", 20_000, "--seed", SEED,
        "--chunk-size", 1000, "--workers", 1, "--resume", "--no-summary",
    )  # fmt: skip
    assert status == 0, err
    straight = tmp_path / "straight"
    run_batch(
        QUIET, straight, runs=20_000, seed=SEED, options=RunOptions(workers=1), chunk_size=10_000
    )
    same_results(straight, out)

    # a sweep directory and a summary are locked the same way
    spec = sweep_file(tmp_path)
    sweep_dir = tmp_path / "sweep"
    sweep(spec, sweep_dir, options=RunOptions(workers=1, progress=False))
    holder = hold_lock(sweep_dir)
    try:
        status, _, err = alliance(monkeypatch, capsys, "sweep", spec, "--out", sweep_dir, "--force")
        one_line_error(status, err, "in use")
        status, _, err = alliance(
            monkeypatch, capsys, "sweep", spec, "--out", sweep_dir, "--resume"
        )
        one_line_error(status, err, "in use")
        copy = tmp_path / "copy"
        shutil.copytree(reference, copy)
        holder.kill()
        holder.wait()
        holder = hold_lock(copy)
        status, _, err = alliance(monkeypatch, capsys, "summarize", copy)
        one_line_error(status, err, "in use")
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((sweep_dir / "manifest.json").read_text())["finished"]


def test_each_chunk_file_names_its_run_and_index(reference):
    manifest = json.loads((reference / "manifest.json").read_text())
    for kind in ("passage", "aggregates"):
        meta = pq.read_schema(reference / "chunks" / f"{kind}-000002.parquet").metadata
        assert meta[b"alliance.run"].decode() == manifest["run_id"]
        assert meta[b"alliance.chunk"] == b"2" and meta[b"alliance.seed"] == str(SEED).encode()
    entries = [json.loads(line) for line in (reference / store.LEDGER).read_text().splitlines()]
    assert sorted((e["kind"], e["chunk"]) for e in entries) == sorted(
        (k, i) for k in ("passage", "aggregates") for i in range(4)
    )
    assert {e["run"] for e in entries} == {manifest["run_id"]}


# 2. A damaged or foreign chunk.


def _swap_in_chunk_3(chunks: Path, other: Path) -> None:
    shutil.copy(chunks / "passage-000003.parquet", chunks / "passage-000001.parquet")


def _other_seed(chunks: Path, other: Path) -> None:
    shutil.copy(other / "chunks" / "passage-000001.parquet", chunks / "passage-000001.parquet")


def _truncate(chunks: Path, other: Path) -> None:
    path = chunks / "passage-000001.parquet"
    path.write_bytes(path.read_bytes()[:500])


def _zero(chunks: Path, other: Path) -> None:
    path = chunks / "passage-000001.parquet"
    path.write_bytes(bytes(path.stat().st_size))


def _other_seed_with_its_ledger(chunks: Path, other: Path) -> None:
    _other_seed(chunks, other)
    foreign = [
        line
        for line in (other / store.LEDGER).read_text().splitlines()
        if '"passage", "chunk": 1,' in line
    ]
    with open(chunks.parent / store.LEDGER, "a") as ledger:
        ledger.write("\n".join(foreign) + "\n")


DAMAGE = {
    "another chunk of the same batch": (_swap_in_chunk_3, "damaged or replaced"),
    "the same chunk of another seed": (_other_seed, "damaged or replaced"),
    "another seed's chunk and ledger line": (_other_seed_with_its_ledger, "another run"),
    "truncated": (_truncate, "damaged or replaced"),
    "zeroed": (_zero, "damaged or replaced"),
}


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("other") / "batch"
    run_batch(QUIET, out, runs=RUNS, seed=SEED + 1, options=RunOptions(workers=1), chunk_size=1000)
    return out


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_or_foreign_chunk_is_named_and_run_again_on_resume(
    reference, other_seed, tmp_path, monkeypatch, capsys, case
):
    damage, phrase = DAMAGE[case]
    out = tmp_path / "batch"
    shutil.copytree(reference, out)
    damage(out / "chunks", other_seed)
    bad = str(out / "chunks" / "passage-000001.parquet")
    status, _, err = alliance(monkeypatch, capsys, "summarize", out)
    one_line_error(status, err, bad, phrase, "--resume")
    with pytest.raises(Exception, match="passage-000001"):
        results.load(out).first_passage()

    status, out_text, err = alliance(
        monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", RUNS, "--seed", SEED,
        "--resume", "--no-summary",
    )  # fmt: skip
    assert status == 0, err
    assert "3,000 were done before" in out_text  # only the bad chunk ran again
    same_results(reference, out)


def test_resume_runs_again_a_point_run_chunk_that_fails_its_check(tmp_path):
    spec = sweep_file(tmp_path)
    out = tmp_path / "sweep"
    first = sweep(spec, out, options=RunOptions(workers=1, progress=False))
    tally = out / "chunks" / "tally-000000.parquet"
    tally.write_bytes(tally.read_bytes()[:-40])
    lines = len((out / store.LEDGER).read_text().splitlines())
    again = sweep(spec, out, options=RunOptions(workers=1, progress=False, resume=True))
    assert len((out / store.LEDGER).read_text().splitlines()) == lines + 1  # ran again
    pd.testing.assert_frame_equal(first, again, check_exact=True)


# 3. A manifest without what it points to.


def test_the_manifest_is_written_last_and_resume_checks_what_it_points_to(
    reference, tmp_path, monkeypatch, capsys
):
    real_write = store.write_bytes_atomic

    def disk_full_on_the_copy(path: Path, data: bytes) -> None:
        if path.name == "scenario.yaml":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(store, "write_bytes_atomic", disk_full_on_the_copy)
    out = tmp_path / "full"
    status, _, err = alliance(monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", 1000)
    one_line_error(status, err, "scenario.yaml", "No space left on device")
    assert not out.exists(), "nothing half-written: no manifest without its scenario copy"
    monkeypatch.setattr(store, "write_bytes_atomic", real_write)

    args = ("--runs", RUNS, "--seed", SEED, "--resume")
    for change, phrase in (
        (lambda d: (d / "scenario.yaml").unlink(), "missing"),
        (lambda d: (d / "scenario.yaml").write_text("name: other\n"), "changed since"),
    ):
        out = tmp_path / f"copy-{phrase.split()[0]}"
        shutil.copytree(reference, out)
        change(out)
        status, _, err = alliance(monkeypatch, capsys, "batch", QUIET, "--out", out, *args)
        one_line_error(status, err, str(out / "scenario.yaml"), phrase, "--force")
        assert json.loads((out / "manifest.json").read_text())["sessions"][-1]["chunks_after"] == 4

    spec = sweep_file(tmp_path)
    sweep_dir = tmp_path / "sweep"
    sweep(spec, sweep_dir, options=RunOptions(workers=1, progress=False))
    (sweep_dir / "design.csv").unlink()
    status, _, err = alliance(monkeypatch, capsys, "sweep", spec, "--out", sweep_dir, "--resume")
    one_line_error(status, err, "design.csv", "missing")
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    assert set(manifest["inputs"]) == {"experiment.yaml", "scenario.yaml", "design.csv"}


# 6. Output paths, the disk, a cluster that dies.


def test_bad_output_paths_full_disks_and_a_lost_cluster_get_one_line(
    reference, tmp_path, monkeypatch, capsys
):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    for out in (afile / "batch", Path("/proc/alliance-test/batch")):
        status, _, err = alliance(monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", 1000)
        one_line_error(status, err, str(out), "cannot create the directory")
        status, _, err = alliance(monkeypatch, capsys, "run", QUIET, "--out", out)
        one_line_error(status, err, "error: ")
        status, _, err = alliance(
            monkeypatch, capsys, "plot", reference, "--out", out / "curves.png"
        )  # fmt: skip
        one_line_error(status, err, str(out.parent))  # the first part of the path that fails
    assert afile.read_text() == "keep me"
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        status, _, err = alliance(monkeypatch, capsys, "batch", QUIET, "--out", locked / "b")
        one_line_error(status, err, "Permission denied")

    # the disk fills after two chunks: one line, the chunks kept, the resume command given
    import sim.batch.ledger as ledger

    real_write, writes = ledger.write_bytes_atomic, []

    def fills_up(path: Path, data: bytes) -> None:
        writes.append(path)
        if len(writes) > 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(ledger, "write_bytes_atomic", fills_up)
    out = tmp_path / "full"
    args = ("--runs", RUNS, "--seed", SEED, "--chunk-size", 1000, "--workers", 1, "--no-summary")
    status, _, err = alliance(monkeypatch, capsys, "batch", QUIET, "--out", out, *args)
    one_line_error(status, err, "No space left on device", "finish with:", "--resume", code=1)
    monkeypatch.setattr(ledger, "write_bytes_atomic", real_write)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished"] is None and manifest["sessions"][-1]["chunks_after"] == 2
    status, _, err = alliance(monkeypatch, capsys, "batch", QUIET, "--out", out, *args, "--resume")
    assert status == 0, err
    same_results(reference, out)

    # ... or fills while the summary is written
    def no_space(tables: dict, folder: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "curves.csv"))

    monkeypatch.setattr(results, "write_tables", no_space)
    status, _, err = alliance(monkeypatch, capsys, "summarize", out)
    one_line_error(status, err, "No space left", f"alliance summarize {out}", code=1)

    # a Dask cluster lost in the middle of a batch
    from distributed.client import FutureCancelledError

    import sim.batch.runner as runner
    from sim.batch.engines import SerialEngine

    class LostCluster(SerialEngine):
        def map_unordered(self, fn, tasks):
            for number, task in enumerate(tasks):
                if number == 2:
                    raise FutureCancelledError("compute_chunk-3f2a", "scheduler-connection-lost")
                yield fn(task)

    monkeypatch.setattr(runner, "make_engine", lambda workers, scheduler: LostCluster())
    out = tmp_path / "cluster"
    status, _, err = alliance(
        monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", RUNS, "--seed", SEED,
        "--chunk-size", 1000, "--scheduler", "tcp://127.0.0.1:1", "--no-summary",
    )  # fmt: skip
    one_line_error(status, err, "FutureCancelledError", "finish with:", "--resume", code=1)
    assert len(list((out / "chunks").glob("passage-*.parquet"))) == 2


# 10. Sizes without bounds.


def test_run_counts_are_bounded_and_workers_capped_at_the_cpus(tmp_path, monkeypatch, capsys):
    out = tmp_path / "huge"
    for runs in (10**30, 10**12):
        started = time.monotonic()
        status, _, err = alliance(monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", runs)
        one_line_error(status, err, "--runs", "expected at most 1,000,000,000")
        assert time.monotonic() - started < 10 and not out.exists()
    status, _, err = alliance(
        monkeypatch, capsys, "backtest", QUIET, "--observations", tmp_path / "none.yaml",
        "--out", out, "--runs", 10**12,
    )  # fmt: skip
    one_line_error(status, err, "--runs", "expected at most")
    spec = sweep_file(tmp_path, replications=10_000_000)
    data = yaml.safe_load(spec.read_text())
    data["parameters"] = {"drain_scale": {"low": 0.0, "high": 2.0}}
    data["design"] = {"method": "lhs", "points": 1000}
    spec.write_text(yaml.safe_dump(data))
    status, _, err = alliance(monkeypatch, capsys, "sweep", spec, "--out", out)
    one_line_error(status, err, "replications", "1,000 points x 10,000,000 replications")
    assert not out.exists()

    from sim.batch.engines import available_cores

    status, _, err = alliance(
        monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", 3000, "--chunk-size", 1000,
        "--workers", 1000, "--no-summary",
    )  # fmt: skip
    assert status == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and f"using {available_cores()}" in warning[0]
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["workers"] <= available_cores()


# 11. --force over another kind of run.


def test_force_empties_what_the_previous_run_owned_and_only_that(
    reference, tmp_path, monkeypatch, capsys
):
    spec = sweep_file(tmp_path)
    out = tmp_path / "mixed"
    sweep(spec, out, options=RunOptions(workers=1, progress=False))
    (out / "notes.txt").write_text("mine")
    sweep_files = {"results.csv", "results.parquet", "design.csv", "experiment.yaml"}
    assert sweep_files <= {p.name for p in out.iterdir()}
    status, _, err = alliance(
        monkeypatch, capsys, "batch", QUIET, "--out", out, "--runs", 1000, "--force"
    )  # fmt: skip
    assert status == 0, err
    left = {p.name for p in out.iterdir()}
    assert (
        not sweep_files & left and "summary" in left and (out / "notes.txt").read_text() == "mine"
    )
    status, _, err = alliance(monkeypatch, capsys, "plot", out)
    assert status == 0, err
    assert (out / "figures").is_dir()

    sweep(spec, out, options=RunOptions(workers=1, progress=False, force=True))
    left = {p.name for p in out.iterdir()}
    assert not {"summary", "figures"} & left and sweep_files <= left and "notes.txt" in left
    assert json.loads((out / "manifest.json").read_text())["kind"] == "sweep"
    chunks = sorted(p.name for p in (out / "chunks").iterdir())
    assert chunks == ["tally-000000.parquet"]


# 12. Processes left behind.


def test_workers_and_their_server_end_within_seconds_of_their_parent(tmp_path):
    out = tmp_path / "orphans"
    batch = cli_batch(out, "--workers", "2", "--no-summary")
    wait_for_chunks(out, 2, batch)
    os.kill(batch.pid, signal.SIGKILL)  # the parent only: its workers must notice by themselves
    batch.communicate(timeout=30)
    deadline = time.monotonic() + 10
    alive = True
    while alive and time.monotonic() < deadline:
        try:
            os.killpg(batch.pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            alive = False
    if alive:
        os.killpg(batch.pid, signal.SIGKILL)
    assert not alive, "the killed batch's workers or forkserver are still running"
