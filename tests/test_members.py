"""Members that change, the patron's leverage, the treaty calendar and blame (docs/model.md 7.1,
7.4, 7.9, 7.11-7.13): each mechanism moves the model in its documented direction.

As in test_model.py, a small quiet scenario is compared with a copy that adds one event or
setting, run with the same seed (common random numbers), so any difference is that change's
doing. About 15 s on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_helpers import DATA, Trace, add_events, trace, variant

from sim.model.errors import InputError
from sim.model.model import AllianceModel
from sim.model.parameters import defaults
from sim.model.run import run_single
from sim.model.scenario import load_scenario
from sim.model.stages import FROZEN, WITHDRAWN
from sim.model.streams import LaneUniforms

P = defaults()
QUIET = DATA / "quiet.yaml"
ALPHA, BETA, GAMMA = range(3)
MONTH = 2  # 2030-03 in the quiet scenario, which starts 2030-01
STILL = {  # no stage moves: balances and hazards can be compared month by month
    "disengage_intercept": -9.0,
    "freeze_intercept": -9.0,
    "withdraw_intercept": -10.0,
}
FLAT = {"hazard_slope": 0.0, "reengage_intercept": -9.0}  # frozen members withdraw at ~1.8%/month


def with_events(tmp_path: Path, *events: dict, base: Path = QUIET, name: str = "v.yaml") -> Path:
    return variant(tmp_path, add_events(*events), base=base, name=name)


def change(kind: str, member: str = "Alpha", date: str = "2030-03", **fields) -> dict:
    return {"date": date, "kind": kind, "member": member, **fields}


def disengage_share(result: Trace, member: int) -> float:
    """Share of lanes in which the member disengaged at some point."""
    return float((result.model.first_passage[:, member, 0] >= 0).mean())


# --- member-level events ---


def test_new_outside_option_raises_the_balance_and_the_exit_hazard(tmp_path):
    base = trace(QUIET, parameters=STILL)
    ev = trace(with_events(tmp_path, change("outside_option", by=0.3)), parameters=STILL)
    extra = (ev.balance - base.balance)[:, :, 0]
    np.testing.assert_array_equal(extra[:MONTH], 0.0)
    np.testing.assert_allclose(extra[MONTH:, ALPHA], P["outside_weight"] * 0.3)
    np.testing.assert_array_equal(extra[:, BETA], 0.0)
    assert (
        ev.model.members[ALPHA].forward_hazard()[0]
        > (base.model.members[ALPHA].forward_hazard()[0])
    )
    # Over 4,000 lanes at the default hazards, the member disengages more often; the others do
    # not move (contagion off: Alpha's exits would otherwise reach them).
    alone = {"contagion_weight": 0.0}
    lanes = trace(QUIET, lanes=4000, seed=2, parameters=alone)
    event = with_events(tmp_path, change("outside_option", by=0.3))
    more = trace(event, lanes=4000, seed=2, parameters=alone)
    before, after = disengage_share(lanes, ALPHA), disengage_share(more, ALPHA)
    assert after > 2 * before and after - before > 4 * np.sqrt(after / 4000)
    assert disengage_share(more, BETA) == disengage_share(lanes, BETA)


def test_spread_change_moves_evenly_and_a_new_level_is_reached_at_until(tmp_path):
    events = (
        change("outside_option", by=0.3, until="2030-08"),  # six months, +0.05 each
        change("dependence_change", member="Beta", to=0.9, until="2030-06"),  # four months
    )
    model = AllianceModel(with_events(tmp_path, *events), lanes=1, rng=0)
    seen = []
    while model.running:
        model.step()
        seen.append((model.members[ALPHA].outside_options, model.members[BETA].dependence))
    options, dependence = np.array(seen).T
    np.testing.assert_allclose(options[:MONTH], 0.3)
    np.testing.assert_allclose(np.diff(options[MONTH - 1 : 8]), 0.05)
    np.testing.assert_allclose(options[7:], 0.6)
    np.testing.assert_allclose(np.diff(dependence[MONTH - 1 : 6]), 0.075)  # 0.6 -> 0.9 in 4
    assert (dependence[5:] == 0.9).all()


def test_regime_change_toward_hostility_raises_domestic_pressure_and_its_baseline(tmp_path):
    base = trace(QUIET, parameters=STILL)
    path = with_events(tmp_path, change("regime_change", by=0.4, baseline_trust={"by": -0.2}))
    ev = trace(path, parameters=STILL)
    rise = (ev.domestic - base.domestic)[:, ALPHA, 0]
    np.testing.assert_array_equal(rise[:MONTH], 0.0)
    # Pressure and its baseline moved together: nothing decays back, the rise stays.
    np.testing.assert_allclose(rise[MONTH:], 0.4)
    assert (ev.balance[MONTH:, ALPHA] > base.balance[MONTH:, ALPHA]).all()
    # Baseline trust and trust fell by 0.2 together: the new government brings its own view of
    # the patron, and trust stays at its new baseline instead of drifting down for years.
    trust = ev.trust[:, ALPHA, 0]
    np.testing.assert_allclose(trust[:MONTH], base.trust[:MONTH, ALPHA, 0])
    np.testing.assert_allclose(trust[MONTH:], 0.4)
    assert ev.model.members[ALPHA].baseline_trust == pytest.approx(0.4)
    friendly = trace(with_events(tmp_path, change("regime_change", to=0.0), name="f.yaml"))
    assert (friendly.domestic[MONTH:, ALPHA] == 0.0).all()


def test_regime_change_to_a_trust_level_takes_trust_there_by_its_until(tmp_path):
    """A new level of baseline trust spread over months is approached by trust itself, from
    below after an unanswered request, and reached in the span's last month."""
    unanswered = {"date": "2030-02", "kind": "crisis", "requester": "Alpha", "opponent": "Outsider",
                  "response": "unanswered"}  # fmt: skip
    base = trace(with_events(tmp_path, unanswered), parameters=STILL)
    regime = change("regime_change", by=0.0, baseline_trust={"to": 0.9}, until="2030-05")
    ev = trace(with_events(tmp_path, unanswered, regime, name="r.yaml"), parameters=STILL)
    trust = ev.trust[:, ALPHA, 0]
    np.testing.assert_array_equal(trust[:MONTH], base.trust[:MONTH, ALPHA, 0])
    assert (np.diff(trust[MONTH - 1 : 5]) > 0).all()
    np.testing.assert_allclose(trust[4:], 0.9)


