"""The model's mechanisms, scheduling and randomness behave as docs/model.md says.

Mechanism tests compare a small quiet scenario with a copy that adds one event, run with the same
seed (common random numbers), so any difference is that event's doing. Whole suite: ~10 s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_helpers import DATA, SCENARIOS, add_events, trace, variant
from scipy import stats

from benchmarks.reference import ReferenceModel
from sim.batch.lanes import simulate_chunk
from sim.model.agents import logistic
from sim.model.model import AllianceModel
from sim.model.parameters import defaults
from sim.model.run import run_single
from sim.model.scenario import Scenario, load_scenario
from sim.model.stages import ACTIVE, DISENGAGED, FROZEN, WITHDRAWN

P = defaults()
ALPHA, BETA, GAMMA = range(3)
QUIET = DATA / "quiet.yaml"
BUSY = DATA / "busy.yaml"


def with_events(tmp_path: Path, *events: dict, base: Path = QUIET) -> Path:
    return variant(tmp_path, add_events(*events), base=base)


CRISIS = {"date": "2030-03-10", "kind": "crisis", "requester": "Alpha", "opponent": "Outsider"}
MONTH = 2  # 2030-03 in the quiet scenario, which starts 2030-01


# --- aid requests ---


def test_unanswered_request_lowers_requester_trust_and_less_the_watchers(tmp_path):
    base = trace(QUIET)
    ev = trace(with_events(tmp_path, {**CRISIS, "response": "unanswered"}))
    np.testing.assert_array_equal(base.trust[:MONTH], ev.trust[:MONTH])
    drop = (base.trust - ev.trust)[MONTH, :, 0]
    assert drop[ALPHA] > drop[BETA] > 0
    assert drop[BETA] == pytest.approx(drop[GAMMA])
    # Equal trust before: the watchers' loss is the spill-over share of the requester's.
    assert drop[BETA] / drop[ALPHA] == pytest.approx(P["trust_spillover"])
    # requester: T -= l*T, then the month's drift scales the difference by (1 - trust_drift)
    expected = P["trust_loss_unanswered"] * 0.6 * (1 - P["trust_drift"])
    assert drop[ALPHA] == pytest.approx(expected)
    assert (ev.trust[MONTH:, ALPHA] < base.trust[MONTH:, ALPHA]).all()
    rise = (ev.domestic - base.domestic)[MONTH, :, 0]
    assert rise[ALPHA] > 0
    assert rise[BETA] == rise[GAMMA] == 0


@pytest.mark.parametrize("dilution", [0.5, 1.0])
def test_witness_dilution_spreads_the_spillover_over_the_other_members(tmp_path, dilution):
    """At witness_dilution d each of the K other members feels trust_spillover x K^-d of the
    requester's (or a signaller's) trust change, in the lane engine and the Mesa reference
    alike; at d = 1 the watchers together feel one spill-over, whatever the alliance's size."""
    others = 2  # the quiet scenario's three members
    share = P["trust_spillover"] * others**-dilution
    signal = {"date": "2030-03", "kind": "rebuke", "member": "Alpha"}
    for name, event in (("request", {**CRISIS, "response": "unanswered"}), ("signal", signal)):
        (tmp_path / name).mkdir()
        path = with_events(tmp_path / name, event)
        base = trace(QUIET, parameters={"witness_dilution": dilution})
        ev = trace(path, parameters={"witness_dilution": dilution})
        drop = (base.trust - ev.trust)[MONTH, :, 0]
        assert drop[BETA] / drop[ALPHA] == pytest.approx(share)
        reference = ReferenceModel(path, {"witness_dilution": dilution}, rng=0)
        for _ in range(MONTH + 1):
            reference.step()
        mine, theirs = (reference.members[i].trust for i in (ALPHA, BETA))
        assert theirs == pytest.approx(ev.trust[MONTH, BETA, 0])
        assert mine == pytest.approx(ev.trust[MONTH, ALPHA, 0])


