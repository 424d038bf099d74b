"""The rules of issue 20 (docs/model.md 7.4, 7.7, 7.9a, 7.14): contagion by the share of the other
members gone, the alliance's own value, lasting grievances, joining, exclusion, the patron
backing a member's opponent or using force against it, calls for help (history's answers and
the members' own), and a notice taken back. Each test fails if its rule is removed.

As in test_members.py, the quiet scenario is compared with a copy that adds one event or
setting, run with the same seed (common random numbers). About 20 s on 2 cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from model_helpers import DATA, add_events, trace, variant

from sim.model.parameters import defaults
from sim.model.stages import FROZEN, WITHDRAWN

P = defaults()
QUIET = DATA / "quiet.yaml"
ALPHA, BETA, GAMMA = range(3)
STILL = {  # no stage moves: balances can be compared month by month
    "disengage_intercept": -9.0,
    "freeze_intercept": -9.0,
    "withdraw_intercept": -10.0,
    "reengage_intercept": -40.0,
    "unobserved_sd": 0.0,
}
RESTLESS = {"disengage_intercept": -1.0, "freeze_intercept": -1.5, "withdraw_intercept": -1.5}


def with_events(tmp_path: Path, *events: dict, edit=None, name: str = "v.yaml") -> Path:
    def change(data: dict) -> None:
        add_events(*events)(data)
        if edit:
            edit(data)

    return variant(tmp_path, change, name=name)


def event(kind: str, member: str = "Alpha", date: str = "2030-03", **fields) -> dict:
    return {"date": date, "kind": kind, "member": member, **fields}


# --- joining and exclusion ---


def test_a_member_that_joins_is_at_risk_only_from_its_join(tmp_path):
    joins = with_events(tmp_path, event("join", date="2031-01"))
    late = trace(joins, lanes=2000, parameters=RESTLESS)
    first = late.model.first_passage[:, ALPHA, 0]
    assert (first[first >= 0] >= 12).all()  # 2031-01 is month 12
    assert (first >= 12).mean() > 0.2  # and it does leave, once in
    early = trace(QUIET, lanes=2000, parameters=RESTLESS).model.first_passage[:, ALPHA, 0]
    assert ((early >= 0) & (early < 12)).mean() > 0.2  # without the join it leaves earlier


def test_a_member_not_yet_joined_is_not_counted_by_contagion(tmp_path):
    """Before Alpha joins, Beta's and Gamma's only other member is each other."""
    gone = [event("status", member="Gamma", status="withdrawn", date="2030-02")]
    joins = with_events(tmp_path, *gone, event("join", date="2031-01"), name="j.yaml")
    member = with_events(tmp_path, *gone, name="m.yaml")
    before, after = 10, 13
    late = trace(joins, parameters=STILL).balance[:, BETA, 0]
    always = trace(member, parameters=STILL).balance[:, BETA, 0]
    base = trace(QUIET, parameters=STILL).balance[:, BETA, 0]
    np.testing.assert_allclose(late[before] - base[before], P["contagion_weight"])  # 1 of 1
    np.testing.assert_allclose(always[before] - base[before], P["contagion_weight"] / 2)
    np.testing.assert_allclose(late[after] - base[after], P["contagion_weight"] / 2)


def test_an_excluded_member_stops_moving_and_is_not_an_exit(tmp_path):
    path = with_events(tmp_path, event("exclusion", date="2030-06"))
    run = trace(path, lanes=2000, parameters=RESTLESS)
    first = run.model.first_passage[:, ALPHA, :]
    assert (first < 5).all()  # nothing from 2030-06 (month 5) on: first passages stay -1
    status = run.status[:, ALPHA, :]
    np.testing.assert_array_equal(status[5:], status[4][None, :].repeat(len(status) - 5, 0))
    kept = trace(QUIET, lanes=2000, parameters=RESTLESS).model.first_passage[:, ALPHA, 2]
    assert (kept >= 5).mean() > 0.05  # without the exclusion it goes on to withdraw


def test_contagion_treats_an_excluded_member_as_gone_from_the_count(tmp_path):
    """An exclusion is not an exit: the others' contagion neither counts it as gone nor as a
    member still in (the share is of the members in the alliance)."""
    excluded = with_events(tmp_path, event("exclusion"), name="e.yaml")
    withdrawn = with_events(tmp_path, event("status", status="withdrawn"), name="w.yaml")
    base = trace(QUIET, parameters=STILL).balance[:, BETA, 0]
    np.testing.assert_allclose(trace(excluded, parameters=STILL).balance[:, BETA, 0], base)
    extra = trace(withdrawn, parameters=STILL).balance[:, BETA, 0] - base
    np.testing.assert_allclose(extra[:3], 0.0)  # the status is set at the end of 2030-03
    np.testing.assert_allclose(extra[3:], P["contagion_weight"] / 2)


# --- the patron's acts and lasting grievances ---


def test_patron_backing_an_opponent_cuts_the_members_trust_most(tmp_path):
    backs = event("patron_backs_opponent", member="Gamma", opponent="Outsider")
    base = trace(QUIET, parameters=STILL)
    ev = trace(with_events(tmp_path, backs), parameters=STILL)
    month = 2
    before = base.trust[month, :, 0]
    after = ev.trust[month, :, 0]
    loss = P["backing_trust_loss"]
    # drift comes after the signal in the month: undo nothing, compare the month's ratio
    drift = P["trust_drift"]
    baseline = 0.6
    expected_gamma = (base.trust[month - 1, GAMMA, 0] * (1 - loss)) * (1 - drift)
    expected_gamma += drift * baseline
    np.testing.assert_allclose(after[GAMMA], expected_gamma)
    assert before[ALPHA] - after[ALPHA] < before[GAMMA] - after[GAMMA]
    spill = base.trust[month - 1, ALPHA, 0] * (1 - P["trust_spillover"] * loss)
    np.testing.assert_allclose(after[ALPHA], spill * (1 - drift) + drift * baseline)


def test_patron_force_cuts_trust_more_than_backing(tmp_path):
    force = trace(with_events(tmp_path, event("patron_force"), name="f.yaml"), parameters=STILL)
    backs = event("patron_backs_opponent", opponent="Outsider")
    backing = trace(with_events(tmp_path, backs, name="b.yaml"), parameters=STILL)
    base = trace(QUIET, parameters=STILL)
    assert force.trust[2, ALPHA, 0] < backing.trust[2, ALPHA, 0] < base.trust[2, ALPHA, 0]
    off = trace(with_events(tmp_path, event("patron_force"), name="f0.yaml"),
                parameters={**STILL, "force_trust_loss": 0.0})  # fmt: skip
    np.testing.assert_allclose(off.trust[:, :, 0], base.trust[:, :, 0])


def test_lasting_grievance_lowers_baseline_trust_for_good(tmp_path):
    unanswered = {
        "date": "2030-03", "kind": "crisis", "requester": "Alpha", "opponent": "X",
        "response": "unanswered",
    }  # fmt: skip
    path = with_events(tmp_path, unanswered)
    lasting = {**STILL, "lasting_grievance": 0.5}
    fades = trace(path, parameters=STILL)
    stays = trace(path, parameters=lasting)
    baseline = stays.model.members[ALPHA].baseline_trust[0]
    np.testing.assert_allclose(baseline, 0.6 * (1 - 0.5 * P["trust_loss_unanswered"]))
    assert fades.model.members[ALPHA].baseline_trust[0] == 0.6
    assert stays.trust[-1, ALPHA, 0] < fades.trust[-1, ALPHA, 0] - 0.02
    np.testing.assert_allclose(stays.trust[:, BETA], fades.trust[:, BETA])  # own grievance only
    force = trace(with_events(tmp_path, event("patron_force"), name="f.yaml"), parameters=lasting)
    lost = min(P["force_trust_loss"], 1.0)
    np.testing.assert_allclose(force.model.members[ALPHA].baseline_trust[0], 0.6 * (1 - 0.5 * lost))


# --- the alliance's own value ---


def test_the_alliances_own_value_holds_a_member_and_falls_as_others_go(tmp_path):
    def valued(data: dict) -> None:
        data["members"][ALPHA]["alliance_value"] = {"value": 0.5, "source": "test value"}

    gone = event("status", member="Beta", status="withdrawn")
    path = with_events(tmp_path, gone, edit=valued, name="v.yaml")
    plain = with_events(tmp_path, gone, name="p.yaml")
    extra = trace(path, parameters=STILL).balance[:, ALPHA, 0]
    extra -= trace(plain, parameters=STILL).balance[:, ALPHA, 0]
    weight = P["alliance_value_weight"]
    np.testing.assert_allclose(extra[:3], -weight * 0.5)  # everyone in: the whole value
    np.testing.assert_allclose(extra[3:], -weight * 0.5 * 0.5)  # Beta gone: half the others


# --- a notice taken back ---


def notice_treaty(data: dict) -> None:
    data["treaty"] = {"notice_months": 12, "source": "test value"}


def test_a_notice_taken_back_returns_the_member_before_it_takes_effect(tmp_path):
    notice = event("status", status="withdrawn", date="2030-03")
    back = event("notice_withdrawn", date="2030-08", status="frozen")
    run = trace(with_events(tmp_path, notice, back, edit=notice_treaty), parameters=STILL)
    status = run.status[:, ALPHA, 0]
    assert (status[2:7] == WITHDRAWN).all() and (status[7:] == FROZEN).all()
    assert run.model.first_passage[0, ALPHA, 2] == 2  # the notice stays on record
    late = event("notice_withdrawn", date="2031-06", status="frozen")  # after it took effect
    kept = trace(with_events(tmp_path, notice, late, edit=notice_treaty, name="late.yaml"),
                 parameters=STILL)  # fmt: skip
    assert (kept.status[2:, ALPHA, 0] == WITHDRAWN).all()


# --- the patron asks for help ---


def test_answering_the_patrons_call_binds_the_member_and_costs_it_at_home(tmp_path):
    ask = {
        "date": "2030-03",
        "kind": "help_request",
        "response": "history",
        "answered_by": ["Alpha"],
    }
    base = trace(QUIET, parameters=STILL)
    ev = trace(with_events(tmp_path, ask), parameters=STILL)
    month, drift = 2, P["trust_drift"]
    before = base.trust[month - 1, ALPHA, 0]
    helped = before + P["help_trust_gain"] * (1 - before)
    np.testing.assert_allclose(ev.trust[month, ALPHA, 0], helped + drift * (0.6 - helped))
    assert ev.domestic[month, ALPHA, 0] > base.domestic[month, ALPHA, 0] + 0.05
    np.testing.assert_allclose(ev.trust[:, BETA], base.trust[:, BETA])  # Beta did not answer
    np.testing.assert_allclose(ev.domestic[:, GAMMA], base.domestic[:, GAMMA])
    off = {**STILL, "help_trust_gain": 0.0, "help_domestic_cost": 0.0}
    np.testing.assert_allclose(trace(with_events(tmp_path, ask, name="o.yaml"), parameters=off)
                               .trust[:, :, 0], base.trust[:, :, 0])  # fmt: skip


HELP_LANES = 4000
DEPENDENCE = (0.5, 0.6, 0.4)  # quiet.yaml's members


def help_chance(q: dict, trust: float, dependence: float, pressure: float) -> float:
    """docs/model.md 7.7: the chance a member answers a call for help the model decides."""
    index = trust + dependence - pressure
    return 1.0 / (1.0 + math.exp(-(q["help_willingness"] + q["help_answer_weight"] * index)))


def answers_in(tmp_path: Path, calls: int, parameters: dict) -> tuple[np.ndarray, object]:
    """How many of `calls` model-decided calls for help in 2030-03 each member answers, per
    lane (from its trust, which each answer moves by a known step), and the quiet run."""
    ask = {"date": "2030-03", "kind": "help_request", "response": "model"}
    path = with_events(tmp_path, *[ask] * calls, name=f"calls{calls}.yaml")
    base = trace(QUIET, lanes=HELP_LANES, parameters=parameters)
    run = trace(path, lanes=HELP_LANES, parameters=parameters)
    month, gain, drift = (
        2,
        parameters.get("help_trust_gain", P["help_trust_gain"]),
        P["trust_drift"],
    )
    before = base.trust[month - 1, :, 0]
    levels = [before]
    for _ in range(calls):
        levels.append(levels[-1] + gain * (1 - levels[-1]))
    after = np.array([t + drift * (0.6 - t) for t in levels])  # (answers, members)
    distance = np.abs(run.trust[month][None, :, :] - after[:, :, None])
    assert distance.min(axis=0).max() < 1e-12  # every lane took one of the known steps
    return distance.argmin(axis=0), base


def test_members_answer_a_call_the_model_decides_by_their_trust_dependence_and_pressure(tmp_path):
    count, base = answers_in(tmp_path, 1, STILL)
    month = 2
    chances = []
    for i in (ALPHA, BETA, GAMMA):
        trust, pressure = base.trust[month - 1, i, 0], base.domestic[month - 1, i, 0]
        chance = help_chance(P, trust, DEPENDENCE[i], pressure)
        chances.append(chance)
        assert abs(count[i].mean() - chance) < 4 * math.sqrt(chance * (1 - chance) / HELP_LANES)
    assert chances[BETA] > chances[ALPHA] > chances[GAMMA] + 0.05  # the rule orders them
    # members decide apart: Alpha's answer tells nothing of Beta's
    assert abs(np.corrcoef(count[ALPHA], count[BETA])[0, 1]) < 0.05
    flat = {**STILL, "help_answer_weight": 0.0, "help_willingness": -1.0}
    level, _ = answers_in(tmp_path, 1, flat)
    limit = 4 * math.sqrt(0.27 * 0.73 / HELP_LANES)
    assert (np.abs(level.mean(axis=1) - 1 / (1 + math.e)) < limit).all()  # logistic(-1) for all


def test_two_calls_in_a_month_are_decided_apart(tmp_path):
    """Each answer reads what the one before left of the member's `answer` uniform: two calls
    answered with chance p each give both answers with chance p^2, not p."""
    p = 1 / (1 + math.e)
    count, _ = answers_in(tmp_path, 2, {**STILL, "help_answer_weight": 0.0})
    expected = np.array([(1 - p) ** 2, 2 * p * (1 - p), p**2])
    for i in (ALPHA, BETA, GAMMA):
        seen = np.bincount(count[i], minlength=3) / HELP_LANES
        np.testing.assert_allclose(seen, expected, atol=0.03)


def test_the_event_log_says_who_answered_a_call_the_model_decided(tmp_path):
    ask = {"date": "2030-03", "kind": "help_request", "response": "model"}
    log = trace(with_events(tmp_path, ask), parameters=STILL).model.event_log
    entries = [e for e in log if e["event"] == "help"]
    assert [e["actor"] for e in entries] == ["Alpha", "Beta", "Gamma"]
    assert all(e["decided_by"] == "model" and e["answered"] in (True, False) for e in entries)
