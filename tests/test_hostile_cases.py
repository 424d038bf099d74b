"""Hostile case lists (issue 19): case names that are paths, a case listed twice (also as a
renamed copy), two cases with contradictory facts about one member, a directory given as a
case's scenario, and a renamed copy of a fitted scenario conditioned on again. Each is refused
with one line naming the file and the field, exit status 2, nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from case_helpers import write_cases, write_experiment
from model_helpers import DATA, alliance, write_posterior


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cases")
    return folder, write_cases(folder, ("north", "south"))


def pool(folder: Path, cases: list[dict[str, Any]], entries: list[dict[str, Any]]) -> Path:
    path = write_experiment(folder, cases, replications=20, points=8, walkers=4, steps=3, burn=1)
    data = yaml.safe_load(path.read_text())
    data["cases"] = entries
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def refused_calibration(folder: Path, experiment: Path, monkeypatch, capsys, *phrases: str) -> str:
    out = folder / "fit"
    for command in ("calibrate", "crossval"):
        status, _, err = alliance(monkeypatch, capsys, command, experiment, "--out", out)
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith(f"error: {experiment}"), lines[0]
        for phrase in phrases:
            assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
        assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("name", ["../../x", "..", ".", "a/b", "/tmp/x", "a\\b", "x@y", " x"])
def test_a_case_name_that_is_a_path_is_refused(library, monkeypatch, capsys, name):
    folder, cases = library
    entries = [dict(cases[0], name=name), cases[1]]
    experiment = pool(folder, cases, entries)
    refused_calibration(folder, experiment, monkeypatch, capsys, "cases[0].name", "plain name")
    assert not (folder.parent / "x").exists()


def test_a_scenario_named_as_a_path_cannot_name_a_case(library, monkeypatch, capsys):
    folder, cases = library
    data = yaml.safe_load((folder / "north.yaml").read_text())
    data["name"] = "../escape"
    (folder / "escape.yaml").write_text(yaml.safe_dump(data))
    entries = [dict(cases[0], scenario="escape.yaml"), cases[1]]
    experiment = pool(folder, cases, entries)
    refused_calibration(folder, experiment, monkeypatch, capsys, "cases[0].scenario", "'../escape'")


def renamed_copy(folder: Path) -> str:
    data = yaml.safe_load((folder / "north.yaml").read_text())
    data["name"], data["description"] = "north_copy", "The same record under another name."
    (folder / "north_copy.yaml").write_text(yaml.safe_dump(data))
    return "north_copy.yaml"


def test_a_case_listed_twice_is_refused_even_renamed(library, monkeypatch, capsys):
    folder, cases = library
    twice = [cases[0], dict(cases[0], name="north_again"), cases[1]]
    refused_calibration(
        folder, pool(folder, cases, twice), monkeypatch, capsys,
        "cases[1].observations", "case 'north'", "count twice",
    )  # fmt: skip
    copied = [cases[0], dict(cases[0], scenario=renamed_copy(folder)), cases[1]]
    refused_calibration(
        folder, pool(folder, cases, copied), monkeypatch, capsys,
        "cases[1].observations", "same record", "count twice",
    )  # fmt: skip


def test_two_cases_with_contradictory_facts_about_one_member_are_refused(
    library, monkeypatch, capsys
):
    folder, cases = library
    facts = yaml.safe_load((folder / "north.obs.yaml").read_text())
    fact = facts["facts"][0]
    member = fact["member"]
    kind = next(k for k in ("reached_in", "reached_by", "not_reached_by") if k in fact)
    flipped = {"reached_in": "not_reached_by", "reached_by": "not_reached_by"}.get(
        kind, "reached_by"
    )
    other = {"member": member, "stage": fact["stage"], flipped: fact[kind], "source": "other"}
    contrary = dict(facts, name="contrary", facts=[other])
    (folder / "contrary.obs.yaml").write_text(yaml.safe_dump(contrary))
    entries = [cases[0], {"scenario": renamed_copy(folder), "observations": "contrary.obs.yaml"}]
    refused_calibration(
        folder, pool(folder, cases, entries), monkeypatch, capsys,
        "cases[1].observations", "contradicts", member,
    )  # fmt: skip


def test_a_directory_given_as_a_cases_scenario_is_named_as_such(library, monkeypatch, capsys):
    folder, cases = library
    (folder / "a_folder.yaml").mkdir(exist_ok=True)
    entries = [dict(cases[0], scenario="a_folder.yaml"), cases[1]]
    refused_calibration(
        folder, pool(folder, cases, entries), monkeypatch, capsys,
        "cases[0].scenario", "is a directory",
    )  # fmt: skip


def test_a_renamed_copy_of_a_fitted_scenario_is_refused_as_double_counting(
    tmp_path, monkeypatch, capsys
):
    data = yaml.safe_load((DATA / "many_alike.yaml").read_text())
    data["name"] = "many_alike_renamed"
    copy = tmp_path / "renamed.yaml"
    copy.write_text(yaml.safe_dump(data))
    facts = [
        {
            "member": "M01",
            "stage": "disengaged",
            "not_reached_by": "2030-12",
            "source": "a test record",
        }
    ]
    observations = tmp_path / "record.yaml"
    record = {"name": "one", "description": "one fact", "as_of": "2030-12", "facts": facts}
    observations.write_text(yaml.safe_dump(record))
    posterior = write_posterior(tmp_path / "p", (-2.0, -9.0))  # fitted on many_alike
    out = tmp_path / "fc"
    status, _, err = alliance(
        monkeypatch, capsys, "forecast", copy, "--observations", observations, "--out", out,
        "--runs", "1000", "--posterior", posterior,
    )  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: --posterior") and "count twice" in err, err
    assert not out.exists()


def test_the_reference_logit_leaves_out_a_renamed_copy_of_the_scored_record(library):
    from sim.experiments.backtest import fit_reference_logits
    from sim.model.scenario import load_scenario

    folder, cases = library
    experiment = pool(folder, cases, cases)
    copy = load_scenario(folder / renamed_copy(folder))
    fits = fit_reference_logits(experiment, copy)
    assert [list(fit.cases) for fit in fits.values()] == [["south"], ["south"]]


@pytest.mark.parametrize("runs", [0, -5, "many", 2.5])
def test_a_case_replications_that_is_not_a_positive_count_is_refused(
    library, monkeypatch, capsys, runs
):
    folder, cases = library
    entries = [dict(cases[0], replications=runs), cases[1]]
    experiment = pool(folder, cases, entries)
    refused_calibration(folder, experiment, monkeypatch, capsys, "cases[0].replications")