def test_answered_request_raises_trust_and_uses_patron_capacity(tmp_path):
    base = trace(QUIET)
    ev = trace(with_events(tmp_path, {**CRISIS, "response": "answered"}))
    np.testing.assert_array_equal(base.capacity[:MONTH], ev.capacity[:MONTH])
    gain = (ev.trust - base.trust)[MONTH, :, 0]
    assert gain[ALPHA] > gain[BETA] > 0
    assert gain[BETA] / gain[ALPHA] == pytest.approx(P["trust_spillover"])
    expected = P["trust_gain_answered"] * (1 - 0.6) * (1 - P["trust_drift"])
    assert gain[ALPHA] == pytest.approx(expected)
    assert (base.capacity - ev.capacity)[MONTH, 0] == pytest.approx(P["intervention_cost"])
    np.testing.assert_array_equal(base.domestic, ev.domestic)


def test_intervention_event_is_an_answered_request(tmp_path):
    crisis = trace(with_events(tmp_path, {**CRISIS, "response": "answered"}))
    other = tmp_path / "other"
    other.mkdir()
    intervention = {"date": CRISIS["date"], "kind": "intervention", "member": "Alpha"}
    interv = trace(with_events(other, intervention))
    np.testing.assert_array_equal(crisis.trust, interv.trust)
    np.testing.assert_array_equal(crisis.capacity, interv.capacity)


def test_withdrawn_member_makes_no_request(tmp_path):
    def edit(data):
        data["members"][ALPHA]["status"] = "withdrawn"
        add_events({**CRISIS, "response": "unanswered"})(data)

    base = trace(variant(tmp_path, lambda d: d["members"][ALPHA].update(status="withdrawn")))
    ev = trace(variant(tmp_path, edit, name="with_request.yaml"))
    np.testing.assert_array_equal(base.trust, ev.trust)
    assert not [e for e in ev.model.event_log if e["event"] == "request"]


@pytest.mark.parametrize(
    ("change", "direction"),
    [
        ({}, 0),
        ({"backed_opponent": True}, -1),
        ({"opponent": "Beta"}, -1),
        ({"capacity": 0.1}, -1),
    ],
    ids=["outsider", "backed opponent", "against a member", "low capacity"],
)
def test_patron_answers_as_its_capacity_and_strategic_costs_say(tmp_path, change, direction):
    """Share of 4,000 lanes answering a model-decided request matches the answer rule."""
    change = dict(change)
    capacity = change.pop("capacity", 0.5)

    def edit(data):
        data["patron"]["capacity"]["value"] = capacity
        data["patron"]["baseline_capacity"] = {"value": capacity, "source": "test"}
        add_events({**CRISIS, "date": "2030-01", "response": "model", **change})(data)

    lanes = 4000
    model = AllianceModel(variant(tmp_path, edit), lanes=lanes, rng=3)
    model.step()
    answered = model.members[ALPHA].trust > 0.6
    log_odds = (
        P["answer_willingness"]
        + P["answer_capacity_weight"] * capacity
        - P["backer_cost"] * change.get("backed_opponent", False)
        - P["intra_member_cost"] * ("opponent" in change)
    )
    expected = float(logistic(np.array(log_odds)))
    se = np.sqrt(expected * (1 - expected) / lanes)
    assert answered.mean() == pytest.approx(expected, abs=4.5 * se)
    baseline = float(
        logistic(np.array(P["answer_willingness"] + P["answer_capacity_weight"] * 0.5))
    )
    assert np.sign(round(expected - baseline, 6)) == direction


# --- the patron's capacity ---


DRAIN = {"date": "2030-04", "kind": "drain", "id": "war", "once": 0.1, "monthly": 0.02}


def test_drain_lowers_capacity_and_recovery_raises_it_after(tmp_path):
    base = trace(QUIET)
    ev = trace(with_events(tmp_path, {**DRAIN, "until": "2030-09"}))
    cap = ev.capacity[:, 0]
    np.testing.assert_array_equal(base.capacity[:3], ev.capacity[:3])
    assert base.capacity[3, 0] - cap[3] == pytest.approx(0.12)
    assert (np.diff(cap[3:9]) < 0).all(), "the monthly drain outweighs recovery while it lasts"
    assert (np.diff(cap[8:]) > 0).all(), "after the drain, capacity recovers every month"
    assert (cap <= 0.5 + 1e-12).all(), "recovery stops at the baseline"


