"""Hostile input files and arguments (issue 13): YAML that attacks the loader, impossible dates,
contradictory observations, wrong types, duplicates, and the minor cases. Each gets one line on
stderr naming the file and the field or line, exit status 2, nothing written; none is scored or
run as if it were sound. One test per class, several cases each (~15 s on two cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from model_helpers import DATA, alliance

from sim.batch.outcomes import Outcome, estimate, interval

QUIET = DATA / "quiet.yaml"
BOMB = "\n".join(
    ['b0: &b0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    + [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, 10)]
)


def experiment(**changes: Any) -> dict[str, Any]:
    """A small, sound grid sweep on the test scenario, changed by `changes`."""
    data: dict[str, Any] = {
        "name": "hostile",
        "description": "an experiment to break",
        "scenario": str(QUIET),
        "seed": 1,
        "replications": 100,
        "parameters": {"drain_scale": {"low": 0.5, "high": 1.5}},
        "design": {"method": "grid", "levels": 2},
        "outcomes": [{"kind": "any_exit", "by": "2032-12"}],
    }
    data.update(changes)
    return data


def observations(*facts: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A sound observation file on the test scenario (or these facts), changed by `changes`."""
    default = {"member": "Alpha", "stage": "frozen", "not_reached_by": "2030-06", "source": "a b c"}
    data: dict[str, Any] = {
        "name": "hostile_facts",
        "description": "facts to break",
        "as_of": "2030-11-23",
        "facts": list(facts) or [default],
    }
    data.update(changes)
    return data


def fact(kind: str, date: str, stage: str = "frozen", member: str = "Alpha") -> dict[str, Any]:
    return {"member": member, "stage": stage, kind: date, "source": "test source"}


def write(folder: Path, content: dict[str, Any] | str, name: str = "file.yaml") -> Path:
    path = folder / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def scenario_text(replace: str, by: str) -> str:
    text = QUIET.read_text(encoding="utf-8")
    assert replace in text
    return text.replace(replace, by, 1)


def command(kind: str, path: Path, out: Path) -> list[object]:
    """The command that reads a file of `kind`."""
    if kind == "scenario":
        return ["batch", path, "--out", out, "--runs", 1000]
    if kind == "experiment":
        return ["sweep", path, "--out", out]
    return ["backtest", QUIET, "--observations", path, "--out", out, "--runs", 1000]


def refused(monkeypatch, capsys, tmp_path: Path, kind: str, content, *phrases: str) -> str:
    """Write `content` as a file of `kind`, run the command that reads it, check the one line."""
    path = write(tmp_path, content)
    out = tmp_path / "out"
    status, _, err = alliance(monkeypatch, capsys, *command(kind, path, out))
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: {path}"), lines[0]
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    assert not out.exists()
    return lines[0]


KINDS = ("scenario", "experiment", "observations")


# 4. YAML that attacks the loader.


@pytest.mark.parametrize("kind", KINDS)
def test_alias_bombs_and_loops_get_one_line_in_every_file(tmp_path, monkeypatch, capsys, kind):
    started = time.monotonic()
    refused(monkeypatch, capsys, tmp_path, kind, BOMB + "\n", "expands to more than")
    assert time.monotonic() - started < 20, "the bomb must be refused before it expands"
    for loop in ("loop: &l [*l]\n", "loop: &l {k: *l}\n", "a: 1\nloop: &l [1, [2, *l]]\n"):
        refused(monkeypatch, capsys, tmp_path, kind, loop, "line ", "loop")
    deep = "x: " + "[" * 3000 + "]" * 3000 + "\n"
    refused(monkeypatch, capsys, tmp_path, kind, deep, "nested too deeply")


@pytest.mark.parametrize("kind", KINDS)
def test_control_characters_in_any_file_get_one_line_naming_the_line(
    tmp_path, monkeypatch, capsys, kind
):
    data = {"experiment": experiment, "observations": observations}
    sound = (
        QUIET.read_text(encoding="utf-8")
        if kind == "scenario"
        else yaml.safe_dump(data[kind](), sort_keys=False)
    )
    for character in ("\x00", "\x01", "\x07", "\x1b"):
        lines = sound.splitlines(keepends=True)
        lines[2] = lines[2].rstrip("\n") + f" # {character}\n"
        line = refused(monkeypatch, capsys, tmp_path, kind, "".join(lines), "line 3", "control")
        assert f"U+{ord(character):04X}" in line, line