def test_unobserved_reasons_shift_each_members_balance_once_per_run():
    sc = load_scenario(QUIET)
    lanes = 20_000
    plain = AllianceModel(sc, lanes=lanes, parameters=STILL | {"unobserved_sd": 0.0}, rng=4)
    noisy = AllianceModel(sc, lanes=lanes, parameters=STILL | {"unobserved_sd": 0.7}, rng=4)
    assert not plain.unobserved.any()
    shift = noisy.unobserved
    assert shift.shape == (3, lanes)
    tolerance = 4 * 0.7 / np.sqrt(lanes)
    np.testing.assert_allclose(shift.mean(axis=1), 0.0, atol=tolerance)
    np.testing.assert_allclose(shift.std(axis=1), 0.7, atol=2 * tolerance)
    assert abs(np.corrcoef(shift)[0, 1]) < 4 / np.sqrt(lanes), "members draw independently"
    for _ in range(3):
        plain.step()
        noisy.step()
        np.testing.assert_allclose(noisy.balance - plain.balance, shift, atol=1e-12)


def test_a_runs_unobserved_reasons_are_the_same_whatever_the_chunk_or_point():
    sc = load_scenario(QUIET)
    spread = {"unobserved_sd": 1.0}

    def drawn(first: int, replications: int, points: int = 1) -> np.ndarray:
        uniforms = LaneUniforms.from_seed(21, first, replications, len(sc.members), points)
        lanes = replications * points
        model = AllianceModel(sc, lanes=lanes, parameters=spread, uniforms=uniforms)
        return model.unobserved

    whole = drawn(0, 2500)
    np.testing.assert_array_equal(drawn(1400, 700), whole[:, 1400:2100])
    two_points = drawn(900, 300, points=2)
    np.testing.assert_array_equal(two_points[:, :300], whole[:, 900:1200])
    np.testing.assert_array_equal(two_points[:, 300:], whole[:, 900:1200])


