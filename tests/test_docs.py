"""The documentation matches the code, and the shipped scenarios are valid and consistent (~1 s)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml
from model_helpers import ROOT, SCENARIOS, read_yaml
from pydantic import BaseModel, TypeAdapter

from sim.model.parameters import PARAMETERS
from sim.model.scenario import load_scenario
from sim.model.schema import (
    EVENT_KINDS,
    AnyEvent,
    PatronSpec,
    RegimeRates,
    ScenarioSpec,
    Treaty,
)
from sim.model.streams import DRAWS

MODEL_MD = ROOT / "docs" / "model.md"
SCENARIOS_MD = ROOT / "docs" / "scenarios.md"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


def _parameter_rows() -> dict[str, list[str]]:
    """Rows of the parameter table in docs/model.md: name -> its cells."""
    rows = {}
    for line in MODEL_MD.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"`[a-z_]+`", cells[0]) and len(cells) == 5:
            name = cells[0].strip("`")
            if name in rows:
                raise AssertionError(f"parameter {name} appears twice in docs/model.md")
            rows[name] = cells
    return rows


def test_parameter_table_matches_parameters():
    rows = _parameter_rows()
    assert list(rows) == [p.name for p in PARAMETERS]
    for p in PARAMETERS:
        _, meaning, default, span, reason = rows[p.name]
        assert float(default) == p.default, p.name
        low, high = (float(x) for x in re.fullmatch(r"\[(\S+), (\S+)\]", span).groups())
        assert (low, high) == (p.low, p.high), p.name
        assert p.low <= p.default <= p.high, p.name
        assert meaning and reason, f"{p.name}: meaning and reason must be documented"


def test_model_doc_names_every_random_draw_and_event_kind():
    text = MODEL_MD.read_text(encoding="utf-8")
    for draw in DRAWS:
        assert f"`{draw}`" in text, draw
    for kind in EVENT_KINDS:
        assert f"`{kind}`" in text, kind


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every pydantic model reachable from the scenario schema."""
    found, stack = [], [root]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp not in found:
                found.append(tp)
                stack.extend(f.annotation for f in tp.model_fields.values())
        else:
            stack.extend(typing.get_args(tp))
    return found


def test_scenario_doc_documents_every_field_and_event_kind():
    text = SCENARIOS_MD.read_text(encoding="utf-8")
    for model in _models(ScenarioSpec):
        for field in model.model_fields:
            assert f"`{field}`" in text, f"{model.__name__}.{field} is not documented"
    for kind in EVENT_KINDS:
        assert f"kind: {kind}" in text, f"no example of a {kind} event"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.spec.description.strip() and scenario.spec.sources
    history_end = scenario.month_label(scenario.history_end)
    late = [e["date"] for e in scenario.timeline if e["date"][:7] > history_end]
    assert not late, "shipped scenarios replay history only, up to history_end"


def _events(name: str) -> list[dict]:
    return read_yaml(SCENARIOS / f"{name}.yaml")["events"]


def _without_events(name: str) -> dict:
    data = read_yaml(SCENARIOS / f"{name}.yaml")
    for key in ("name", "description", "sources", "events", "observations"):
        data.pop(key, None)  # a counterfactual has no record of its own
    return data


@pytest.mark.parametrize("name", ["csto_no_war", "csto_russia_answers"])
def test_counterfactuals_keep_everything_else_as_in_csto_2022(name):
    assert _without_events(name) == _without_events("csto_2022")
    assert set(read_yaml(SCENARIOS / "csto_2022.yaml")["sources"]) < set(
        read_yaml(SCENARIOS / f"{name}.yaml")["sources"]
    )


def test_no_war_drops_only_the_ukraine_drains():
    history = _events("csto_2022")
    kept = [e for e in history if e["kind"] != "drain"]
    dropped = [e for e in history if e["kind"] == "drain"]
    assert {str(e["date"]) for e in dropped} == {"2022-02-24", "2022-02-26", "2022-09-13"}
    assert _events("csto_no_war") == kept


def test_russia_answers_changes_only_the_september_2022_responses():
    history, answered = _events("csto_2022"), _events("csto_russia_answers")
    assert len(history) == len(answered)
    changed = []
    for before, after in zip(history, answered, strict=True):
        if before != after:
            assert {k for k in before if before[k] != after[k]} == {"response", "source"}
            assert (before["response"], after["response"]) == ("unanswered", "answered")
            assert after["source"].startswith("Counterfactual")
            changed.append((str(before["date"])[:7], before["requester"]))
    assert sorted(changed) == [
        ("2022-09", "Armenia"),
        ("2022-09", "Kyrgyzstan"),
        ("2022-09", "Tajikistan"),
    ]


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_examples_in_the_scenario_doc_are_valid(tmp_path):
    blocks = _yaml_blocks(SCENARIOS_MD.read_text(encoding="utf-8"))
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text(blocks[0], encoding="utf-8")
    assert load_scenario(minimal).months == 132
    examples = [yaml.safe_load(b) for b in blocks[1:]]
    adapter = TypeAdapter(list[AnyEvent])
    events = adapter.validate_python([e[0] for e in examples if isinstance(e, list)])
    assert {e.kind for e in events} == set(EVENT_KINDS)
    parts = {k: v for e in examples if isinstance(e, dict) for k, v in e.items()}
    assert set(parts) == {"patron", "members", "treaty"}
    PatronSpec.model_validate(parts["patron"])
    RegimeRates.model_validate(parts["members"][0]["regime_changes"])
    Treaty.model_validate(parts["treaty"])
