"""`alliance compare`: paired differences of two batches with common random numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_helpers import SCENARIOS, add_events, alliance, variant

from sim.batch.compare import PairedCounts, compare_batches, paired_intervals
from sim.batch.jobs import RunOptions
from sim.batch.runner import run_batch

RUNS = 2000
LATE_REBUKE = {"date": "2027-06", "kind": "rebuke", "member": "Kazakhstan", "severity": 1.0}


@pytest.fixture(scope="module")
def late_pair(tmp_path_factory) -> tuple[Path, Path]:
    """csto_2022 and a copy with one extra late rebuke, same seed and runs (chunks 1000, 2000)."""
    folder = tmp_path_factory.mktemp("compare")
    late = variant(folder, add_events(LATE_REBUKE), base=SCENARIOS / "csto_2022.yaml")
    a, b = folder / "a", folder / "b"
    run_batch(
        SCENARIOS / "csto_2022.yaml",
        a,
        runs=RUNS,
        seed=4,
        options=RunOptions(workers=1),
        chunk_size=1000,
    )
    run_batch(late, b, runs=RUNS, seed=4, options=RunOptions(workers=1), chunk_size=2000)
    return a, b


def test_paired_interval_narrower_than_unpaired_when_scenarios_differ_late(late_pair):
    tables = compare_batches(*late_pair)
    diff = tables["difference"]
    kz = diff[(diff["member"] == "Kazakhstan") & (diff["stage"] == "disengaged")]
    end = kz.iloc[-1]
    assert end["difference"] < 0  # the extra rebuke makes B's Kazakhstan leave more often
    paired = end["paired_high"] - end["paired_low"]
    unpaired = end["unpaired_high"] - end["unpaired_low"]
    assert 0 < paired < 0.6 * unpaired
    assert end["paired_high"] < 0  # the paired interval alone tells the difference from zero
    before = diff[diff["date"] < "2027-06"]
    assert (before["difference"] == 0).all()
    assert (before["paired_high"] == before["paired_low"]).all()
    assert (tables["alliance"]["n"] == RUNS).all()


def test_difference_matches_each_batchs_own_curves(late_pair):
    from sim.batch.results import load

    tables = compare_batches(*late_pair)
    a, b = (load(d).curves for d in late_pair)
    diff = tables["difference"]
    np.testing.assert_allclose(diff["p_a"], a["probability"])
    np.testing.assert_allclose(diff["difference"], a["probability"] - b["probability"], atol=1e-12)


def test_paired_variance_is_that_of_the_run_differences():
    rng = np.random.default_rng(0)
    first_a = rng.integers(-1, 5, size=(500, 1))
    first_b = np.where(rng.random((500, 1)) < 0.7, first_a, rng.integers(-1, 5, size=(500, 1)))
    counts = PairedCounts.empty(1, 5)
    counts.add(first_a[:200], first_b[:200])
    counts.add(first_a[200:], first_b[200:])
    values = paired_intervals(counts)
    for t in range(5):
        d = ((first_a[:, 0] >= 0) & (first_a[:, 0] <= t)).astype(float) - (
            (first_b[:, 0] >= 0) & (first_b[:, 0] <= t)
        )
        half = 1.959964 * d.std() / np.sqrt(len(d))
        assert values["difference"][0, t] == pytest.approx(d.mean())
        assert values["paired_high"][0, t] - values["difference"][0, t] == pytest.approx(half)


def test_cli_writes_tables_and_difference_figure(late_pair, monkeypatch, capsys, tmp_path):
    a, b = late_pair
    code, out, err = alliance(monkeypatch, capsys, "compare", a, b, "--out", tmp_path / "cmp")
    assert code == 0, err
    assert "paired intervals are" in out
    table = pd.read_csv(tmp_path / "cmp" / "alliance.csv")
    assert {"p_a", "p_b", "difference", "paired_low", "unpaired_high"} <= set(table.columns)
    figure = tmp_path / "difference.png"
    code, _, err = alliance(
        monkeypatch, capsys, "plot", a, b, "--kind", "difference", "--out", figure
    )
    assert code == 0, err
    assert figure.stat().st_size > 10_000


def test_refuses_batches_with_different_seeds_or_runs(late_pair, monkeypatch, capsys, tmp_path):
    a, _ = late_pair
    other = tmp_path / "other"
    run_batch(SCENARIOS / "csto_2022.yaml", other, runs=RUNS, seed=5, options=RunOptions(workers=1))
    code, _, err = alliance(monkeypatch, capsys, "compare", a, other)
    assert code == 2
    assert err.count("\n") == 1 and "seed" in err and str(other) in err
    fewer = tmp_path / "fewer"
    run_batch(SCENARIOS / "csto_2022.yaml", fewer, runs=1000, seed=4, options=RunOptions(workers=1))
    code, _, err = alliance(monkeypatch, capsys, "compare", a, fewer)
    assert code == 2 and "runs" in err


def test_cli_names_its_columns_after_the_directories_and_reads_points(
    late_pair, monkeypatch, capsys, tmp_path
):
    a, b = (
        shutil.copytree(d, tmp_path / name)
        for d, name in zip(late_pair, ("war", "rebuke"), strict=True)
    )
    code, out, err = alliance(monkeypatch, capsys, "compare", a, b, "--out", tmp_path / "cmp")
    assert code == 0, err
    assert "war - rebuke" in out and "war against rebuke" in out
    assert " pp" in out and "A - B" not in out
    from sim.cli.compare import directory_names

    assert directory_names(Path("x/run"), Path("y/run")) == ("x/run", "y/run")  # same names
