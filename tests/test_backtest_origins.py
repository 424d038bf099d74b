"""Backtests that start from the record: conditioned on the facts up to each origin."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest
import yaml
from model_helpers import SCENARIOS, alliance, variant
from test_forecast import OVERRIDES, SCENARIO, exact, observations, within

from sim.batch.jobs import RunOptions
from sim.experiments.backtest import backtest
from sim.experiments.scoring import LABELS, comparisons
from sim.model.origin import at_origin, origin_yaml
from sim.model.scenario import load_scenario
from sim.report.html import write_report

FACTS = [
    {"member": "North", "stage": "disengaged", "reached_by": "2040-04"},
    {"member": "North", "stage": "frozen", "reached_by": "2040-12"},
    {"member": "South", "stage": "disengaged", "not_reached_by": "2040-11"},
]


def test_origin_scenario_file_is_the_scenario_as_known_then(tmp_path):
    csto = load_scenario(SCENARIOS / "csto_2022.yaml")
    month = csto.month_of("2021-12")
    (tmp_path / "at.yaml").write_bytes(origin_yaml(csto, month))
    written = load_scenario(tmp_path / "at.yaml")
    expected = at_origin(csto, "2021-12")
    assert written.timeline == expected.timeline
    assert written.history_end == expected.history_end
    assert (written.drain == expected.drain).all()


def hazard_variant(folder):
    """fixed_hazard.yaml with OVERRIDES written into its parameters (backtests take no --param)."""

    def edit(data):
        for name, value in OVERRIDES.items():
            data["parameters"][name] = {"value": value, "source": "test value"}

    return variant(folder, edit, base=SCENARIO, name="hazard.yaml")


def test_backtest_conditions_on_facts_up_to_the_origin(tmp_path):
    facts = observations(tmp_path, FACTS)
    result = backtest(
        hazard_variant(tmp_path), facts, tmp_path / "bt", runs=20_000, seed=2,
        origin="2040-06", options=RunOptions(workers=1, progress=False),
    )  # fmt: skip
    events = result.events.set_index(["member", "stage"])
    assert list(result.events["period"]) == ["forecast", "forecast"]  # the 2040-04 fact is known
    truth, _ = exact([("reached_by", 1, "", 3)], 24)
    unconditioned, _ = exact([], 24)
    summary = json.loads((tmp_path / "bt" / "summary.json").read_text())
    ess = summary["conditioned_on"]["conditioning"]["ess"]
    p_frozen = events.loc[("North", "frozen"), "p_model"]
    assert within(p_frozen, truth[11, 1], ess)
    assert truth[11, 1] - unconditioned[11, 1] > 0.1  # conditioning matters here
    # At each stage's common horizon (the month of its one scored fact here), the conditioned
    # curve gives the same probability as the fact.
    horizon = result.horizon.set_index(["member", "stage"])
    assert horizon.loc[("North", "frozen"), "p_model"] == p_frozen
    south = events.loc[("South", "disengaged"), "p_model"]
    assert horizon.loc[("South", "disengaged"), ["p_model", "outcome"]].tolist() == [south, 0]
    known = summary["conditioned_on"]["forecast"]["facts"]
    assert [f["label"] for f in known] == ["North disengaged by 2040-04"]


def test_rolling_origins_give_a_skill_table_and_figure(tmp_path, monkeypatch, capsys):
    facts = observations(tmp_path, FACTS)
    out = tmp_path / "rolling"
    code, stdout, err = alliance(
        monkeypatch, capsys, "backtest", SCENARIO, "--observations", facts, "--out", out,
        "--origins", "2040-02,2040-06,2040-12", "--runs", 2000, "--workers", 1,
        "--base-rate", 0.2,
    )  # fmt: skip
    assert code == 0, err
    skill = pd.read_csv(out / "skill.csv")
    assert skill["origin"].tolist() == ["2040-02", "2040-06", "2040-12"]
    assert skill["events"].tolist() == [3, 2, 0]
    assert skill.loc[2, ["brier_model"]].isna().all()
    assert skill.loc[0, "brier_fifty_fifty"] == pytest.approx(0.25)
    events = pd.read_csv(out / "events.csv")
    assert set(events.groupby("origin")["fact"].apply(min)) == {0, 1}
    assert (out / "figures" / "skill-by-origin.png").stat().st_size > 10_000
    assert "2040-06" in stdout
    # every forecaster's Brier and log score at each origin with facts, as scores.csv has them
    printed = " ".join(stdout.replace("│", " ").split())  # table cells' borders left out
    scores = pd.read_csv(out / "scores.csv").query("member == 'all' and period == 'all'")
    for row in scores.to_dict("records"):
        assert f"{row['brier']:.4f} {row['log_score']:.4f}" in printed
    assert {"model", "base_rate", "fifty_fifty", "logit"} <= set(scores["forecaster"])
    assert "No fact after 2040-12: not scored." in printed
    for origin, group in scores.groupby("origin"):
        worse = comparisons(group)
        said = f"From {origin}: the model is WORSE" in printed
        assert said == any(e[s]["verdict"] == "worse" for e in worse.values() for s in e)
    # the report of the directory holds the same table and sentences
    page = html.unescape(re.sub(r"<[^>]+>", " ", write_report(out).read_text(encoding="utf-8")))
    page = " ".join(page.split())
    for row in scores.to_dict("records"):
        assert (
            f"{row['origin']} {LABELS[row['forecaster']]} {row['events']} {row['brier']:.4f}"
            in page
        )
    assert "No fact after 2040-12: not scored." in page
    record = yaml.safe_load((out / "origins" / "2040-06" / "manifest.json").read_text())
    assert record["condition"] is True
