"""Leave-one-case-out validation: on a tiny case list, every probability and score equals the
one computed by hand from the facts, the folds' posteriors and the scoring rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from case_helpers import FIXED, run_crossval, write_cases, write_experiment
from model_helpers import alliance

from sim.batch.lanes import simulate_chunk
from sim.batch.posterior import load_posterior
from sim.experiments.cases import load_cases
from sim.experiments.experiment import load_experiment
from sim.experiments.scoring import LABELS

RUNS = 300


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    experiment, out, printed = run_crossval(tmp_path_factory.mktemp("crossval"), RUNS)
    (out / "printed.txt").write_text(printed)  # what the console showed, for the tests below
    return experiment, out


def hand_rates(training) -> dict[str, float]:
    """Exits per member-month at risk of disengaging, (exits + 0.5) / (months + 1)."""
    exits = months = 0
    for case in training:
        facts = yaml.safe_load(Path(case.observations.path).read_text())["facts"]
        for fact in facts:
            if "reached_in" in fact:
                exits += 1
                months += case.scenario.month_of(fact["reached_in"]) + 1
            else:
                months += case.scenario.month_of(fact["not_reached_by"]) + 1
    return {"disengaged": (exits + 0.5) / (months + 1)}


def test_base_rates_and_their_forecasts_are_the_hand_computed_ones(validated):
    experiment, out = validated
    cases = load_cases(load_experiment(experiment), None)
    events = pd.read_parquet(out / "events.parquet")
    rates = pd.read_parquet(out / "base_rates.parquet")
    for k, held in enumerate(cases):
        rate = hand_rates(cases[:k] + cases[k + 1 :])["disengaged"]
        stored = rates[(rates["held_out"] == held.name) & (rates["stage"] == "disengaged")]
        assert stored["rate"].iloc[0] == pytest.approx(rate, rel=1e-12)
        mine = events[events["case"] == held.name]
        assert len(mine) == held.facts
        expected = 1 - (1 - rate) ** (mine["month"] + 1)
        np.testing.assert_allclose(mine["p_base_rate"], expected, rtol=1e-12)
        assert (mine["p_fifty_fifty"] == 0.5).all()


def test_model_forecasts_are_the_held_out_runs_under_each_folds_posterior(validated):
    experiment, out = validated
    spec = load_experiment(experiment)
    events = pd.read_parquet(out / "events.parquet")
    for held in load_cases(spec, None):
        draws = load_posterior(out / "folds" / held.name)
        assert held.name not in draws.cases  # fitted without the held-out case
        seed = held.seed(spec.spec.seed)
        result = simulate_chunk(
            held.scenario, seed, 0, RUNS, parameters=FIXED, aggregate=False,
            months=held.months, lane_values=draws.lane_values(seed, 0, RUNS),
        )  # fmt: skip
        mine = events[events["case"] == held.name].sort_values("fact")
        for fact, p in zip(held.observations.facts, mine["p_model"], strict=True):
            fp = result.first_passage[:, fact.member, fact.stage - 1]
            assert p == ((fp >= 0) & (fp <= fact.month)).mean()


def test_scores_per_case_and_in_total_are_the_hand_computed_ones(validated):
    _, out = validated
    events = pd.read_parquet(out / "events.parquet")
    scores = pd.read_parquet(out / "scores.parquet").set_index(["case", "forecaster"])
    groups = [*events.groupby("case"), ("all", events)]
    for case, g in groups:
        o = g["outcome"].to_numpy(float)
        for forecaster, floor in (("model", 0.5 / RUNS), ("base_rate", 1e-6), ("fifty_fifty", 0)):
            p = g[f"p_{forecaster}"].to_numpy(float)
            row = scores.loc[(case, forecaster)]
            assert row["brier"] == pytest.approx(np.mean((p - o) ** 2), rel=1e-12)
            q = np.clip(p, floor, 1 - floor)
            log = -np.mean(o * np.log(q) + (1 - o) * np.log(1 - q))
            assert row["log_score"] == pytest.approx(log, rel=1e-12)
        model, base = scores.loc[(case, "model")], scores.loc[(case, "base_rate")]
        assert model["brier_skill_vs_base_rate"] == pytest.approx(
            1 - model["brier"] / base["brier"]
        )
    assert (out / "figures" / "reliability.png").stat().st_size > 1000


def test_crossval_needs_two_cases(tmp_path, monkeypatch, capsys):
    cases = write_cases(tmp_path, ("north",))
    experiment = write_experiment(
        tmp_path, cases, replications=20, points=8, walkers=4, steps=4, burn=1
    )
    status, _, err = alliance(monkeypatch, capsys, "crossval", experiment, "--out", tmp_path / "o")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "cases" in err and "at least 2 cases" in err
    assert not (tmp_path / "o").exists()


def test_every_forecaster_is_scored_in_every_group_with_skill_against_each(validated):
    _, out = validated
    scores = pd.read_csv(out / "scores.csv")
    forecasters = {"model", "base_rate", "fifty_fifty", "logit"}
    for _, g in scores.groupby(["group", "case"]):
        assert set(g["forecaster"]) == forecasters
    assert {"case", "era", "size", "all"} <= set(scores["group"])
    model = scores[(scores["forecaster"] == "model") & (scores["case"] == "all")].iloc[0]
    logit = scores[(scores["forecaster"] == "logit") & (scores["case"] == "all")].iloc[0]
    assert model["brier_skill_vs_logit"] == pytest.approx(1 - model["brier"] / logit["brier"])
    assert (out / "logit.csv").is_file()


def test_auc_is_taken_at_each_cases_common_horizon(validated):
    _, out = validated
    horizon = pd.read_parquet(out / "horizon.parquet")
    events = pd.read_parquet(out / "events.parquet")
    for case, g in horizon.groupby("case"):
        # one month per case and stage: the latest of its facts on that stage
        for stage, h in g.groupby("stage"):
            mine = events[(events["case"] == case) & (events["stage"] == stage)]
            assert set(h["month"]) == {mine["month"].max()}
    scores = pd.read_parquet(out / "scores.parquet").set_index(["case", "forecaster"])
    stage = "disengaged"  # the stage the test cases have facts on
    at = horizon[horizon["stage"] == stage]
    assert at["outcome"].nunique() == 2
    for forecaster in ("model", "logit", "base_rate"):
        p, o = at[f"p_{forecaster}"].to_numpy(), at["outcome"].to_numpy(bool)
        pairs = [(a > b) + 0.5 * (a == b) for a in p[o] for b in p[~o]]
        assert scores.loc[("all", forecaster), f"auc_{stage}"] == pytest.approx(np.mean(pairs))


def test_console_names_every_reference_and_each_case_where_the_model_is_worse(validated):
    _, out = validated
    printed = " ".join((out / "printed.txt").read_text().split())
    summary = json.loads((out / "summary.json").read_text())

    def worse(entry: dict) -> bool:
        return "worse" in {entry["brier"]["verdict"], entry["log_score"]["verdict"]}

    for ref, entry in summary["versus"].items():
        label = re.escape(LABELS[ref])
        assert re.search(rf"held-out facts the model [A-Za-z ]+ the {label} \(Brier skill", printed)
        said = re.search(
            f"held-out facts the model is WORSE (on one score )?than the {label} ", printed
        )
        assert bool(said) == worse(entry), ref
    for case, versus in summary["versus_per_case"].items():
        line = re.search(rf"{case}: the model is WORSE than ([^.]*)\.", printed)
        named = [LABELS[r] for r, e in versus.items() if worse(e)]
        assert bool(line) == bool(named), case
        for label in named:
            assert f"the {label} (" in line.group(1)