def test_drain_end_stops_a_drain_from_its_month(tmp_path):
    ended = trace(
        with_events(tmp_path, DRAIN, {"date": "2030-07", "kind": "drain_end", "drain": "war"})
    )
    cap = ended.capacity[:, 0]
    assert (np.diff(cap[3:6]) < 0).all()
    assert (np.diff(cap[5:]) > 0).all()


@pytest.mark.parametrize("scale", [0.0, 2.0])
def test_drain_scale_multiplies_every_drain(tmp_path, scale):
    base = trace(QUIET)
    path = with_events(tmp_path, {**DRAIN, "monthly": 0.0})
    one = trace(path)
    scaled = trace(path, parameters={"drain_scale": scale})
    if scale == 0.0:
        np.testing.assert_allclose(scaled.capacity, base.capacity)
    else:
        loss_one = base.capacity[3, 0] - one.capacity[3, 0]
        assert base.capacity[3, 0] - scaled.capacity[3, 0] == pytest.approx(2 * loss_one)


def test_recovery_closes_the_gap_to_baseline_geometrically(tmp_path):
    def edit(data):
        data["patron"]["capacity"]["value"] = 0.2
        data["patron"]["baseline_capacity"] = {"value": 0.6, "source": "test"}

    path = variant(tmp_path, edit)
    cap = trace(path).capacity[:, 0]
    months = np.arange(1, len(cap) + 1)
    np.testing.assert_allclose(0.6 - cap, 0.4 * (1 - P["patron_recovery"]) ** months)
    frozen = trace(path, parameters={"patron_recovery": 0.0}).capacity[:, 0]
    np.testing.assert_allclose(frozen, 0.2)


# --- signals and drift ---


@pytest.mark.parametrize(
    ("kind", "parameter"),
    [("rebuke", "rebuke_trust_loss"), ("summit_quarrel", "quarrel_trust_loss")],
)
def test_signals_lower_trust_more_for_the_signaller_and_with_severity(tmp_path, kind, parameter):
    base = trace(QUIET)
    drops = {}
    for severity in (1.0, 2.0):
        folder = tmp_path / str(severity)
        folder.mkdir()
        event = {"date": "2030-03", "kind": kind, "member": "Alpha", "severity": severity}
        ev = trace(with_events(folder, event))
        np.testing.assert_array_equal(base.trust[:MONTH], ev.trust[:MONTH])
        drops[severity] = (base.trust - ev.trust)[MONTH, :, 0]
    one, two = drops[1.0], drops[2.0]
    assert one[ALPHA] > one[BETA] > 0
    assert two[ALPHA] > one[ALPHA] and two[BETA] > one[BETA]
    assert one[ALPHA] == pytest.approx(P[parameter] * 0.6 * (1 - P["trust_drift"]))
    assert one[BETA] == pytest.approx(P["trust_spillover"] * one[ALPHA])


def test_trust_and_domestic_pressure_drift_back_to_baseline(tmp_path):
    def edit(data):
        data["members"][ALPHA]["trust"]["value"] = 0.3
        data["members"][ALPHA]["baseline_trust"] = {"value": 0.6, "source": "test"}
        add_events({**CRISIS, "response": "unanswered"})(data)

    ev = trace(variant(tmp_path, edit))
    trust = ev.trust[:, ALPHA, 0]
    assert (np.diff(trust[MONTH:]) > 0).all() and (trust < 0.6).all()
    domestic = ev.domestic[:, ALPHA, 0]
    assert (np.diff(domestic[MONTH:]) < 0).all() and (domestic[MONTH:] > 0.2).all()


# --- exits ---


