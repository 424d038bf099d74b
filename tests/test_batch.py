"""Monte Carlo batches: the same results for any workers and chunking, resume after SIGKILL,
clean Ctrl-C, refused resumes and occupied directories, the stored files, and the results API."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_helpers import DATA, ROOT, SCENARIOS, add_events, alliance, run_cli, variant

from sim.batch import results
from sim.batch.jobs import RunOptions
from sim.batch.lanes import simulate_chunk
from sim.batch.runner import run_batch
from sim.model.errors import InputError
from sim.model.scenario import load_scenario

CSTO = SCENARIOS / "csto_2022.yaml"
RUNS, SEED = 4500, 11  # N not a multiple of the chunk size on purpose


def assert_same_results(a: results.BatchResults, b: results.BatchResults) -> None:
    """Every summary table and every run's first passages are identical."""
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], check_exact=True, obj=name)
    pd.testing.assert_frame_equal(a.first_passage(), b.first_passage(), check_exact=True)


@pytest.fixture(scope="module")
def serial_batch(tmp_path_factory) -> results.BatchResults:
    """The reference: one worker, chunks of 1000, summarized (so `load` reads DIR/summary)."""
    out = tmp_path_factory.mktemp("serial") / "batch"
    run_batch(CSTO, out, runs=RUNS, seed=SEED, options=RunOptions(workers=1), chunk_size=1000)
    return results.summarize(out)[0]


def test_batch_equals_one_chunk_of_all_replications(serial_batch):
    scenario = load_scenario(CSTO)
    whole = simulate_chunk(scenario, SEED, 0, RUNS, aggregate=False)
    fp = serial_batch.first_passage()
    assert len(fp) == RUNS * len(scenario.members) * 3
    months = fp["month"].to_numpy().reshape(RUNS, len(scenario.members), 3)
    np.testing.assert_array_equal(months, whole.first_passage)


def test_batches_in_one_process_freeze_the_heap_only_once(serial_batch, tmp_path):
    """A session running batch after batch in one process: only the first freezes the objects
    there (imports), so what later runs leave behind can still be collected."""
    frozen = gc.get_freeze_count()
    assert frozen > 0  # the serial batch froze its imports
    leftovers = [[] for _ in range(1000)]
    for item in leftovers:
        item.append(item)  # reference cycles: garbage only the collector frees
    del leftovers
    run_batch(CSTO, tmp_path / "again", runs=1000, seed=SEED, options=RunOptions(workers=1))
    assert gc.get_freeze_count() <= frozen  # nothing newly frozen (frozen objects may be freed)


def test_same_results_with_two_workers_and_another_chunk_size(serial_batch, tmp_path):
    out = tmp_path / "batch"
    outcome = run_batch(
        CSTO, out, runs=RUNS, seed=SEED, options=RunOptions(workers=2), chunk_size=2000
    )
    assert outcome.manifest.sessions[-1]["engine"] == "local"
    assert outcome.chunks_total == 3 and not outcome.interrupted
    assert_same_results(serial_batch, results.load(out))  # computed here, not read from summary


def test_another_seed_gives_other_results(serial_batch, tmp_path):
    out = tmp_path / "batch"
    run_batch(CSTO, out, runs=RUNS, seed=SEED + 1, options=RunOptions(workers=1))
    other = results.load(out)
    assert not other.curves["probability"].equals(serial_batch.curves["probability"])


def test_directory_holds_manifest_scenario_copy_chunks_and_summary(serial_batch):
    out = serial_batch.directory
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "batch" and manifest["runs"] == RUNS and manifest["seed"] == SEED
    assert manifest["chunk_size"] == 1000 and manifest["chunks"] == 5
    assert manifest["scenario"]["hash"] == load_scenario(CSTO).content_hash
    assert (out / "scenario.yaml").read_bytes() == CSTO.read_bytes()
    assert {"python", "numpy", "mesa", "alliance-defection"} <= set(manifest["versions"])
    assert manifest["started"] and manifest["finished"]
    assert manifest["parameters"]["drain_scale"] == 1.0
    names = sorted(p.name for p in (out / "chunks").iterdir())
    assert names == [f"{k}-{i:06d}.parquet" for k in ("aggregates", "passage") for i in range(5)]
    summary = out / "summary"
    for name in results.TABLES:
        csv = pd.read_csv(summary / f"{name}.csv")
        assert len(csv) == len(getattr(serial_batch, name)), name
    document = json.loads((summary / "summary.json").read_text())
    assert document["runs"] == RUNS and document["by_date"] and document["median_time"]
    loaded = results.load(out)
    assert_same_results(serial_batch, loaded)


