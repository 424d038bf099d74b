"""Hostile calibration and cross-validation runs (issue 19): Ctrl-C in the middle of a chain, a
full disk, a damaged or foreign `chain.npz`, designs the sampler cannot start from. Each ends
with one line (no traceback), and what is left on disk is finished by the command it names.
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from case_helpers import write_cases, write_experiment
from model_helpers import alliance

import sim.experiments.sampler as sampler
from sim.experiments.likelihood import Likelihood


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("chain")
    cases = write_cases(folder, ("north", "south"))
    experiment = write_experiment(
        folder, cases, replications=20, points=8, walkers=4, steps=6, burn=2
    )
    return folder, experiment


def one_line(status: int, out: str, err: str, code: int, *phrases: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert status == code, err
    assert len(lines) == 1 and "Traceback" not in err + out and "emcee:" not in out, err + out
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


def interrupt_at(monkeypatch, call: int, error: BaseException) -> None:
    """The likelihood's `call`-th evaluation raises `error` (Ctrl-C, a full disk)."""
    original, calls = Likelihood.__call__, {"n": 0}

    def evaluate(self, matrix):
        calls["n"] += 1
        if calls["n"] == call:
            raise error
        return original(self, matrix)

    monkeypatch.setattr(sampler, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(Likelihood, "__call__", evaluate)


@pytest.mark.parametrize("command", ["calibrate", "crossval"])
def test_ctrl_c_in_a_chain_gives_one_line_and_resumes(
    library, tmp_path, monkeypatch, capsys, command
):
    _, experiment = library
    out = tmp_path / command
    interrupt_at(monkeypatch, 4, KeyboardInterrupt())
    status, stdout, err = alliance(monkeypatch, capsys, command, experiment, "--out", out)
    one_line(status, stdout, err, 130, "interrupted")
    monkeypatch.undo()
    status, _, err = alliance(monkeypatch, capsys, command, experiment, "--out", out, "--resume")
    assert status == 0, err


def full_disk(path: str) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", path)


@pytest.mark.parametrize("command", ["calibrate", "crossval"])
def test_a_full_disk_in_a_chain_names_the_file_and_the_resume_command(
    library, tmp_path, monkeypatch, capsys, command
):
    _, experiment = library
    out = tmp_path / command
    real_save = sampler._save
    saves = {"n": 0}

    def fills_up(path, *args):
        saves["n"] += 1
        if saves["n"] == 3:
            import sim.batch.store as store

            store.write_bytes_atomic(
                path.parent / "big", b""
            )  # a plain write, then the disk is full
            raise full_disk(str(path))
        real_save(path, *args)

    monkeypatch.setattr(sampler, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(sampler, "_save", fills_up)
    status, stdout, err = alliance(monkeypatch, capsys, command, experiment, "--out", out)
    line = one_line(status, stdout, err, 1, "chain.npz", "No space left on device")
    assert f"finish with: alliance {command} {experiment} --out {out} --resume" in line, line
    monkeypatch.undo()
    status, _, err = alliance(monkeypatch, capsys, command, experiment, "--out", out, "--resume")
    assert status == 0, err


def test_a_full_disk_with_no_file_named_still_names_the_file(tmp_path, monkeypatch):
    """An OS error from writing (not opening) a file carries no name: the atomic write adds it."""
    import os

    from sim.batch.store import write_bytes_atomic

    def no_space(fd):  # the data reaches the disk at fsync, which finds it full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as raised:
        write_bytes_atomic(tmp_path / "table.parquet", b"x" * 100)
    assert raised.value.filename == str(tmp_path / "table.parquet")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize("origins", [(), ("--origins", "2040-02,2040-06")], ids=["one", "rolling"])
def test_a_backtest_on_a_full_disk_advises_the_command_that_scores_it(
    tmp_path, monkeypatch, capsys, origins
):
    from test_backtest_origins import FACTS
    from test_forecast import SCENARIO, observations

    import sim.batch.ledger as ledger

    facts = observations(tmp_path, FACTS)
    real_write, writes = ledger.write_bytes_atomic, []

    def fills_up(path: Path, data: bytes) -> None:
        writes.append(path)
        if len(writes) > 2:
            raise full_disk(str(path))
        real_write(path, data)

    monkeypatch.setattr(ledger, "write_bytes_atomic", fills_up)
    out = tmp_path / "bt"
    args = ("--observations", facts, "--out", out, "--runs", 3000, "--workers", 1, *origins)
    status, stdout, err = alliance(monkeypatch, capsys, "backtest", SCENARIO, *args)
    line = one_line(status, stdout, err, 1, "No space left on device")
    assert f"finish with: alliance backtest {SCENARIO}" in line and "--resume" in line, line
    assert "alliance forecast" not in line, line
    monkeypatch.undo()
    command = line.split("finish with: ")[1].split()
    assert command[:2] == ["alliance", "backtest"]
    status, _, err = alliance(monkeypatch, capsys, *command[1:])
    assert status == 0, err
    assert (out / "scores.csv").is_file()


def gaussian(mean: float):
    """A cheap stand-in for the simulated likelihood: a Gaussian around `mean` in 2 dimensions."""
    from sim.experiments.likelihood import Evaluation

    def evaluate(x: np.ndarray) -> Evaluation:
        loglik = -0.5 * ((x - mean) ** 2).sum(axis=1)
        return Evaluation(loglik, loglik[:, None], np.exp(loglik)[:, None])

    return evaluate


BOUNDS = np.array([[-3.0, 3.0], [-3.0, 3.0]])
DESIGN = np.random.default_rng(7).uniform(-3, 3, (16, 2))


def chain(folder: Path, mean: float, resume: bool = False, steps: int = 30):
    folder.mkdir(parents=True, exist_ok=True)
    return sampler.sample(
        gaussian(mean), BOUNDS, DESIGN, 6, steps, 3, folder, resume, identity=f"mean {mean}"
    )


def truncate(path: Path, other: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path: Path, other: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        lambda p, other: p.write_bytes(other.read_bytes()),
        truncate,
        flip_a_byte,
        lambda p, other: p.write_bytes(b"not a checkpoint"),
        lambda p, other: p.write_bytes(b""),
    ],
    ids=["another chain's", "truncated", "a byte flipped", "not an archive", "empty"],
)
def test_resume_continues_only_its_own_sound_checkpoint(tmp_path, monkeypatch, damage):
    monkeypatch.setattr(sampler, "CHECKPOINT_SECONDS", 0.0)
    reference = chain(tmp_path / "reference", 0.5)
    other = tmp_path / "other"
    chain(other, -1.0)
    folder = tmp_path / "run"
    chain(folder, 0.5, steps=12)  # an interrupted run of the same chain: its checkpoint
    target = folder / sampler.CHECKPOINT
    damage(target, other / sampler.CHECKPOINT)
    resumed = chain(folder, 0.5, resume=True)
    np.testing.assert_array_equal(resumed.coords, reference.coords)
    np.testing.assert_array_equal(resumed.store["x"], reference.store["x"])


def test_resume_continues_its_own_checkpoint_without_evaluating_again(tmp_path, monkeypatch):
    monkeypatch.setattr(sampler, "CHECKPOINT_SECONDS", 0.0)
    reference = chain(tmp_path / "reference", 0.5)
    folder = tmp_path / "run"
    chain(folder, 0.5, steps=12)
    calls = {"points": 0}
    evaluate = gaussian(0.5)

    def counted(x):
        calls["points"] += len(x)
        return evaluate(x)

    resumed = sampler.sample(counted, BOUNDS, DESIGN, 6, 30, 3, folder, True, identity="mean 0.5")
    np.testing.assert_array_equal(resumed.coords, reference.coords)
    assert calls["points"] < len(reference.store["x"]) - len(DESIGN)  # the 12 steps were kept


def test_walkers_started_on_a_lattice_line_are_spread_into_the_box(tmp_path):
    from sim.experiments.likelihood import Evaluation

    def sharp_in_first(x: np.ndarray) -> Evaluation:  # the best points share their first value
        loglik = -1e4 * (x[:, 0] - 1.0) ** 2 - 0.1 * x[:, 1] ** 2
        return Evaluation(loglik, loglik[:, None], np.exp(loglik)[:, None])

    levels = np.linspace(-3, 3, 4)
    grid = np.array([[a, b] for a in np.append(levels, 1.0) for b in levels])
    result = sampler.sample(sharp_in_first, BOUNDS, grid, 4, 20, 1, tmp_path, False)
    start = result.coords[0]
    assert np.ptp(start, axis=0).min() > 0  # off the line x0 = 1 the design put them on
    assert (result.coords >= BOUNDS[:, 0]).all() and (result.coords <= BOUNDS[:, 1]).all()


@pytest.mark.parametrize(
    "design",
    [{"method": "morris", "trajectories": 4, "levels": 4}, {"method": "grid", "levels": 3}],
    ids=["morris", "grid"],
)
def test_grid_and_morris_designs_start_a_calibration_that_resumes(
    library, tmp_path, monkeypatch, capsys, design
):
    folder, pooled = library
    data = yaml.safe_load(pooled.read_text())
    data["design"] = design
    experiment = folder / f"pool-{design['method']}.yaml"
    experiment.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "fit"
    interrupt_at(monkeypatch, 3, KeyboardInterrupt())
    status, stdout, err = alliance(monkeypatch, capsys, "calibrate", experiment, "--out", out)
    one_line(status, stdout, err, 130, "interrupted", "--resume")
    monkeypatch.undo()
    status, _, err = alliance(
        monkeypatch, capsys, "calibrate", experiment, "--out", out, "--resume"
    )
    assert status == 0, err
    assert len(pd.read_parquet(out / "posterior.parquet")) == 4 * (6 - 2)


def test_a_damaged_fold_table_is_computed_again_on_resume(library, tmp_path, monkeypatch, capsys):
    table = "heldout.parquet"  # the horizon table is read by the same function
    _, experiment = library
    out = tmp_path / "cv"
    status, _, err = alliance(monkeypatch, capsys, "crossval", experiment, "--out", out)
    assert status == 0, err
    events = pd.read_parquet(out / "events.parquet")
    truncate(out / "folds" / "north" / table, out)
    again = ("crossval", experiment, "--out", out, "--resume")
    status, _, err = alliance(monkeypatch, capsys, *again)
    assert status == 0 and "Traceback" not in err, err
    pd.testing.assert_frame_equal(pd.read_parquet(out / "events.parquet"), events)
    assert len(pd.read_parquet(out / "folds" / "north" / table)) > 0