@pytest.mark.parametrize(("stage", "weight"), [("withdrawn", 1.0), ("frozen", 0.5)])
def test_contagion_adds_to_others_balance_by_share(tmp_path, stage, weight):
    """Alpha gone is half of Beta's and of Gamma's other members (withdrawn 1, frozen 1/2)."""
    event = {"date": "2030-01", "kind": "status", "member": "Alpha", "status": stage}
    still = {  # no other stage moves, so the balance difference is contagion alone
        "disengage_intercept": -9.0,
        "freeze_intercept": -9.0,
        "withdraw_intercept": -10.0,
        "reengage_intercept": -40.0,  # trusting members sit far below zero balance: no way back
    }
    base = trace(QUIET, parameters=still)
    ev = trace(with_events(tmp_path, event), parameters=still)
    assert ev.status[0, ALPHA, 0] == ["active", "disengaged", "frozen", "withdrawn"].index(stage)
    extra = (ev.balance - base.balance)[1:, :, 0]
    np.testing.assert_allclose(extra[:, BETA], weight * P["contagion_weight"] / 2)
    np.testing.assert_allclose(extra[:, GAMMA], weight * P["contagion_weight"] / 2)
    forward_base = base.model.members[BETA].forward_hazard()
    forward_ev = ev.model.members[BETA].forward_hazard()
    assert forward_ev[0] > forward_base[0]
    none = trace(with_events(tmp_path, event), parameters={**still, "contagion_weight": 0.0})
    off = trace(QUIET, parameters={**still, "contagion_weight": 0.0})
    np.testing.assert_allclose(none.balance[:, BETA], off.balance[:, BETA])


def test_contagion_raises_others_exit_probability(tmp_path):
    """Over 3,000 lanes, members leave more often once another member has withdrawn."""
    hazards = {"disengage_intercept": -3.0, "freeze_intercept": -3.0}
    event = {"date": "2030-01", "kind": "status", "member": "Alpha", "status": "withdrawn"}
    base = trace(QUIET, lanes=3000, parameters=hazards)
    ev = trace(with_events(tmp_path, event), lanes=3000, parameters=hazards)
    for member in (BETA, GAMMA):
        before = (base.model.first_passage[:, member, 0] >= 0).mean()
        after = (ev.model.first_passage[:, member, 0] >= 0).mean()
        assert after > before + 0.05


def test_status_moves_at_most_one_stage_a_month_and_withdrawal_absorbs():
    """4,000 lanes of a restless scenario without cascades: every step is one stage, and never
    out of withdrawal."""
    sc = load_scenario(BUSY)
    result = simulate_chunk(
        sc, seed=11, first=0, replications=4000, trajectories=True,
        parameters={"cascade_weight": 0.0},
    )  # fmt: skip
    status = result.trajectories["status"].astype(int)  # (months, members, lanes)
    start = np.broadcast_to(sc.status[None, :, None], (1, *status.shape[1:]))
    path = np.concatenate([start, status])
    steps = np.diff(path, axis=0)
    assert np.abs(steps).max() == 1
    before = path[:-1]
    assert not (steps[before == WITHDRAWN] != 0).any(), "withdrawal is absorbing"
    assert not (steps[before == ACTIVE] < 0).any()
    for stage in (ACTIVE, DISENGAGED, FROZEN):
        assert (steps[before == stage] == 1).sum() > 50, f"no steps forward from stage {stage}"
    for stage in (DISENGAGED, FROZEN):
        assert (steps[before == stage] == -1).sum() > 20, f"no steps back from stage {stage}"
    # first passage = first month at or beyond the stage (month 0 for a starting status)
    for k in (1, 2, 3):
        reached = path >= k
        month = np.where(reached.any(axis=0), reached.argmax(axis=0) - 1, -1).clip(-1)
        month = np.where(reached[0], 0, month)
        np.testing.assert_array_equal(result.first_passage[:, :, k - 1], month.T)