def test_passage_chunk_is_one_row_per_run_with_a_column_per_member_and_stage(serial_batch):
    table = pd.read_parquet(serial_batch.directory / "chunks" / "passage-000004.parquet")
    assert table["run"].tolist() == list(range(4000, 4500))
    assert table["Armenia:withdrawn"].dtype == np.int16
    assert len(table.columns) == 2 + 5 * 3


# Runs of a batch that a test interrupts and does not resume: so many that the signal comes
# long before its end, however slowly a loaded machine lets the test poll for its chunks.
LONG_RUNS = 400_000


def _spawn_batch(out: Path, *extra: str, runs: int = 20_000) -> subprocess.Popen:
    args = [CSTO, "--out", out, "--runs", runs, "--seed", SEED, "--chunk-size", 1000, *extra]
    return subprocess.Popen(
        [sys.executable, "-c", "from sim.cli.main import main; main()", "batch", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # As at a terminal: Ctrl-C reaches the batch even where this test process was started
        # with SIGINT ignored (a background job), which a child would inherit.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_chunks(out: Path, count: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        chunks = out / "chunks"
        done = len(list(chunks.glob("passage-*.parquet"))) if chunks.exists() else 0
        if done >= count:
            return done
        time.sleep(0.02)
    raise AssertionError(f"batch ended or stalled before {count} chunks: {process.poll()}")


def test_batch_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    out = tmp_path / "killed"
    process = _spawn_batch(out, "--workers", "2")
    _wait_for_chunks(out, 3, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    manifest = json.loads((out / "manifest.json").read_text())
    kept = len(list((out / "chunks").glob("passage-*.parquet")))
    assert manifest["finished"] is None and 3 <= kept < manifest["chunks"]

    refused = run_cli("summarize", out)
    assert (
        refused.returncode == 2 and "incomplete" in refused.stderr and "--resume" in refused.stderr
    )
    assert len(refused.stderr.strip().splitlines()) == 1

    args = ["--runs", 20_000, "--seed", SEED, "--workers", 2, "--resume", "--no-summary"]
    resumed = run_cli("batch", CSTO, "--out", out, *args)
    assert resumed.returncode == 0, resumed.stderr
    assert "were done before" in resumed.stdout

    straight = tmp_path / "straight"
    run_batch(
        CSTO, straight, runs=20_000, seed=SEED, options=RunOptions(workers=1), chunk_size=10_000
    )
    assert_same_results(results.load(straight), results.load(out))
    assert not list(out.rglob(".tmp-*"))


def test_ctrl_c_keeps_finished_chunks_and_says_how_to_resume(tmp_path):
    out = tmp_path / "stopped"
    process = _spawn_batch(out, "--workers", "1", runs=LONG_RUNS)
    _wait_for_chunks(out, 2, process)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert len(list((out / "chunks").glob("passage-*.parquet"))) >= 2
    assert not list(out.rglob(".tmp-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished"] is None and manifest["sessions"][-1]["chunks_after"] >= 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seed": SEED + 1}, "seed"),
        ({"runs": RUNS + 1000}, "runs"),
        ({"chunk_size": 2000}, "chunk_size"),
        ({"overrides": {"drain_scale": 1.5}}, "parameters.drain_scale"),
        ({"trajectories": True}, "trajectories"),
    ],
)
def test_resume_with_other_settings_is_refused_naming_the_field(serial_batch, change, field):
    settings = {"runs": RUNS, "seed": SEED, "chunk_size": 1000, **change}
    with pytest.raises(InputError) as error:
        run_batch(
            CSTO, serial_batch.directory, options=RunOptions(workers=1, resume=True), **settings
        )
    assert error.value.where == field
    assert "--force" in error.value.message


def test_resume_with_an_edited_scenario_is_refused(serial_batch, tmp_path, monkeypatch, capsys):
    edited = tmp_path / "edited.yaml"
    edited.write_text(CSTO.read_text().replace("value: 0.6\n", "value: 0.61\n", 1))
    status, _, err = alliance(
        monkeypatch, capsys, "batch", edited, "--out", serial_batch.directory, "--runs", RUNS,
        "--seed", SEED, "--chunk-size", 1000, "--resume",
    )  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "scenario.hash" in err and "manifest.json" in err


def test_resume_of_a_finished_batch_runs_nothing(serial_batch):
    outcome = run_batch(
        CSTO, serial_batch.directory, runs=RUNS, seed=SEED, options=RunOptions(resume=True)
    )
    assert outcome.runs_at_start == RUNS and outcome.runs_done == RUNS
    assert outcome.manifest.chunk_size == 1000  # taken from the manifest when not given


def test_occupied_directories_are_refused_unless_forced(tmp_path, monkeypatch, capsys):
    out = tmp_path / "batch"
    run_batch(CSTO, out, runs=2000, seed=1, options=RunOptions(workers=1), chunk_size=1000)
    status, _, err = alliance(monkeypatch, capsys, "batch", CSTO, "--out", out, "--runs", 1000)
    assert status == 2 and "already holds a batch" in err and len(err.strip().splitlines()) == 1

    run_batch(CSTO, out, runs=1000, seed=2, options=RunOptions(workers=1, force=True))
    assert sorted(p.name for p in (out / "chunks").iterdir()) == [
        "aggregates-000000.parquet",
        "passage-000000.parquet",
    ]
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    status, _, err = alliance(monkeypatch, capsys, "batch", CSTO, "--out", foreign)
    assert status == 2 and "not empty" in err
    run_batch(CSTO, foreign, runs=1000, seed=1, options=RunOptions(workers=1, force=True))
    assert (foreign / "mine.txt").read_text() == "keep me"

    status, _, err = alliance(monkeypatch, capsys, "batch", CSTO, "--out", out.parent / "new",
                              "--resume")  # fmt: skip
    assert status == 2 and "nothing to resume" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--chunk-size", "1500"], "--chunk-size"),
        (["--param", "drain_scale=9"], "--param"),
        (["--param", "no_such=1"], "--param"),
        (["--trajectories", "--runs", "20000"], "--trajectories"),
        (["--scheduler", "localhost:8786"], "--scheduler"),
        (["--force", "--resume"], "--resume"),
    ],
)
def test_bad_batch_options_give_one_line_and_write_nothing(
    tmp_path, monkeypatch, capsys, args, needle
):
    out = tmp_path / "out"
    status, _, err = alliance(monkeypatch, capsys, "batch", CSTO, "--out", out, *args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and needle in err
    assert not out.exists()


def test_batch_then_summary_table_and_figure_from_the_command_line(tmp_path):
    out = tmp_path / "batch"
    result = run_cli(
        "batch", CSTO, "--out", out, "--runs", 2000, "--workers", 1, "--param",
        "drain_scale=1.5", "--plot",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "P(withdrawn by date)" in result.stdout and "Armenia" in result.stdout
    assert (out / "figures" / "defection-curves.png").stat().st_size > 10_000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameter_overrides"] == {"drain_scale": 1.5}
    assert manifest["parameters"]["drain_scale"] == 1.5
    again = run_cli("summarize", out)
    assert again.returncode == 0 and "P(any formal exit)" in again.stdout
    assert (out / "summary" / "by_date.csv").exists()


def test_parameter_override_changes_results(serial_batch, tmp_path):
    out = tmp_path / "drained"
    run_batch(
        CSTO,
        out,
        runs=RUNS,
        seed=SEED,
        options=RunOptions(workers=1),
        overrides={"drain_scale": 2.0},
    )
    drained = results.load(out).alliance["p_any_exit"].iloc[-1]
    assert drained > serial_batch.alliance["p_any_exit"].iloc[-1]


def test_stored_trajectories_of_scenarios_that_differ_from_month_m_agree_before_it(tmp_path):
    base = DATA / "quiet.yaml"
    month = 9  # quiet.yaml starts 2030-01
    later = variant(tmp_path, add_events({"date": "2030-10", "kind": "drain", "id": "war",
                                          "once": 0.4, "monthly": 0.02}))  # fmt: skip
    loaded = []
    for name, scenario in (("base", base), ("later", later)):
        run_batch(
            scenario,
            tmp_path / name,
            runs=1000,
            seed=4,
            options=RunOptions(workers=1),
            trajectories=True,
        )
        loaded.append(results.load(tmp_path / name).trajectories())
    a, b = loaded
    assert list(a.columns) == ["run", "month", "date", "actor", "variable", "value"]
    assert len(a) == 1000 * 36 * (3 * 2 + 1)
    before, after = a["month"] < month, a["month"] >= month
    np.testing.assert_array_equal(a.loc[before, "value"], b.loc[before, "value"])
    capacity = a["variable"] == "capacity"
    assert (a.loc[after & capacity, "value"] > b.loc[after & capacity, "value"]).all()
    status = (a["variable"] == "status") & after
    assert (a.loc[status, "value"] != b.loc[status, "value"]).any()


def test_trajectories_are_refused_for_a_batch_run_without_them(serial_batch):
    with pytest.raises(InputError, match="without --trajectories"):
        serial_batch.trajectories()


def test_small_batches_run_in_one_process_unless_workers_are_asked_for():
    from sim.batch.engines import SERIAL_RUNS, available_cores, local_workers

    assert local_workers(None, SERIAL_RUNS) == 1  # no pool to start for a second's work
    assert local_workers(None, SERIAL_RUNS + 1) == available_cores()
    assert local_workers(None) == available_cores()
    assert local_workers(2, 1000) == min(2, available_cores())