def test_unobserved_reasons_spread_members_fates_and_add_exits_where_hazards_are_low():
    """Around a low hazard the logistic is convex: a spread of balances raises the mean hazard
    (more members leave), and no longer do all runs of a member share one hazard."""
    sc = load_scenario(QUIET)
    lanes = 4000
    shares = []
    for sd in (0.0, 1.0):
        model = AllianceModel(sc, lanes=lanes, parameters={"unobserved_sd": sd}, rng=6)
        while model.running:
            model.step()
        shares.append((model.first_passage[:, :, 0] >= 0).mean())
    assert shares[1] > shares[0] + 4 * np.sqrt(shares[0] * (1 - shares[0]) / (3 * lanes))


def test_peace_treaty_lowers_threat_and_the_pull_of_protection(tmp_path):
    base = trace(QUIET, parameters=STILL)
    ev = trace(with_events(tmp_path, change("threat_change", by=-0.3)), parameters=STILL)
    member = ev.model.members[ALPHA]
    assert member.threat == pytest.approx(0.3)
    assert member.unmet_threat == pytest.approx(0.3 * (1 - 0.3))
    # The balance rises by exactly the protection lost: weight x trust x capacity x unmet threat.
    lost = P["protection_weight"] * base.trust[:, ALPHA, 0] * 0.5 * (0.3 * 0.7)
    extra = (ev.balance - base.balance)[:, ALPHA, 0]
    np.testing.assert_allclose(extra[MONTH:], lost[MONTH:])
    np.testing.assert_array_equal(extra[:MONTH], 0.0)


def test_dependence_and_own_capacity_changes_move_the_reasons_to_stay(tmp_path):
    base = trace(QUIET, parameters=STILL)
    less = trace(with_events(tmp_path, change("dependence_change", to=0.1)), parameters=STILL)
    cut = P["dependence_weight"] * 0.4 + P["retaliation_weight"] * 0.5 * 0.4
    np.testing.assert_allclose((less.balance - base.balance)[MONTH:, ALPHA, 0], cut)
    armed = trace(
        with_events(tmp_path, change("capacity_change", by=0.5), name="c.yaml"), parameters=STILL
    )
    assert armed.model.members[ALPHA].capacity == pytest.approx(0.8)
    assert (armed.balance[MONTH:, ALPHA] > base.balance[MONTH:, ALPHA]).all()  # less to protect


def test_values_are_clipped_to_the_unit_interval(tmp_path):
    path = with_events(tmp_path, change("outside_option", by=0.9), change("threat_change", by=-1))
    model = trace(path).model.members[ALPHA]
    assert model.outside_options == 1.0 and model.threat == 0.0


# --- the patron's leverage ---


def test_leverage_drain_weakens_retaliation_and_a_capacity_drain_does_not(tmp_path):
    still = {**STILL, "patron_recovery": 0.0}
    base = trace(QUIET, parameters=still)
    drain = {"date": "2030-03", "kind": "drain", "id": "d", "once": 0.2}
    by_kind = {}
    for drains in ("capacity", "leverage", "both"):
        folder = tmp_path / drains
        folder.mkdir()
        by_kind[drains] = trace(with_events(folder, {**drain, "drains": drains}), parameters=still)
    war, sanctions, both = by_kind["capacity"], by_kind["leverage"], by_kind["both"]
    dependence = np.array([0.5, 0.6, 0.4])
    # A war drains capacity only: leverage, and with it retaliation, stay as they were.
    np.testing.assert_array_equal(war.model.patron.leverage, base.model.patron.leverage)
    protection_lost = (
        P["protection_weight"] * base.trust[:, :, 0] * 0.2 * np.array([0.6, 0.4, 0.5]) * 0.7
    )
    np.testing.assert_allclose(
        (war.balance - base.balance)[MONTH:, :, 0], protection_lost[MONTH:], rtol=1e-9
    )
    # Sanctions drain leverage only: retaliation weakens by weight x 0.2 x dependence.
    np.testing.assert_array_equal(sanctions.capacity, base.capacity)
    np.testing.assert_allclose(
        (sanctions.balance - base.balance)[MONTH:, :, 0],
        np.broadcast_to(P["retaliation_weight"] * 0.2 * dependence, (34, 3)),
    )
    np.testing.assert_allclose(
        both.balance - base.balance,
        (war.balance - base.balance) + (sanctions.balance - base.balance),
    )