@pytest.mark.parametrize("cascade", [0.3, 1.0])
def test_a_step_forward_cascades_at_cascade_weight_times_the_next_hazard(cascade):
    """With the balance's slope at 0, every hazard is its intercept's logistic: the share of
    active lanes that go two or three stages in their first month is exactly h1 c h2 (1 - c h3)
    and h1 c h2 c h3, and each stage passed is recorded in that month."""
    sc = load_scenario(QUIET)
    intercepts = {"disengage_intercept": -2.0, "freeze_intercept": -2.0, "withdraw_intercept": -3}
    params = {"hazard_slope": 0.0, "cascade_weight": cascade, "reengage_intercept": -9.0}
    lanes = 60_000
    model = AllianceModel(sc, lanes=lanes, parameters=params | intercepts, rng=5)
    model.step()
    h1, h2, h3 = (float(logistic(np.float64(v))) for v in intercepts.values())
    moved = model.status[ALPHA]
    expected = {
        1: h1 * (1 - cascade * h2),
        2: h1 * cascade * h2 * (1 - cascade * h3),
        3: h1 * cascade * h2 * cascade * h3,
    }
    for stage, p in expected.items():
        share = (moved == stage).mean()
        assert share == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / lanes) + 1e-4), stage
        fp = model.first_passage[moved == stage, ALPHA]
        assert (fp[:, :stage] == 0).all() and (fp[:, stage:] == -1).all()


def test_a_cascade_only_lengthens_the_steps_the_same_draws_take():
    """Same seed, cascade off and on: the same lanes step forward in the first month (the
    cascade draws no number), and only the cascade takes some of them further."""
    sc = load_scenario(QUIET)
    hot = {"hazard_slope": 0.0, "disengage_intercept": -2.0, "freeze_intercept": -2.0}
    statuses = []
    for cascade in (0.0, 1.0):
        model = AllianceModel(sc, lanes=5000, parameters=hot | {"cascade_weight": cascade}, rng=8)
        model.step()
        statuses.append(model.status.astype(int) - sc.status[:, None])
    one, many = statuses
    assert one.max() == 1
    np.testing.assert_array_equal(many > 0, one > 0)
    assert (many >= one).all() and (many > 1).any()


def test_status_event_sets_the_stage_whatever_the_distance(tmp_path):
    event = {"date": "2030-05", "kind": "status", "member": "Beta", "status": "withdrawn"}
    ev = trace(with_events(tmp_path, event))
    assert ev.status[3, BETA, 0] == ACTIVE
    assert (ev.status[4:, BETA, 0] == WITHDRAWN).all()
    assert list(ev.model.first_passage[0, BETA]) == [4, 4, 4]


# --- random crises and event replay ---


def test_random_crises_only_after_history_end(tmp_path):
    def edit(data):
        for m in data["members"]:
            m["crises"]["rate"] = 0.4

    path = variant(tmp_path, edit)
    sc = load_scenario(path)
    _, log, _ = run_single(sc, seed=5)
    random = log[log["detail"] == "random crisis"]
    assert len(random) > 10
    assert (random["date"] > sc.month_label(sc.history_end)).all()
    assert set(random["decided_by"]) == {"model"}
    _, quiet, _ = run_single(sc, seed=5, parameters={"crisis_rate_scale": 0.0})
    assert not (quiet["event"] == "request").any()


def test_history_replays_on_the_month_of_its_date():
    sc = load_scenario(SCENARIOS / "csto_2022.yaml")
    assert sc.month_label(sc.month_of("2022-09-13")) == "2022-09"
    _, log, _ = run_single(sc, seed=2)  # a run in which Armenia is still a member in 2022-09
    sept = log[(log["date"] == "2022-09") & (log["event"] == "request")]
    assert set(sept["actor"]) == {"Armenia", "Kyrgyzstan", "Tajikistan"}
    assert not sept["answered"].any() and set(sept["decided_by"]) == {"history"}
    replayed = [e for e in sc.timeline if e["kind"] not in ("drain", "drain_end", "status")]
    for event in replayed:
        rows = log[(log["date"] == event["date"][:7]) & (log["detail"] == event["what"])]
        assert len(rows) >= 1, f"{event['what']} not logged in {event['date'][:7]}"
    kaz = log[(log["date"] == "2022-01") & (log["event"] == "request")]
    assert kaz["answered"].tolist() == [True]


