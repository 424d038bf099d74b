"""`alliance forecast`: lanes conditioned on dated facts by sequential importance resampling.

The fixed-hazard scenario (hazard_slope 0) makes each member an independent Markov chain on its
four stages with constant monthly probabilities, so every conditional probability given the facts
can be computed exactly by a forward recursion over (stage now, furthest stage reached).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from model_helpers import DATA, alliance

from sim.batch.jobs import RunOptions
from sim.batch.results import load, summarize
from sim.experiments.forecast import forecast
from sim.model.scenario import load_scenario, with_parameters

SCENARIO = DATA / "fixed_hazard.yaml"
OVERRIDES = {"freeze_intercept": -2.0, "withdraw_intercept": -2.5}
RUNS = 20_000


def observations(
    folder: Path, facts: list[dict], name: str = "facts.yaml", as_of: str = "2040-12"
) -> Path:
    path = folder / name
    data = {
        "name": "test_facts",
        "description": "facts for the forecast tests",
        "as_of": as_of,
        "facts": [{"source": "test fact", **f} for f in facts],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def transition_matrix() -> np.ndarray:
    """One member's monthly stage transitions under fixed_hazard.yaml with OVERRIDES, cascades
    included (docs/model.md 7.9c)."""
    p = with_parameters(load_scenario(SCENARIO), OVERRIDES)
    assert p["hazard_slope"] == 0.0

    def logistic(x: float) -> float:
        return 1.0 / (1.0 + np.exp(-x))

    forward = [logistic(p[k]) for k in ("disengage_intercept", "freeze_intercept")]
    forward.append(logistic(p["withdraw_intercept"]))
    back = logistic(p["reengage_intercept"])
    cascade = p["cascade_weight"]
    matrix = np.zeros((4, 4))
    for s in (0, 1, 2):
        # A step forward runs on to each next stage at cascade_weight x its hazard.
        reach = forward[s]
        for to in range(s + 1, 4):
            go_on = cascade * forward[to] if to < 3 else 0.0
            matrix[s, to] = reach * (1 - go_on)
            reach *= go_on
        if s > 0:
            assert forward[s] + back <= 1
            matrix[s, s - 1] = back
        matrix[s, s] = 1 - matrix[s].sum()
    matrix[3, 3] = 1.0
    return matrix


def exact(facts: list[tuple[str, int, str, int]], months: int) -> tuple[np.ndarray, list[float]]:
    """Per month and stage: P(reached the stage by the month | every fact up to that month),
    for one member; and each fact month's P(its facts | earlier facts).

    facts: (kind, stage, _, month). State (stage now, furthest stage reached)."""
    matrix = transition_matrix()
    dist = np.zeros((4, 4))
    dist[0, 0] = 1.0
    curves = np.zeros((months, 3))
    shares = []
    furthest = np.arange(4)[None, :]
    for t in range(months):
        new = np.zeros((4, 4))
        for s in range(4):
            for m in range(4):
                for s2 in range(4):
                    new[s2, max(m, s2)] += dist[s, m] * matrix[s, s2]
        keep = np.ones((4, 4), dtype=bool)
        for kind, stage, _, month in facts:
            if kind == "reached_in" and month == t + 1:
                keep &= furthest < stage  # not reached before its month
            if month != t:
                continue
            if kind in ("reached_by", "reached_in"):
                keep &= furthest >= stage
            else:
                keep &= furthest < stage
        mass = new[keep].sum()
        if any(month == t for *_, month in facts):
            shares.append(float(mass / new.sum()))
        dist = np.where(keep, new, 0.0) / mass
        for stage in (1, 2, 3):
            curves[t, stage - 1] = dist[:, stage:].sum()
    return curves, shares


def within(observed: float, expected: float, ess: float, sigmas: float = 4.0) -> bool:
    spread = np.sqrt(max(expected * (1 - expected), 1e-4) / ess)
    return abs(observed - expected) <= sigmas * spread + 1e-12


FACTS = [
    {"member": "North", "stage": "disengaged", "reached_by": "2040-04"},
    {"member": "South", "stage": "disengaged", "not_reached_by": "2040-08"},
    {"member": "North", "stage": "withdrawn", "not_reached_by": "2040-10"},
]
NORTH = [("reached_by", 1, "", 3), ("not_reached_by", 3, "", 9)]
SOUTH = [("not_reached_by", 1, "", 7)]


@pytest.fixture(scope="module")
def conditioned(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("forecast")
    out = folder / "fc"
    forecast(
        SCENARIO, observations(folder, FACTS), out, RUNS, seed=3, options=RunOptions(workers=1),
        overrides=OVERRIDES, reached_in="condition",
    )  # fmt: skip
    summarize(out)
    return out


def test_conditioned_forecast_matches_exact_conditional_probabilities(conditioned):
    results = load(conditioned)
    conditioning = results.manifest.conditioning
    ess = conditioning["ess"]
    assert ess > 0.05 * RUNS
    curves = results.curves.set_index(["member", "stage", "month"])["probability"]
    months = results.scenario.months
    checked = 0
    for member, facts in (("North", NORTH), ("South", SOUTH)):
        truth, _ = exact(facts, months)
        for j, stage in enumerate(("disengaged", "frozen", "withdrawn")):
            for t in (9, 14, months - 1):  # from the last fact on, filtering is smoothing
                got, want = curves[(member, stage, t)], truth[t, j]
                assert within(got, want, ess), (member, stage, t, got, want)
                checked += 1
    assert checked == 18
    unconditioned, _ = exact([], months)
    north, _ = exact(NORTH, months)
    assert north[months - 1, 1] - unconditioned[months - 1, 1] > 0.1  # the facts matter


def test_the_report_of_a_forecast_shows_its_record_and_how_to_run_it_again(conditioned):
    from sim.report.html import write_report

    html = write_report(conditioned).read_text(encoding="utf-8")
    assert "Held to the record" in html and "effective sample size" in html
    for fact in load(conditioned).manifest.conditioning["facts"]:
        assert fact["label"] in html
    assert "alliance forecast " in html and "--as-of 2040-12 --reached-in condition" in html


def test_each_facts_share_is_its_conditional_probability(conditioned):
    manifest = json.loads((conditioned / "manifest.json").read_text())
    record, conditioning = manifest["forecast"], manifest["conditioning"]
    assert [f["treatment"] for f in record["facts"]] == ["conditioned"] * 3
    assert record["as_of"] == "2040-12"
    _, north = exact(NORTH, 24)
    _, south = exact(SOUTH, 24)
    expected = [north[0], south[0], north[1]]  # members independent: P(fact | earlier facts)
    for fact, want in zip(conditioning["facts"], expected, strict=True):
        assert fact["consistent_share"] == pytest.approx(want, abs=4 * np.sqrt(want / RUNS))
    assert conditioning["log_likelihood"] == pytest.approx(np.log(expected).sum(), abs=0.05)
    runs = pd.concat(pd.read_parquet(p) for p in sorted((conditioned / "chunks").glob("passage-*")))
    assert (runs["North:disengaged"].between(0, 3)).all()
    assert (runs["South:disengaged"].lt(0) | runs["South:disengaged"].gt(7)).all()


def test_imposed_reached_in_sets_the_stage_and_records_its_likelihood(tmp_path):
    facts = [
        {"member": "North", "stage": "disengaged", "reached_by": "2040-03"},
        {"member": "North", "stage": "frozen", "reached_in": "2040-06"},
    ]
    out = tmp_path / "fc"
    done = forecast(
        SCENARIO, observations(tmp_path, facts), out, 10_000, seed=5, options=RunOptions(workers=1),
        overrides=OVERRIDES,
    )  # fmt: skip
    record = done.batch.manifest.forecast
    assert [f["treatment"] for f in record["facts"]] == ["conditioned", "imposed"]
    frozen = pd.read_parquet(out / "chunks" / "passage-000000.parquet")["North:frozen"]
    assert (frozen == 5).all()
    truth, shares = exact([("reached_by", 1, "", 2), ("reached_in", 2, "", 5)], 24)
    _, before = exact([("reached_by", 1, "", 2), ("not_reached_by", 2, "", 4)], 24)
    met = done.conditioning["facts"][1]["met_share"]
    # P(frozen first in 2040-06 | disengaged by 2040-03) = P(not before) x P(in | not before)
    want = before[1] * shares[1]
    assert met == pytest.approx(want, abs=4 * np.sqrt(want / 10_000))
    # constant hazards: the future from "frozen in 2040-06" is the exact conditional one
    withdrawn = summarize(out)[0].curves.query("member == 'North' and stage == 'withdrawn'")
    ess = done.conditioning["ess"]
    for t in (8, 23):
        assert within(withdrawn["probability"].iloc[t], truth[t, 2], ess)


def test_identical_for_any_chunk_size_and_workers(tmp_path):
    facts = observations(tmp_path, FACTS)
    outs = []
    for name, chunk, workers in (("a", 1000, 1), ("b", 2000, 2)):
        out = tmp_path / name
        forecast(
            SCENARIO, facts, out, 4500, seed=9, options=RunOptions(workers=workers),
            chunk_size=chunk, overrides=OVERRIDES, reached_in="condition",
        )  # fmt: skip
        outs.append(out)
    a, b = (load(o) for o in outs)
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], check_exact=True, obj=name)
    assert a.manifest.conditioning == b.manifest.conditioning
    assert a.first_passage().equals(b.first_passage())


def test_a_fact_no_lane_meets_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    facts = observations(
        tmp_path,
        [
            {"member": "South", "stage": "disengaged", "not_reached_by": "2040-02"},
            {"member": "North", "stage": "withdrawn", "reached_by": "2040-02"},
        ],
    )
    out = tmp_path / "fc"
    code, _, err = alliance(
        monkeypatch, capsys, "forecast", SCENARIO, "--observations", facts, "--out", out,
        "--runs", 2000, "--workers", 1, "--posterior", "none",
    )  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1
    assert "North withdrawn by 2040-02" in err and "no run of the model is consistent" in err
    assert not out.exists()


def test_cli_forecast_prints_the_record_and_summarizes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "fc"
    code, stdout, err = alliance(
        monkeypatch, capsys, "forecast", SCENARIO, "--observations",
        observations(tmp_path, FACTS), "--out", out, "--runs", 2000, "--workers", 1,
        "--as-of", "2040-08", "--param", "freeze_intercept=-2", "--posterior", "none",
    )  # fmt: skip
    assert code == 0, err
    assert "effective sample size" in stdout and "South disengaged not by 2040-08" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["forecast"]["after_as_of"] == ["North withdrawn not by 2040-10"]
    assert (out / "summary" / "curves.parquet").is_file()


def test_take_lanes_copies_every_lane_array_found_by_shape():
    from sim.batch.lanes import take_lanes
    from sim.model.model import AllianceModel

    lanes = 2000
    model = AllianceModel(
        SCENARIO, lanes=lanes, parameters={"drain_scale": np.linspace(0, 1, lanes)}
    )
    for _ in range(3):
        model.step()
    north = model.members[0]
    north.new_state = np.arange(lanes, dtype=float)  # state an engineer adds later
    north.new_matrix = np.tile(np.arange(lanes), (3, 1))
    north.new_table = {"memory": np.arange(lanes) * 2}
    before_trust = north.trust.copy()
    before_fp = model.first_passage.copy()
    order = np.random.default_rng(0).integers(0, lanes, lanes)
    take_lanes(model, order)
    np.testing.assert_array_equal(north.new_state, order)
    np.testing.assert_array_equal(north.new_matrix[2], order)
    np.testing.assert_array_equal(north.new_table["memory"], order * 2)
    np.testing.assert_array_equal(north.trust, before_trust[order])
    np.testing.assert_array_equal(model.first_passage, before_fp[order])
    # each lane's parameters move with it once: its row index, not the table of rows as well
    np.testing.assert_array_equal(model.p["drain_scale"], np.linspace(0, 1, lanes)[order])


def test_facts_every_run_meets_leave_the_batch_unchanged(tmp_path):
    from sim.batch.runner import run_batch

    facts = observations(
        tmp_path, [{"member": "North", "stage": "withdrawn", "not_reached_by": "2040-02"}]
    )
    forecast(
        SCENARIO,
        facts,
        tmp_path / "fc",
        1500,
        seed=4,
        options=RunOptions(workers=1),
        reached_in="condition",
    )
    run_batch(SCENARIO, tmp_path / "batch", runs=1500, seed=4, options=RunOptions(workers=1))
    conditioned, plain = load(tmp_path / "fc"), load(tmp_path / "batch")
    assert conditioned.manifest.conditioning["ess_share"] == 1.0
    for name, table in plain.tables().items():  # padding to whole blocks is left out exactly
        pd.testing.assert_frame_equal(conditioned.tables()[name], table, obj=name)


def test_identical_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    facts = observations(tmp_path, FACTS)
    options = dict(seed=9, overrides=OVERRIDES, reached_in="condition")
    forecast(
        SCENARIO,
        facts,
        tmp_path / "serial",
        2500,
        options=RunOptions(workers=1),
        chunk_size=1000,
        **options,
    )
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, host="127.0.0.1",
        protocol="tcp", dashboard_address=None,
    ) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        forecast(
            SCENARIO,
            facts,
            tmp_path / "dask",
            2500,
            chunk_size=2000,
            options=RunOptions(scheduler=address),
            **options,
        )
    a, b = load(tmp_path / "serial"), load(tmp_path / "dask")
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], check_exact=True, obj=name)
    assert a.manifest.conditioning == b.manifest.conditioning


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--as-of", "soon"], ["--as-of", "expected a month as YYYY-MM"]),
        (["--as-of", "2050-01"], ["--as-of", "outside the scenario's calendar"]),
        (["--reached-in", "guess"], ["--reached-in", "impose, condition"]),
    ],
)
def test_bad_options_get_one_line_and_write_nothing(tmp_path, monkeypatch, capsys, args, words):
    out = tmp_path / "fc"
    code, _, err = alliance(
        monkeypatch, capsys, "forecast", SCENARIO, "--observations",
        observations(tmp_path, FACTS), "--out", out, "--runs", 1000, "--workers", 1, *args,
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    for word in words:
        assert word in err
    assert not out.exists()