def test_leverage_recovers_toward_its_own_baseline(tmp_path):
    def edit(data):
        data["patron"]["leverage"] = {"value": 0.2, "source": "test"}
        data["patron"]["baseline_leverage"] = {"value": 0.6, "source": "test"}

    result = trace(variant(tmp_path, edit))
    leverage = []
    model = AllianceModel(variant(tmp_path, edit, name="again.yaml"), rng=0)
    while model.running:
        model.step()
        leverage.append(model.patron.leverage[0])
    months = np.arange(1, len(leverage) + 1)
    np.testing.assert_allclose(0.6 - np.array(leverage), 0.4 * (1 - P["patron_recovery"]) ** months)
    np.testing.assert_array_equal(result.capacity, 0.5)  # capacity is a separate quantity


# --- the treaty calendar ---


def _frozen_alliance(data: dict, treaty: dict | None) -> None:
    for member in data["members"]:
        member["status"] = "frozen"
    data["calendar"]["end"] = "2034-12"
    if treaty:
        data["treaty"] = treaty


RENEWAL = {"renewals": [{"date": "2032-06", "source": "test"}], "window_months": 6}


def test_renewal_window_raises_withdrawals_in_its_months(tmp_path):
    lanes, window = 4000, slice(24, 30)  # 2032-01..2032-06, the window before 2032-06
    plain_path = variant(tmp_path, lambda d: _frozen_alliance(d, None))
    plain = AllianceModel(plain_path, lanes, rng=8, parameters=FLAT)
    treaty = {**RENEWAL, "source": "test"}
    path = variant(tmp_path, lambda d: _frozen_alliance(d, treaty), name="t.yaml")
    renewing = AllianceModel(path, lanes, rng=8, parameters=FLAT)
    for model in (plain, renewing):
        while model.running:
            model.step()
    months = load_scenario(path).months

    def withdrawals(model: AllianceModel) -> np.ndarray:
        first = model.first_passage[:, :, WITHDRAWN - 1].ravel()
        return np.bincount(first[first >= 0], minlength=months)

    a, b = withdrawals(plain), withdrawals(renewing)
    np.testing.assert_array_equal(a[: window.start], b[: window.start])  # same past
    assert b[window].sum() > 1.5 * a[window].sum()
    # Month by month inside the window, the hazard of a frozen member is multiplied (here 2).
    assert (b[window] > a[window]).all()
    none = AllianceModel(path, lanes, rng=8, parameters={**FLAT, "renewal_hazard_factor": 1.0})
    while none.running:
        none.step()
    np.testing.assert_array_equal(none.first_passage, plain.first_passage)


def test_renewal_factor_multiplies_the_frozen_members_hazard_in_the_window(tmp_path):
    treaty = {**RENEWAL, "source": "test"}
    path = variant(tmp_path, lambda d: _frozen_alliance(d, treaty))
    sc = load_scenario(path)
    assert list(np.flatnonzero(sc.renewal_window)) == list(range(24, 30))
    model = AllianceModel(path, lanes=1, rng=0, parameters=STILL)
    member = model.members[ALPHA]
    outside = member.forward_hazard().copy()
    inside = member.forward_hazard(renewal=True)
    assert member.status[0] == FROZEN
    assert inside[0] == pytest.approx(outside[0] * P["renewal_hazard_factor"])


def test_notice_period_records_notice_and_effective_months(tmp_path):
    treaty = {"notice_months": 12, "source": "test"}
    event = {"date": "2030-05", "kind": "status", "member": "Beta", "status": "withdrawn"}

    def edit(data):
        data["treaty"] = treaty
        add_events(event)(data)

    sc = load_scenario(variant(tmp_path, edit))
    _, log, model = run_single(sc, seed=1)
    assert list(model.first_passage[0, BETA]) == [4, 4, 4]  # the notice month
    assert model.withdrawal_effective[0, BETA] == 16
    notices = model.first_passage[:, :, 2]
    np.testing.assert_array_equal(
        model.withdrawal_effective, np.where(notices >= 0, notices + 12, -1)
    )
    row = log[(log["actor"] == "Beta") & (log["event"] == "status")].iloc[0]
    assert row["date"] == "2030-05" and "takes effect 2031-05" in row["detail"]


