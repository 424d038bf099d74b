"""One way to run a job (`sim.batch.jobs`): a job refused or failing half-way leaves nothing that
blocks the corrected command, its lock is never left held, batches and forecasts keep their lock
until their summary is written, and manifests written before the typed models still load."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import pytest
from model_helpers import DATA, alliance
from result_dirs import sweep_spec
from test_forecast import observations

from sim.batch import results, store
from sim.batch.jobs import RunDir, RunOptions
from sim.batch.manifests import (
    BatchManifest,
    ExperimentManifest,
    FileRef,
    read_manifest,
)
from sim.batch.runner import run_batch
from sim.experiments import sweep as sweep_module
from sim.model.errors import InputError
from sim.model.scenario import load_scenario, with_parameters

SCENARIO = DATA / "fixed_hazard.yaml"
MANIFESTS = DATA / "manifests"
QUIET = RunOptions(workers=1, progress=False)


def lock_is_held(directory: Path) -> bool:
    """Whether some open file holds the directory's lock (a new descriptor cannot take it)."""
    fd = os.open(directory / store.LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def small_manifest() -> ExperimentManifest:
    ref = FileRef(name="x", path="x.yaml", hash="0")
    return ExperimentManifest(
        kind="sweep", experiment=ref, scenario=ref, varied=["a"], parameters={}, design={},
        points=1, replications=1, runs=1, seed=0, outcomes=["o"], chunks=1, lanes_per_chunk=1,
    )  # fmt: skip


def test_a_new_run_refused_half_way_is_taken_back_whole(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(InputError), RunDir(out, small_manifest(), QUIET) as run:
        run.write_json("results.csv", {"half": "written"})
        assert lock_is_held(out)
        raise InputError("facts.yaml", "", "refused half-way")
    assert not out.exists()  # no manifest, no lock file, no half-written table
    with RunDir(out, small_manifest(), QUIET) as run:  # the corrected command: no --force
        run.write_json("results.csv", {"whole": True})
    assert read_manifest(out).finished is not None


def test_a_refusal_in_a_directory_that_was_there_leaves_it_as_it_was(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(InputError), RunDir(out, small_manifest(), QUIET):
        raise InputError("facts.yaml", "", "refused")
    assert out.is_dir() and not any(out.iterdir())


def test_a_job_failing_half_way_leaves_no_lock_and_resumes(tmp_path, monkeypatch):
    spec, out = sweep_spec(tmp_path), tmp_path / "sweep"

    def broken(*args, **kwargs):
        raise RuntimeError("a bug half-way")

    monkeypatch.setattr(sweep_module, "results_table", broken)
    with pytest.raises(RuntimeError):
        sweep_module.sweep(spec, out, QUIET)
    assert not lock_is_held(out) and not store._held
    assert read_manifest(out).finished is None  # the chunks stay, for --resume
    monkeypatch.undo()
    table = sweep_module.sweep(spec, out, RunOptions(workers=1, progress=False, resume=True))
    assert len(table) == 9 * 2 and read_manifest(out).finished is not None


def test_a_sweep_refused_half_way_does_not_block_the_corrected_command(tmp_path, monkeypatch):
    spec, out = sweep_spec(tmp_path), tmp_path / "sweep"

    def refused(*args, **kwargs):
        raise InputError(str(spec), "outcomes", "refused half-way")

    monkeypatch.setattr(sweep_module, "results_table", refused)
    with pytest.raises(InputError):
        sweep_module.sweep(spec, out, QUIET)
    assert not out.exists()
    monkeypatch.undo()
    assert len(sweep_module.sweep(spec, out, QUIET)) == 9 * 2


def test_a_job_writes_only_the_files_its_kind_owns(tmp_path):
    with (
        pytest.raises(ValueError, match="owns"),
        RunDir(tmp_path / "r", small_manifest(), QUIET) as run,
    ):
        run.write_json("../elsewhere.json", {})


def facts(folder: Path, items: list[dict]) -> Path:
    """An observations file known by the scenario's last month."""
    return observations(folder, items, as_of="2041-12")


LATER = {"member": "South", "stage": "frozen", "not_reached_by": "2041-06"}


@pytest.mark.parametrize(
    ("items", "args", "said"),
    [
        ([LATER], ["--reached-in", "sometimes"], "--reached-in"),
        ([LATER], ["--origin", "2041-10"], "nothing to score"),
        (
            [
                {"member": "South", "stage": "disengaged", "not_reached_by": "2040-02"},
                {"member": "North", "stage": "withdrawn", "reached_by": "2040-02"},
                LATER,
            ],
            ["--origin", "2040-06"],
            "no run of the model is consistent",
        ),
    ],
    ids=["bad-reached-in", "nothing-to-score", "impossible-fact"],
)
def test_backtest_refusals_leave_no_manifest_or_lock(
    tmp_path, monkeypatch, capsys, items, args, said
):
    out = tmp_path / "bt"
    code, _, err = alliance(
        monkeypatch, capsys, "backtest", SCENARIO, "--observations", facts(tmp_path, items),
        "--out", out, "--runs", 1000, "--workers", 1, *args,
    )  # fmt: skip
    assert code == 2 and said in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("scheduler", "said"),
    [
        ("nowhere:1", "expected a Dask scheduler address"),
        pytest.param(
            "tcp://127.0.0.1:9", "cannot reach a Dask scheduler", marks=pytest.mark.slow
        ),  # waits for the connection's timeout
    ],
)
def test_crossval_scheduler_errors_leave_no_manifest_or_lock(
    tmp_path, monkeypatch, capsys, scheduler, said
):
    from case_helpers import write_cases, write_experiment

    cases = write_cases(tmp_path)
    experiment = write_experiment(
        tmp_path, cases, replications=20, points=8, walkers=4, steps=4, burn=1
    )
    out = tmp_path / "cv"
    code, _, err = alliance(
        monkeypatch, capsys, "crossval", experiment, "--out", out, "--scheduler", scheduler
    )
    assert code == 2 and said in err
    assert not out.exists()


@pytest.fixture
def lock_seen_by_summary(monkeypatch):
    """Whether the directory's lock was held while each summary was computed."""
    seen: list[bool] = []
    compute = results.compute_summary

    def watched(directory, *args, **kwargs):
        seen.append(lock_is_held(Path(directory)))
        return compute(directory, *args, **kwargs)

    monkeypatch.setattr(results, "compute_summary", watched)
    return seen


def test_batch_keeps_its_lock_from_the_chunks_to_the_summary(
    tmp_path, monkeypatch, capsys, lock_seen_by_summary
):
    out = tmp_path / "b"
    code, _, err = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--out", out, "--runs", 1000, "--workers", 1
    )
    assert code == 0, err
    assert lock_seen_by_summary == [True]
    assert not lock_is_held(out) and (out / "summary" / "summary.json").is_file()


def test_forecast_keeps_its_lock_from_the_chunks_to_the_summary(
    tmp_path, monkeypatch, capsys, lock_seen_by_summary
):
    out = tmp_path / "fc"
    known = facts(
        tmp_path, [{"member": "North", "stage": "disengaged", "not_reached_by": "2040-03"}]
    )
    code, _, err = alliance(
        monkeypatch, capsys, "forecast", SCENARIO, "--observations", known, "--out", out,
        "--runs", 1000, "--workers", 1,
    )  # fmt: skip
    assert code == 0, err
    assert lock_seen_by_summary == [True]
    manifest = read_manifest(out, "batch", BatchManifest)
    assert manifest.conditioning is not None and manifest.finished is not None


def test_manifests_written_before_the_typed_models_still_load(tmp_path):
    for name, kind in (("batch-v1.json", "batch"), ("sweep-v1.json", "sweep")):
        folder = tmp_path / kind
        folder.mkdir()
        shutil.copy(MANIFESTS / name, folder / store.MANIFEST)
        manifest = read_manifest(folder, kind)
        assert manifest.schema_version == 1 and manifest.run_id and manifest.finished
        written = json.loads((MANIFESTS / name).read_text())
        document = manifest.document()
        assert {k: document[k] for k in written} == written  # nothing lost or changed


def test_a_batch_started_by_the_previous_version_is_finished_by_this_one(tmp_path):
    """A batch directory whose manifest the previous version wrote (its chunks not yet run) is
    resumed under its own run identity and read back by `load`."""
    old = json.loads((MANIFESTS / "batch-v1.json").read_text())
    if old["versions"]["alliance-defection"] != store.versions()["alliance-defection"]:
        pytest.skip("another version of this package: a resume is refused by design")
    # The parameter table has grown since (a parameter added is a different model): the layout
    # of the old manifest is what is tested, so it asks for today's parameter values.
    parameters = with_parameters(load_scenario(SCENARIO), {})
    out = tmp_path / "b"
    out.mkdir()
    (out / store.MANIFEST).write_text(
        json.dumps({**old, "parameters": parameters, "finished": None})
    )
    shutil.copy(SCENARIO, out / "scenario.yaml")  # the input copy the old manifest records
    outcome = run_batch(SCENARIO, out, 1000, seed=1, options=RunOptions(workers=1, resume=True))
    assert outcome.runs_at_start == 0 and outcome.runs_done == 1000
    loaded = results.load(out)
    assert loaded.manifest.run_id == old["run_id"] and loaded.manifest.schema_version == 1
    assert loaded.manifest.finished is not None and loaded.curves["probability"].notna().all()


def test_resume_and_force_together_are_refused_before_anything_is_written():
    with pytest.raises(InputError, match="--force"):
        RunOptions(resume=True, force=True)
