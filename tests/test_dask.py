"""The Dask engine: a real dask.distributed cluster on loopback gives the local engine's results."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from model_helpers import SCENARIOS, run_cli

from sim.batch import results
from sim.batch.jobs import RunOptions
from sim.batch.runner import run_batch

distributed = pytest.importorskip("dask.distributed")

CSTO = SCENARIOS / "csto_2022.yaml"
RUNS, SEED = 3500, 21


@pytest.fixture(scope="module")
def scheduler():
    """A one-worker LocalCluster (threads, no extra processes) listening on tcp://127.0.0.1."""
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> results.BatchResults:
    out = tmp_path_factory.mktemp("local") / "batch"
    run_batch(CSTO, out, runs=RUNS, seed=SEED, options=RunOptions(workers=1), chunk_size=2000)
    return results.load(out)


def assert_same(a: results.BatchResults, b: results.BatchResults) -> None:
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], check_exact=True, obj=name)
    pd.testing.assert_frame_equal(a.first_passage(), b.first_passage(), check_exact=True)


def test_dask_engine_gives_the_local_engines_results(scheduler, local, tmp_path):
    out = tmp_path / "dask"
    outcome = run_batch(
        CSTO, out, runs=RUNS, seed=SEED, chunk_size=1000, options=RunOptions(scheduler=scheduler)
    )
    session = outcome.manifest.sessions[-1]
    assert session["engine"] == scheduler and session["workers"] == 2
    assert outcome.chunks_total == 4 and not outcome.interrupted
    assert_same(local, results.load(out))


def test_batch_command_runs_on_the_cluster_given_by_scheduler(scheduler, local, tmp_path):
    out = tmp_path / "cli"
    result = run_cli(
        "batch", CSTO, "--out", out, "--runs", RUNS, "--seed", SEED, "--scheduler", scheduler,
        "--no-summary",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "manifest.json").read_text())["sessions"][-1]["engine"] == scheduler
    assert_same(local, results.load(out))


def test_resume_on_the_cluster_finishes_a_local_batch_identically(scheduler, local, tmp_path):
    out = tmp_path / "mixed"
    run_batch(CSTO, out, runs=RUNS, seed=SEED, options=RunOptions(workers=1), chunk_size=1000)
    (out / "chunks" / "passage-000002.parquet").unlink()
    (out / "chunks" / "aggregates-000003.parquet").unlink()
    outcome = run_batch(
        CSTO, out, runs=RUNS, seed=SEED, options=RunOptions(scheduler=scheduler, resume=True)
    )
    assert outcome.runs_at_start == 2000 and outcome.runs_done == RUNS
    assert_same(local, results.load(out))