def test_duration_dependence_is_off_by_default_and_raises_hazards_when_positive(tmp_path):
    path = variant(tmp_path, lambda d: _frozen_alliance(d, None))
    off = trace(path, lanes=2000, seed=4, parameters=FLAT)
    zero = trace(path, lanes=2000, seed=4, parameters={**FLAT, "stage_duration_weight": 0.0})
    np.testing.assert_array_equal(off.status, zero.status)
    on = trace(path, lanes=2000, seed=4, parameters={**FLAT, "stage_duration_weight": 1.0})
    np.testing.assert_array_equal(on.status[0], off.status[0])  # no time in a stage at month 0
    gone = (on.model.first_passage[:, :, 2] >= 0).mean()
    assert gone > (off.model.first_passage[:, :, 2] >= 0).mean() + 0.05


# --- blame ---


def _unanswered(tmp_path: Path, capacity: float) -> Path:
    def edit(data):
        data["patron"]["capacity"]["value"] = capacity
        add_events(
            {"date": "2030-03", "kind": "crisis", "requester": "Alpha", "opponent": "X"}
            | {"response": "unanswered"}
        )(data)

    return variant(tmp_path, edit, name=f"cap{capacity}.yaml")


def test_blame_zero_keeps_todays_rule_exactly(tmp_path):
    low, high = _unanswered(tmp_path, 0.1), _unanswered(tmp_path, 0.9)
    # At 0 the loss is trust_loss_unanswered x trust whatever the patron could have done ...
    np.testing.assert_array_equal(trace(low).trust, trace(high).trust)
    expected = 0.6 - P["trust_loss_unanswered"] * 0.6
    expected += P["trust_drift"] * (0.6 - expected)
    assert trace(low).trust[MONTH, ALPHA, 0] == expected
    # ... and a per-lane weight of 0 (the array path) gives the same numbers bit for bit.
    lanes = AllianceModel(high, lanes=3, rng=1, parameters={"blame_capacity_weight": np.zeros(3)})
    scalar = AllianceModel(high, lanes=3, rng=1)
    for model in (lanes, scalar):
        while model.running:
            model.step()
    np.testing.assert_array_equal(lanes.trust_matrix(), scalar.trust_matrix())
    np.testing.assert_array_equal(lanes.first_passage, scalar.first_passage)


def test_blame_costs_more_trust_when_the_patron_could_have_answered(tmp_path):
    blame = {"blame_capacity_weight": 1.0}
    drops = {}
    for capacity in (0.1, 0.9):
        path = _unanswered(tmp_path, capacity)
        before = trace(path, parameters=blame).trust[MONTH - 1, :, 0]
        quiet = trace(path).trust[MONTH, :, 0]
        drops[capacity] = (before - trace(path, parameters=blame).trust[MONTH, :, 0], quiet)
    low, high = drops[0.1][0], drops[0.9][0]
    assert high[ALPHA] > low[ALPHA] > 0
    assert high[BETA] > low[BETA] > 0  # watchers judge the same way
    # loss share = trust_loss_unanswered x 2C at weight 1 (before the month's drift)
    for capacity, drop in ((0.1, low), (0.9, high)):
        share = P["trust_loss_unanswered"] * 2 * capacity
        after = 0.6 - share * 0.6
        after += P["trust_drift"] * (0.6 - after)
        assert drop[ALPHA] == pytest.approx(0.6 - after)


# --- projected regime changes ---


