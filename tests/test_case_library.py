"""The case library: every historical case loads, and its facts cover every member it simulates."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.experiments.observations import load_observations
from sim.model.scenario import load_scenario

HISTORY = Path(__file__).resolve().parent.parent / "scenarios" / "history"
CASES = sorted(p for p in HISTORY.glob("*.yaml") if not p.name.endswith(".obs.yaml"))


def test_the_library_holds_the_historical_cases():
    assert len(CASES) >= 6
    for scenario in CASES:
        assert scenario.with_name(scenario.stem + ".obs.yaml").is_file(), scenario.name


@pytest.mark.parametrize("scenario", CASES, ids=lambda p: p.stem)
def test_a_case_is_replayed_history_with_facts_on_every_member(scenario: Path):
    compiled = load_scenario(scenario)
    assert compiled.history_end == compiled.months - 1, "a case replays history only"
    observations = load_observations(scenario.with_name(scenario.stem + ".obs.yaml"), compiled)
    covered = {fact.member_name for fact in observations.facts}
    assert covered == set(compiled.members), "stayers get facts as much as leavers"