def test_aliases_used_within_the_cap_still_load(tmp_path):
    from sim.experiments.experiment import load_experiment

    text = yaml.safe_dump(experiment(), sort_keys=False).split("outcomes:")[0] + (
        "outcomes:\n  - &o {kind: any_exit, by: 2032-12}\n  - {<<: *o, label: again}\n"
    )
    loaded = load_experiment(write(tmp_path, text))
    assert [o.label for o in loaded.outcomes] == ["any exit by 2032-12", "again"]


# 5. Impossible dates.


DATES: dict[str, tuple[str, Callable[[], Any], str]] = {
    "scenario start": (
        "scenario",
        lambda: scenario_text("  start: 2030-01", "  start: 2030-02-30"),
        "calendar.start",
    ),
    "scenario event": (
        "scenario",
        lambda: (
            QUIET.read_text()
            + "events:\n  - {kind: rebuke, member: Alpha, date: 2030-11-31, source: a test}\n"
        ),
        "events[0].date",
    ),
    "experiment outcome": (
        "experiment",
        lambda: experiment(outcomes=[{"kind": "any_exit", "by": "2030-02-30"}]),
        "outcomes[0].by",
    ),
    "observations as_of": ("observations", lambda: observations(as_of="2030-11-31"), "as_of"),
    "observations fact": (
        "observations",
        lambda: observations(fact("reached_in", "2030-02-30")),
        "facts[0].reached_in",
    ),
}


@pytest.mark.parametrize("case", list(DATES))
def test_impossible_dates_are_refused_naming_the_field(tmp_path, monkeypatch, capsys, case):
    kind, make, field = DATES[case]
    content = make()
    if isinstance(content, dict):  # unquoted, as a person types it: YAML must not judge it
        content = yaml.safe_dump(content, sort_keys=False).replace("'", "")
    refused(monkeypatch, capsys, tmp_path, kind, content, field, "no such day")


# 7. Contradictory observations.


CONTRADICTIONS = {
    "reached in a month, yet not by a later one": (
        [fact("reached_in", "2030-03"), fact("not_reached_by", "2030-06")],
        "facts[1]",
    ),
    "reached in two different months": (
        [fact("reached_in", "2030-03"), fact("reached_in", "2030-05")],
        "facts[1]",
    ),
    "reached by a month, yet not by it": (
        [fact("not_reached_by", "2030-06"), fact("reached_by", "2030-04")],
        "facts[1]",
    ),
    "a later stage reached, an earlier one not": (
        [fact("not_reached_by", "2030-08", "disengaged"), fact("reached_in", "2030-05", "frozen")],
        "facts[1]",
    ),
}


@pytest.mark.parametrize("case", list(CONTRADICTIONS))
def test_contradictory_facts_are_refused_naming_both(tmp_path, monkeypatch, capsys, case):
    facts, where = CONTRADICTIONS[case]
    line = refused(
        monkeypatch, capsys, tmp_path, "observations", observations(*facts), where, "contradicts"
    )
    assert "facts[0]" in line and facts[0]["stage"] in line and facts[1]["stage"] in line


def test_facts_that_can_all_hold_are_accepted(tmp_path):
    from sim.experiments.observations import load_observations
    from sim.model.scenario import load_scenario

    consistent = observations(
        fact("reached_in", "2030-03", "disengaged"),
        fact("reached_by", "2030-05", "disengaged"),
        fact("not_reached_by", "2030-06", "frozen"),
        fact("reached_in", "2030-09", "frozen", member="Beta"),
        fact("not_reached_by", "2030-08", "frozen", member="Beta"),
    )
    loaded = load_observations(write(tmp_path, consistent), load_scenario(QUIET))
    assert len(loaded.facts) == 5


