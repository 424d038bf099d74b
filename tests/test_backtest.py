"""Backtests: Brier and log scores against hand computation, reference forecasts, origins (~8 s)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from model_helpers import DATA, SCENARIOS, alliance

from sim.experiments.backtest import score_events
from sim.experiments.scoring import brier, log_score
from sim.model.origin import at_origin
from sim.model.scenario import load_scenario

SETTLED = DATA / "settled.yaml"


def _observations(tmp_path: Path, facts: list[dict], **extra: object) -> Path:
    data = {
        "name": "test_facts",
        "description": "facts for a test",
        "as_of": "2030-12-31",
        **extra,
        "facts": [{"source": "test fact", **f} for f in facts],
    }
    path = tmp_path / "facts.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_brier_and_log_scores_match_hand_computation():
    p = np.array([0.2, 0.9, 0.5, 0.7])
    outcome = np.array([0, 1, 1, 0])
    # (0.04 + 0.01 + 0.25 + 0.49) / 4
    assert brier(p, outcome) == pytest.approx(0.1975)
    # -(ln 0.8 + ln 0.9 + ln 0.5 + ln 0.3) / 4 = (0.22314 + 0.10536 + 0.69315 + 1.20397) / 4
    assert log_score(p, outcome) == pytest.approx(0.556406, abs=1e-6)


def test_score_table_per_member_stage_and_total_by_hand():
    events = pd.DataFrame(
        {
            "member": ["A", "A", "B"],
            "stage": ["withdrawn", "withdrawn", "frozen"],
            "period": ["history", "forecast", "forecast"],
            "outcome": [1, 0, 1],
            "p_model": [0.8, 0.4, 0.1],
            "p_base_rate": [0.2, 0.2, 0.2],
            "p_fifty_fifty": [0.5, 0.5, 0.5],
            "runs": [1000, 1000, 1000],
        }
    )
    scores = score_events(events).set_index(["period", "member", "stage", "forecaster"])
    # A withdrawn, model: ((0.2)^2 + (0.4)^2) / 2 = (0.04 + 0.16) / 2
    assert scores.loc[("all", "A", "withdrawn", "model"), "brier"] == pytest.approx(0.10)
    # B frozen, base rate: (1 - 0.2)^2
    assert scores.loc[("all", "B", "frozen", "base_rate"), "brier"] == pytest.approx(0.64)
    # total, model: (0.04 + 0.16 + 0.81) / 3
    assert scores.loc[("all", "all", "all", "model"), "brier"] == pytest.approx(1.01 / 3)
    # total, base rate: (0.64 + 0.04 + 0.64) / 3
    assert scores.loc[("all", "all", "all", "base_rate"), "brier"] == pytest.approx(1.32 / 3)
    assert scores.loc[("all", "all", "all", "fifty_fifty"), "brier"] == pytest.approx(0.25)
    # forecast period only, model: (0.16 + 0.81) / 2
    assert scores.loc[("forecast", "all", "all", "model"), "brier"] == pytest.approx(0.485)
    # log score, total, model: -(ln 0.8 + ln 0.6 + ln 0.1) / 3
    expected = -(math.log(0.8) + math.log(0.6) + math.log(0.1)) / 3
    assert scores.loc[("all", "all", "all", "model"), "log_score"] == pytest.approx(expected)


def test_backtest_command_scores_exact_forecasts_by_hand(tmp_path, monkeypatch, capsys):
    facts = _observations(
        tmp_path,
        [
            {"member": "Gone", "stage": "withdrawn", "reached_by": "2030-01"},  # p 1, happened
            {"member": "Stays", "stage": "withdrawn", "not_reached_by": "2030-02"},  # p 0, no
            {"member": "Late", "stage": "withdrawn", "reached_in": "2030-02"},  # p 0, happened
        ],
    )
    out = tmp_path / "bt"
    runs = 1000
    status, stdout, stderr = alliance(
        monkeypatch, capsys, "backtest", SETTLED, "--observations", facts, "--out", out,
        "--runs", runs, "--base-rate", 0.1, "--workers", 1, "--no-condition",
    )  # fmt: skip
    assert status == 0, stderr
    events = pd.read_csv(out / "events.csv")
    assert events["p_model"].tolist() == [1.0, 0.0, 0.0]
    assert events["outcome"].tolist() == [1, 0, 1]
    scores = pd.read_csv(out / "scores.csv")
    total = scores[(scores["member"] == "all") & (scores["period"] == "all")]
    by = total.set_index("forecaster")
    assert by.loc["model", "brier"] == pytest.approx(1 / 3)  # (0 + 0 + 1) / 3
    assert by.loc["base_rate", "brier"] == pytest.approx((0.81 + 0.01 + 0.81) / 3)
    assert by.loc["fifty_fifty", "brier"] == pytest.approx(0.25)
    # Monte Carlo zeros and ones are kept 1/(2N) from the edge for the log score.
    edge = 0.5 / runs
    assert by.loc["model", "log_score"] == pytest.approx(
        (-2 * math.log(1 - edge) - math.log(edge)) / 3
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skill_vs"]["fifty_fifty"]["brier"] == pytest.approx(1 - (1 / 3) / 0.25)
    assert (out / "figures" / "reliability.png").stat().st_size > 10_000
    for label in ("50/50", "base rate", "logit", "cure logit"):
        assert label in stdout
    # Every reference in scores.csv, and the model, worse than 50/50 on Brier, says so.
    assert set(by.index) == {"model", "base_rate", "fifty_fifty", "logit", "cure_logit"}
    # AUC at the common horizon (2030-02, the latest withdrawal fact): Gone and Late had left
    # by then, Stays had not; the model gives them 1, 0 and 0: pairs (1 > 0) and (0 = 0) -> 0.75.
    horizon = pd.read_csv(out / "horizon.csv")
    assert horizon["member"].tolist() == ["Gone", "Stays", "Late"]
    assert horizon["date"].tolist() == ["2030-02"] * 3
    assert horizon["outcome"].tolist() == [1, 0, 1]
    assert horizon["p_model"].tolist() == [1.0, 0.0, 0.0]
    assert by.loc["model", "auc_withdrawn"] == pytest.approx(0.75)
    assert by.loc["base_rate", "auc_withdrawn"] == pytest.approx(0.5)  # a constant: all ties
    for name in ("logit", "cure_logit"):
        p = horizon[f"p_{name}"].to_numpy()
        hand = np.mean([(p[i] > p[1]) + 0.5 * (p[i] == p[1]) for i in (0, 2)])
        assert by.loc[name, "auc_withdrawn"] == pytest.approx(hand)
    assert summary["totals"]["model"]["auc_withdrawn"] == pytest.approx(0.75)
    per_member = scores[scores["member"] != "all"]
    assert per_member["auc_withdrawn"].isna().all()  # one member is not a ranking
    coefficients = pd.read_csv(out / "logit.csv")
    assert set(coefficients["forecaster"]) == {"logit", "cure_logit"}
    assert 0.0 <= summary["cure_logit"]["cured_share"] <= 1.0
    assert "WORSE than the 50/50" in stdout or "WORSE on one score than the 50/50" in stdout
    assert summary["versus"]["fifty_fifty"]["brier"]["verdict"] == "worse"


def test_base_rate_from_the_file_per_stage(tmp_path, monkeypatch, capsys):
    facts = _observations(
        tmp_path,
        [{"member": "Stays", "stage": "frozen", "not_reached_by": "2030-03"}],
        base_rate={"frozen": 0.3},
    )
    out = tmp_path / "bt"
    status, _, err = alliance(
        monkeypatch, capsys, "backtest", SETTLED, "--observations", facts, "--out", out,
        "--runs", 1000, "--workers", 1,
    )  # fmt: skip
    assert status == 0, err
    scores = pd.read_csv(out / "scores.csv").set_index(["member", "forecaster"])
    assert scores.loc[("all", "base_rate"), "brier"] == pytest.approx(0.09)


def test_origin_drops_later_events_and_marks_facts_out_of_sample():
    csto = load_scenario(SCENARIOS / "csto_2022.yaml")
    early = at_origin(csto, "2021-12")
    assert early.month_label(early.history_end) == "2021-12"
    assert all(e["date"] <= "2021-12-31" for e in early.timeline)
    assert len(early.timeline) < len(csto.timeline)
    assert early.drain.sum() == 0.0  # the Ukraine drains start in 2022
    assert early.months == csto.months


@pytest.mark.parametrize(
    ("option", "value", "phrase"),
    [
        ("--base-rate", "1.5", "expected a probability"),
        ("--origin", "2040-01", "expected a month from 2030-01 to 2030-12"),
        ("--origin", "soon", "expected a month as YYYY-MM"),
        ("--format", "gif", "expected one of png, svg, pdf"),
    ],
)
def test_bad_options_give_one_line_and_status_2(
    tmp_path, monkeypatch, capsys, option, value, phrase
):
    facts = _observations(
        tmp_path, [{"member": "Stays", "stage": "frozen", "reached_by": "2030-03"}]
    )
    out = tmp_path / "bt"
    status, _, err = alliance(
        monkeypatch, capsys, "backtest", SETTLED, "--observations", facts, "--out", out,
        option, value,
    )  # fmt: skip
    assert status == 2
    assert phrase in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_bad_logit_case_library_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    facts = _observations(
        tmp_path, [{"member": "Stays", "stage": "frozen", "not_reached_by": "2030-03"}]
    )
    no_cases = tmp_path / "plain.yaml"
    no_cases.write_text(
        "name: plain\ndescription: no cases\nscenario: " + str(SETTLED) + "\nseed: 1\n"
        "replications: 10\nparameters:\n  hazard_slope: {}\ndesign: {method: lhs, points: 4}\n"
        "outcomes:\n  - {kind: any_exit, by: 2030-12}\n",
        encoding="utf-8",
    )
    for given, expected in ((tmp_path / "missing.yaml", "missing.yaml"), (no_cases, "cases")):
        out = tmp_path / "bt"
        status, _, err = alliance(
            monkeypatch, capsys, "backtest", SETTLED, "--observations", facts, "--out", out,
            "--runs", 10, "--workers", 1, "--logit-cases", given,
        )  # fmt: skip
        assert status == 2 and len(err.strip().splitlines()) == 1, err
        assert expected in err
        assert not out.exists()