# --- lanes and common random numbers ---


def _outcomes(first_passage: np.ndarray, months: int) -> np.ndarray:
    """First-passage months with censored runs (-1) put after the horizon."""
    return np.where(first_passage < 0, months, first_passage)


def _lane_vs_single_pvalues(sc: Scenario, lane_fp: np.ndarray, single_fp: np.ndarray) -> list:
    a, b = _outcomes(lane_fp, sc.months), _outcomes(single_fp, sc.months)
    return [
        stats.ks_2samp(a[:, i, k], b[:, i, k]).pvalue
        for i in range(len(sc.members))
        for k in range(3)
    ]


def test_r_lanes_equal_r_separate_single_runs_in_distribution():
    """300 one-lane models (seeds 0-299) against one 300-lane model: KS per member and stage."""
    sc = load_scenario(BUSY)
    runs = 300
    single = []
    for seed in range(runs):
        model = AllianceModel(sc, lanes=1, rng=seed)
        while model.running:
            model.step()
        single.append(model.first_passage[0])
    single_fp = np.array(single)

    def lanes_fp(parameters=None):
        model = AllianceModel(sc, lanes=runs, rng=2024, parameters=parameters)
        while model.running:
            model.step()
        return model.first_passage

    same = _lane_vs_single_pvalues(sc, lanes_fp(), single_fp)
    assert min(same) > 0.001 / len(same), same
    # The same comparison sees a modest change in the model: the test has power.
    shifted = _lane_vs_single_pvalues(sc, lanes_fp({"disengage_intercept": -3.5}), single_fp)
    assert min(shifted) < 1e-4, shifted


def test_a_replication_is_the_same_whatever_the_chunk():
    sc = load_scenario(BUSY)
    whole = simulate_chunk(sc, seed=7, first=0, replications=1003, aggregate=False)
    for r in (0, 17, 999, 1000, 1002):
        alone = simulate_chunk(sc, seed=7, first=r, replications=1, aggregate=False)
        np.testing.assert_array_equal(alone.first_passage[0], whole.first_passage[r])
    middle = simulate_chunk(sc, seed=7, first=995, replications=8, aggregate=False)
    np.testing.assert_array_equal(middle.first_passage, whole.first_passage[995:1003])


def test_parameter_points_share_each_replications_random_numbers():
    sc = load_scenario(BUSY)
    points = simulate_chunk(
        sc, 7, 0, 200, parameters={"contagion_weight": np.array([0.8, 2.0])}, points=2
    )
    for p, value in enumerate((0.8, 2.0)):
        alone = simulate_chunk(sc, 7, 0, 200, parameters={"contagion_weight": value})
        np.testing.assert_array_equal(
            points.first_passage[p * 200 : (p + 1) * 200], alone.first_passage
        )


def test_scenarios_that_differ_from_month_m_share_their_past(tmp_path):
    """Common random numbers: an extra event at month M leaves months before M untouched."""
    month_m = 14  # 2031-03, after history_end (2030-06), so random crises run before it
    extra = [
        {
            "date": "2031-03",
            "kind": "crisis",
            "requester": "Beta",
            "opponent": "X",
            "response": "answered",
        },
        {"date": "2031-03", "kind": "drain", "id": "late", "monthly": 0.05},
    ]
    sc_a = load_scenario(BUSY)
    sc_b = load_scenario(with_events(tmp_path, *extra, base=BUSY))
    a = simulate_chunk(sc_a, 3, 0, 500, trajectories=True).trajectories
    b = simulate_chunk(sc_b, 3, 0, 500, trajectories=True).trajectories
    for key in ("trust", "status", "capacity"):
        np.testing.assert_array_equal(a[key][:month_m], b[key][:month_m])
    assert (a["capacity"][month_m] > b["capacity"][month_m]).all()
    assert (a["trust"][month_m] != b["trust"][month_m]).any()
    assert (a["status"][month_m:] != b["status"][month_m:]).any()
