"""The calibrated copy of a scenario: only `parameters` changes, comments and every other line
stay, and the copy loads like any scenario with the values the fit gave."""

from __future__ import annotations

import difflib

import yaml
from model_helpers import DATA, SCENARIOS

from sim.experiments.calibrated_yaml import with_parameters_block
from sim.model.scenario import load_scenario

FITTED = {"drain_scale": 1.25, "trust_drift": 1.5e-05}
SOURCES = {
    "drain_scale": 'Fitted by `alliance calibrate`: posterior mean 1.25 (95% "interval" [1, 1.5])',
    "trust_drift": "Held at 1.5e-05 while the others were fitted; a long source " + "x" * 200,
}


def _changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def test_only_the_parameters_block_of_a_shipped_scenario_changes(tmp_path):
    original = (SCENARIOS / "csto_2022.yaml").read_text()
    before = load_scenario(SCENARIOS / "csto_2022.yaml").spec
    assert before.parameters and not set(FITTED) & set(before.parameters)
    copy = with_parameters_block(original, FITTED, SOURCES)
    removed, added = _changed_lines(original, copy)
    assert removed == []  # the fitted entries join the scenario's own block
    assert all(line.startswith("  ") for line in added)
    assert len(added) == 3 * len(FITTED)
    comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in copy.splitlines() for line in comments)
    path = tmp_path / "calibrated.yaml"
    path.write_text(copy)
    spec = load_scenario(path).spec
    fitted = {k: v for k, v in spec.parameters.items() if k in FITTED}
    assert {k: v.value for k, v in fitted.items()} == FITTED
    assert {k: v.source for k, v in fitted.items()} == SOURCES
    kept = {k: v for k, v in spec.parameters.items() if k not in FITTED}
    assert kept == before.parameters
    assert spec.model_copy(update={"parameters": before.parameters}) == before


def test_existing_entries_are_updated_in_place_with_their_comments():
    text = (
        "name: x  # the name\n"
        "parameters:\n"
        "  # set by hand\n"
        "  trust_drift:  # slow\n"
        "    value: 0.01\n"
        '    source: "old"\n'
        "# the events follow\n"
        "events: []\n"
    )
    copy = with_parameters_block(text, {"trust_drift": 0.02, "drain_scale": 2.0}, {
        "trust_drift": "new", "drain_scale": "fitted"})  # fmt: skip
    for comment in ("# the name", "# set by hand", "  trust_drift:  # slow", "# the events follow"):
        assert comment in copy
    data = yaml.safe_load(copy)
    assert data["parameters"] == {
        "drain_scale": {"value": 2.0, "source": "fitted"},
        "trust_drift": {"value": 0.02, "source": "new"},
    }
    assert copy.index("# the events follow") > copy.index('source: "new"')
    assert copy.endswith("# the events follow\nevents: []\n")


def test_a_missing_block_is_added_and_small_values_stay_numbers():
    text = (DATA / "quiet.yaml").read_text()
    assert "parameters" not in yaml.safe_load(text)
    copy = with_parameters_block(text, FITTED, SOURCES)
    assert copy.startswith(text.rstrip("\n"))
    value = yaml.safe_load(copy)["parameters"]["trust_drift"]["value"]
    assert isinstance(value, float) and value == 1.5e-05  # PyYAML reads `1e-05` as a string