def test_projected_regime_changes_strike_lanes_at_their_rate_after_history(tmp_path):
    def edit(data):
        alpha = data["members"][ALPHA]
        alpha["domestic_pressure"]["value"] = 0.5  # far from the bounds: no shift is clipped
        alpha["regime_changes"] = {"rate": 0.05, "shift": 0.05, "source": "test"}

    lanes = 4000
    path = variant(tmp_path, edit)
    sc = load_scenario(path)
    result = trace(path, lanes=lanes, seed=9, parameters=STILL)
    plain = trace(variant(tmp_path, lambda d: None), lanes=lanes, seed=9, parameters=STILL)
    pressure = result.domestic[:, ALPHA]  # (months, lanes); nothing else moves it here
    steps = np.diff(pressure, axis=0, prepend=0.5)
    struck = np.abs(steps) > 1e-9
    assert not struck[: sc.history_end + 1].any(), "no regime change in the replayed history"
    projected = sc.months - sc.history_end - 1
    rate = struck[sc.history_end + 1 :].mean()
    assert rate == pytest.approx(0.05, abs=4 * np.sqrt(0.05 * 0.95 / (lanes * projected)))
    np.testing.assert_allclose(np.abs(steps[struck]), 0.05)
    ups = (steps[struck] > 0).mean()
    assert ups == pytest.approx(0.5, abs=4 * np.sqrt(0.25 / struck.sum()))
    # Pressure and its baseline move together: the shift does not decay away.
    baseline = result.model.members[ALPHA].baseline_domestic
    np.testing.assert_allclose(baseline, pressure[-1])
    # The other members' draws are untouched (the regime draws have a stream of their own).
    np.testing.assert_array_equal(result.domestic[:, BETA], plain.domestic[:, BETA])
    np.testing.assert_array_equal(result.status[:, BETA], plain.status[:, BETA])


# --- neutral settings change nothing ---


def test_new_features_at_neutral_settings_leave_every_number_unchanged(tmp_path):
    busy = DATA / "busy.yaml"

    def edit(data):
        data["treaty"] = {"notice_months": 0, "source": "test"}
        for member in data["members"]:
            member["regime_changes"] = {"rate": 0.0, "shift": 0.3, "source": "test"}
        add_events(change("outside_option", member=data["members"][0]["name"], by=0.0))(data)

    base = trace(busy, lanes=500, seed=3)
    neutral = trace(variant(tmp_path, edit, base=busy), lanes=500, seed=3)
    for name in ("trust", "domestic", "status", "capacity"):
        np.testing.assert_array_equal(getattr(base, name), getattr(neutral, name))


# --- bad input ---


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (change("outside_option", by=0.1, to=0.5), "events[0].to: both `by` and `to` given"),
        (change("threat_change"), "events[0]: expected `by` (a shift, -1 to 1) or `to`"),
        (change("capacity_change", to=1.5), "events[0].to: Input should be less than or equal"),
        (change("dependence_change", by=0.1, until="2030-01"), "events[0].until: until is"),
        (change("outside_option", by=0.1, until="2033-05"), "after the calendar's end"),
        (
            change("regime_change", by=0.1, baseline_trust={"by": 0.1, "to": 0.2}),
            "events[0].baseline_trust.to: both",
        ),
        (change("threat_change", by=0.1, baseline_trust={"by": 0.1}), "unknown field"),
        (change("outside_option", member="Delta", by=0.1), "unknown member 'Delta'"),
        (
            {"date": "2030-03", "kind": "drain", "id": "d", "once": 0.1, "drains": "credit"},
            "events[0].drains: Input should be 'capacity', 'leverage' or 'both'",
        ),
    ],
)
def test_bad_member_events_name_file_line_and_field(tmp_path, event, expected):
    path = with_events(tmp_path, {**event, "source": "test"})
    with pytest.raises(InputError) as error:
        load_scenario(path)
    line = str(error.value).splitlines()[0]
    assert line.startswith(f"{path}: line ") and expected in line, line


@pytest.mark.parametrize(
    ("treaty", "expected"),
    [
        ({"renewals": [{"date": "2040-01", "source": "test"}]}, "treaty.renewals[0].date: date"),
        ({"window_months": 0}, "treaty.window_months: Input should be greater than or equal to 1"),
        ({"notice_months": -1}, "treaty.notice_months"),
        ({"notice_months": 3}, "treaty.source: required field is missing"),
    ],
)
def test_bad_treaty_names_file_line_and_field(tmp_path, treaty, expected):
    def edit(data):
        data["treaty"] = {"source": "test", **treaty}
        if expected.startswith("treaty.source"):
            del data["treaty"]["source"]

    path = variant(tmp_path, edit)
    with pytest.raises(InputError) as error:
        load_scenario(path)
    line = str(error.value).splitlines()[0]
    assert line.startswith(f"{path}: line ") and expected in line, line