def test_a_fact_after_as_of_within_its_month_and_a_blank_source_are_refused(
    tmp_path, monkeypatch, capsys
):
    late = observations(fact("reached_in", "2030-11-30"), as_of="2030-11-23")
    refused(monkeypatch, capsys, tmp_path, "observations", late, "facts[0]", "after as_of")
    blank = observations({**fact("not_reached_by", "2030-06"), "source": "    "})
    refused(monkeypatch, capsys, tmp_path, "observations", blank, "facts[0].source", "blank")
    blank_event = QUIET.read_text() + (
        "events:\n  - {kind: rebuke, member: Alpha, date: 2030-05, source: '   '}\n"
    )
    refused(monkeypatch, capsys, tmp_path, "scenario", blank_event, "events[0].source", "blank")


# 8. Wrong types.


WRONG_TYPES = {
    "replications: true": ("experiment", experiment(replications=True), "replications"),
    "replications: '100'": ("experiment", experiment(replications="100"), "replications"),
    "seed: false": ("experiment", experiment(seed=False), "seed"),
    "low/high booleans": (
        "experiment",
        experiment(parameters={"drain_scale": {"low": False, "high": True}}),
        "parameters.drain_scale.low",
    ),
    "levels: 2.0": ("experiment", experiment(design={"method": "grid", "levels": 2.0}), "levels"),
    "fixed: yes": ("experiment", experiment(fixed={"trust_drift": True}), "fixed.trust_drift"),
    "scenario value: true": (
        "scenario",
        scenario_text("    value: 0.5", "    value: true"),
        "patron.capacity.value",
    ),
    "base_rate: true": ("observations", observations(base_rate=True), "base_rate"),
}


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_booleans_are_not_numbers_and_strings_not_integers(tmp_path, monkeypatch, capsys, case):
    kind, content, field = WRONG_TYPES[case]
    refused(monkeypatch, capsys, tmp_path, kind, content, field, "valid")


# 9. Duplicates.


def test_duplicate_outcomes_and_repeated_parameters_are_refused(tmp_path, monkeypatch, capsys):
    twice = [{"kind": "any_exit", "by": "2032-12"}, {"kind": "any_exit", "by": "2032-12"}]
    refused(
        monkeypatch, capsys, tmp_path, "experiment", experiment(outcomes=twice),
        "outcomes[1]", "duplicate outcome", "any exit by 2032-12",
    )  # fmt: skip
    labeled = [{**twice[0], "label": "x"}, {"kind": "any_exit", "by": "2031-12", "label": "x"}]
    refused(
        monkeypatch, capsys, tmp_path, "experiment", experiment(outcomes=labeled),
        "outcomes[1].label", "duplicate label",
    )  # fmt: skip
    out = tmp_path / "batch"
    status, _, err = alliance(
        monkeypatch, capsys, "batch", QUIET, "--out", out, "--param", "drain_scale=1",
        "--param", "drain_scale=2",
    )  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "--param" in err and "given twice" in err and not out.exists()


# 13. Minor.


def test_a_scenario_directory_is_named_as_such_and_counts_stay_within_their_bounds(
    tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "scenarios.yaml"
    folder.mkdir()
    refused(
        monkeypatch, capsys, tmp_path, "experiment", experiment(scenario=str(folder)),
        "scenario", "is a directory",
    )  # fmt: skip
    status, _, err = alliance(monkeypatch, capsys, "batch", folder, "--out", tmp_path / "b")
    assert status == 2 and "is a directory" in err

    # 19 runs with 3 members active and one with 2: the t interval would reach 3.05
    active = Outcome("active_members", "active members", 0, upper=3.0)
    status = np.zeros((20, 3), dtype=np.int8)
    status[0, 0] = 2
    result = estimate(active, np.full((20, 3, 3), -1), {0: status})
    assert result.estimate == pytest.approx(2.95) and result.high == 3.0 and result.low < 2.95
    mean, low, high = interval(False, np.array([20]), np.array([1.0]), np.array([1.0]), upper=3.0)
    assert low[0] == 0.0 and 0.05 < high[0] < 3.0  # one run of 20 with one member: not below 0
