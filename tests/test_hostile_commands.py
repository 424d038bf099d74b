"""Hostile command lines (issue 19): discovery settings out of bounds, comparing a run with
itself, a backtest's origins given twice, cross-validation's run count. Each is refused with one
line naming the option that is wrong, exit status 2, and nothing written.
"""

from __future__ import annotations

import pandas as pd
import pytest
from model_helpers import alliance
from test_discover import OUTCOME, synthetic_sweep

from sim.batch.jobs import RunOptions


def one_line(status: int, err: str, *phrases: str) -> str:
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--above", "0.2", "--mass-min", value], "--mass-min")
        for value in ("0", "1", "-0.5", "1.5", "nan")
    ]
    + [
        (["--above", "0.2", "--peel-alpha", value], "--peel-alpha")
        for value in ("0", "1", "-0.1", "nan")
    ]
    + [(["--above", value], "--above") for value in ("1.5", "-0.5", "nan", "inf")]
    + [(["--below", value], "--below") for value in ("-0.5", "nan")],
)
def test_discovery_settings_out_of_bounds_are_blamed_on_their_option(
    tmp_path, monkeypatch, capsys, args, option
):
    sweep_dir = synthetic_sweep(tmp_path / "s", points=60)
    status, _, err = alliance(
        monkeypatch, capsys, "discover", sweep_dir, "--outcome", OUTCOME, *args
    )
    line = one_line(status, err, f"error: {option}")
    assert "--outcome" not in line, line
    assert not (sweep_dir / "discover").exists()


def test_a_batch_compared_with_itself_is_refused(tmp_path, monkeypatch, capsys):
    import shutil

    from model_helpers import DATA

    from sim.batch.runner import run_batch

    batch = tmp_path / "x"
    run_batch(DATA / "quiet.yaml", batch, runs=200, seed=3, options=RunOptions(workers=1))
    (tmp_path / "link").symlink_to(batch, target_is_directory=True)
    shutil.copytree(batch, tmp_path / "copy")
    for other in (batch, f"{batch}/", tmp_path / "link", tmp_path / "copy"):
        status, _, err = alliance(monkeypatch, capsys, "compare", batch, other)
        one_line(status, err, "run_id", "same run", "expected two different batches")
        assert "nan" not in err
    assert not (batch / "compare").exists()


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (
            ["--origins", "2040-02,2040-06,2040-02"],
            ["--origins: 2040-02", "expected each origin once"],
        ),
        (["--origins", "2040-02,2040-02-15"], ["--origins: 2040-02-15", "month of 2040-02 again"]),
        (
            ["--origins", "2040-02,2040-06", "--origin", "2040-04"],
            ["--origin: 2040-04", "--origins"],
        ),
    ],
)
def test_origins_given_twice_or_beside_origin_are_refused_before_anything_is_written(
    tmp_path, monkeypatch, capsys, args, phrases
):
    from test_backtest_origins import FACTS
    from test_forecast import SCENARIO, observations

    out = tmp_path / "rolling"
    status, _, err = alliance(
        monkeypatch, capsys, "backtest", SCENARIO, "--observations", observations(tmp_path, FACTS),
        "--out", out, "--runs", 1000, "--workers", 1, *args,
    )  # fmt: skip
    one_line(status, err, *phrases)
    assert not out.exists()


def test_crossval_runs_are_bounded_before_anything_is_written(tmp_path, monkeypatch, capsys):
    import time

    from case_helpers import write_cases, write_experiment

    cases = write_cases(tmp_path, ("north", "south"))
    pool = write_experiment(tmp_path, cases, replications=20, points=8, walkers=4, steps=3, burn=1)
    out = tmp_path / "cv"
    started = time.monotonic()
    status, _, err = alliance(monkeypatch, capsys, "crossval", pool, "--out", out, "--runs", 10**10)
    one_line(status, err, "--runs", "expected at most 1,000,000,000")
    assert time.monotonic() - started < 10 and not out.exists()


@pytest.mark.parametrize(
    ("damage", "phrase"),
    [
        (lambda d: (d / "results.parquet").write_bytes(b"point,outcome\n0,x\n"), "unreadable"),
        (
            lambda d: (
                pd.read_parquet(d / "results.parquet")
                .drop(columns="estimate")
                .to_parquet(d / "results.parquet")
            ),
            "no column 'estimate'",
        ),
    ],
    ids=["not Parquet", "a column missing"],
)
def test_a_sweep_table_that_is_not_the_sweeps_is_named(
    tmp_path, monkeypatch, capsys, damage, phrase
):
    sweep_dir = synthetic_sweep(tmp_path / "s", points=60)
    damage(sweep_dir)
    status, _, err = alliance(
        monkeypatch, capsys, "discover", sweep_dir, "--outcome", OUTCOME, "--above", "0.2"
    )
    one_line(status, err, f"error: {sweep_dir / 'results.parquet'}", phrase)
