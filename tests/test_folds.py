"""Grouped folds of `alliance crossval --folds K`: no group (alliance) is ever split."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from case_helpers import write_cases, write_experiment
from model_helpers import alliance

from sim.experiments.cases import load_cases
from sim.experiments.experiment import load_experiment
from sim.experiments.folds import group_folds, leave_one_out
from sim.model.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def stub(name: str, group: str, facts: int) -> SimpleNamespace:
    return SimpleNamespace(name=name, group_name=group, facts=facts)


def test_folds_never_split_a_group_and_hold_every_case_once():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(3, 40))
        groups = [f"g{int(g)}" for g in rng.integers(0, n, n)]
        cases = [stub(f"c{i}", g, int(rng.integers(1, 30))) for i, g in enumerate(groups)]
        k = int(rng.integers(2, len(set(groups)) + 1)) if len(set(groups)) >= 2 else None
        if k is None:
            continue
        folds = group_folds(cases, k)
        assert len(folds) == k and all(folds)
        assert sorted(i for f in folds for i in f) == list(range(n))
        for f in folds:
            inside = {groups[i] for i in f}
            outside = {groups[i] for g in folds if g is not f for i in g}
            assert not inside & outside
        assert group_folds(cases, k) == folds  # the same split every time


def test_folds_balance_facts_largest_group_first():
    cases = [stub("a", "a", 10), stub("b", "b", 6), stub("c", "c", 5), stub("d", "d", 1)]
    assert group_folds(cases, 2) == [[0, 3], [1, 2]]  # 10 + 1 against 6 + 5
    assert leave_one_out(cases) == [[0], [1], [2], [3]]


def test_fold_count_outside_two_to_the_number_of_groups_is_an_input_error():
    cases = [stub("a", "x", 1), stub("b", "x", 1), stub("c", "y", 1)]
    with pytest.raises(InputError, match="number of case groups \\(2\\)"):
        group_folds(cases, 3)


def test_an_atop_case_and_its_narrative_case_are_one_group(tmp_path: Path):
    history = ROOT / "scenarios" / "history"
    atop = ROOT / "scenarios" / "atop"
    spec = {
        "name": "mixed",
        "description": "Narrative and ATOP cases of the same alliances.",
        "scenario": str(atop / "atop_3285.yaml"),
        "seed": 1,
        "replications": 10,
        "parameters": {"withdraw_intercept": {}},
        "design": {"method": "lhs", "points": 8},
        "calibration": {"sampler": "emcee", "walkers": 4, "steps": 4, "burn": 1},
        "outcomes": [{"kind": "any_exit", "by": "1991-07"}],
        "cases": [
            {"scenario": str(atop / "atop_3285.yaml"),
             "observations": str(atop / "atop_3285.obs.yaml")},
            {"scenario": str(history / "warsaw_pact_1955_1991.yaml"),
             "observations": str(history / "warsaw_pact_1955_1991.obs.yaml"),
             "group": "atop_3285"},
            {"scenario": str(atop / "atop_3215.yaml"),
             "observations": str(atop / "atop_3215.obs.yaml")},
            {"scenario": str(history / "anzus_1984_1987.yaml"),
             "observations": str(history / "anzus_1984_1987.obs.yaml"), "group": "atop_3215"},
            {"scenario": str(atop / "atop_3260.yaml"),
             "observations": str(atop / "atop_3260.obs.yaml")},
        ],
    }  # fmt: skip
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    cases = load_cases(load_experiment(path), None)
    assert [c.group_name for c in cases] == [
        "atop_3285", "atop_3285", "atop_3215", "atop_3215", "atop_3260",
    ]  # fmt: skip
    for k in (2, 3):
        for fold in group_folds(cases, k):
            names = {cases[i].name for i in fold}
            assert ("atop_3285" in names) == ("warsaw_pact_1955_1991" in names)
            assert ("atop_3215" in names) == ("anzus_1984_1987" in names)


@pytest.mark.slow
def test_grouped_crossval_holds_each_group_out_together(tmp_path: Path, monkeypatch, capsys):
    entries = write_cases(tmp_path)
    entries[0]["group"] = entries[1]["group"] = "one_alliance"  # north and south
    experiment = write_experiment(
        tmp_path, entries, replications=20, points=8, walkers=4, steps=4, burn=1
    )
    out = tmp_path / "cv"
    status, _, err = alliance(
        monkeypatch, capsys, "crossval", experiment, "--out", out, "--runs", 100, "--folds", 2,
        "--workers", 1,
    )  # fmt: skip
    assert status == 0, err
    assert sorted(p.name for p in (out / "folds").iterdir()) == ["fold_1", "fold_2"]
    held = {p.parent.name: p.parent.parent.name for p in (out / "folds").rglob("heldout.parquet")}
    assert held["north"] == held["south"] != held["east"]
    events = pd.read_csv(out / "events.csv")
    assert set(events["case"]) == {"north", "south", "east"}
    manifest = yaml.safe_load((out / "manifest.json").read_text())
    assert sorted(map(sorted, manifest["folds"])) == [[0, 1], [2]]


def test_folds_below_two_is_refused_with_exit_2(tmp_path: Path, monkeypatch, capsys):
    entries = write_cases(tmp_path, ("north", "south"))
    experiment = write_experiment(
        tmp_path, entries, replications=20, points=8, walkers=4, steps=4, burn=1
    )
    status, _, err = alliance(
        monkeypatch, capsys, "crossval", experiment, "--out", tmp_path / "cv", "--folds", 1
    )
    assert status == 2 and "--folds" in err
