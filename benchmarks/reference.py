"""The lane model's rules written plainly: one replication per model, Python floats, model.random.

This is the specification the lane engine (sim/model/agents.py, sim/model/model.py) must agree
with, and the honest baseline of the benchmark: the idiomatic Mesa way to write the model, run
through `mesa.batch_run`. tests/test_reference.py checks that both give the same distribution of
first-passage months; benchmarks/bench.py times both.

One deliberate difference in how randomness is drawn, not in the rules: the lane engine draws a
fixed set of uniforms per member and month (common random numbers), and reads a member's
model-decided requests and answers to calls for help of one month, in turn, from what the one
before left of its `answer` uniform, and a random crisis's kind and its answer from its crisis
uniform (sim.model.requests.split_uniform); here each is a draw of its own, which gives the same
distribution.

The rules of issue 9 (member-level events, the patron's leverage, renewal windows, notice,
duration dependence, blame, projected regime changes) and of later ones (a regime's trust,
cascades, unobserved reasons: here one `gauss` draw per member at the start) and of issue 20
(contagion by share, the alliance's own value, lasting grievances, joining, exclusion, a patron
backing an opponent or using force, notices taken back, calls for help members answer by the
model's rule) are read here from the scenario's spec
itself, not from the lane engine's compiled month table, so that the compilation is checked
too (signals, the patron's backing and force included, come from the compiled month)."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import mesa

from sim.model.months import parse_month
from sim.model.scenario import MonthEvents, Scenario, load_scenario, with_parameters
from sim.model.schema import (
    Drain,
    DrainEnd,
    Exclusion,
    Join,
    MemberChange,
    NoticeWithdrawn,
    ScenarioSpec,
)

ACTIVE, DISENGAGED, FROZEN, WITHDRAWN = range(4)
SIGNAL_LOSS = {  # a signal's kind -> the parameter of the share of trust it costs
    "rebuke": "rebuke_trust_loss",
    "quarrel": "quarrel_trust_loss",
    "backing": "backing_trust_loss",
    "force": "force_trust_loss",
}
STAGE_CODES = {"active": ACTIVE, "disengaged": DISENGAGED, "frozen": FROZEN}
NOT_REACHED = -1
FORWARD_INTERCEPTS = ("disengage_intercept", "freeze_intercept", "withdraw_intercept")
MOVED_BY = {  # member-level event kind -> the attributes it moves
    "outside_option": ("outside_options",),
    "regime_change": ("domestic_pressure", "baseline_domestic"),
    "threat_change": ("threat",),
    "dependence_change": ("dependence",),
    "capacity_change": ("capacity",),
}


def logistic(x: float) -> float:
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + math.exp(-x))


@cache
def cached_scenario(path: str) -> Scenario:
    """Load a scenario file once per process (batch_run builds thousands of models from it)."""
    return load_scenario(path)


def month_index(spec: ScenarioSpec, date: str) -> int:
    """Months from the calendar's start to a date."""
    (y0, m0), (y, m) = parse_month(spec.calendar.start), parse_month(date)
    return (y - y0) * 12 + m - m0


def drains_by_month(spec: ScenarioSpec, months: int) -> tuple[list[float], list[float]]:
    """Each month's total drain of capacity and of leverage, from the spec's drain events."""
    capacity, leverage = [0.0] * months, [0.0] * months
    ends = {e.drain: month_index(spec, e.date) for e in spec.events if isinstance(e, DrainEnd)}
    for e in spec.events:
        if not isinstance(e, Drain):
            continue
        first = month_index(spec, e.date)
        last = months - 1 if e.until is None else month_index(spec, e.until)
        last = min(last, ends.get(e.id, months) - 1, months - 1)
        for series, hit in ((capacity, ("capacity", "both")), (leverage, ("leverage", "both"))):
            if e.drains in hit:
                series[first] += e.once
                for t in range(first, last + 1):
                    series[t] += e.monthly
    return capacity, leverage


def in_renewal_window(spec: ScenarioSpec, t: int) -> bool:
    """Whether month t lies in the window_months up to and including a renewal month."""
    if spec.treaty is None:
        return False
    window = spec.treaty.window_months
    return any(0 <= month_index(spec, r.date) - t < window for r in spec.treaty.renewals)


class Patron(mesa.Agent):
    """Free capacity, drained by commitments elsewhere; answers aid requests or not. Economic
    leverage, drained only by drains that say so, backs the threat of retaliation."""

    def __init__(
        self,
        model: ReferenceModel,
        capacity: float,
        baseline: float,
        leverage: float,
        baseline_leverage: float,
    ):
        super().__init__(model)
        self.capacity = capacity
        self.baseline = baseline
        self.leverage = leverage
        self.baseline_leverage = baseline_leverage

    def drain_and_recover(self, drain: float, leverage_drain: float) -> None:
        """Recover toward the baselines, then lose this month's drains."""
        p = self.model.p
        recovered = self.capacity + p["patron_recovery"] * (self.baseline - self.capacity)
        self.capacity = min(max(recovered - p["drain_scale"] * drain, 0.0), 1.0)
        regained = self.leverage + p["patron_recovery"] * (self.baseline_leverage - self.leverage)
        self.leverage = min(max(regained - p["drain_scale"] * leverage_drain, 0.0), 1.0)

    def answers(self, against_member: bool, backed: bool) -> bool:
        """Decide a request: likelier with free capacity, less likely at a strategic cost."""
        p = self.model.p
        log_odds = (
            p["answer_willingness"]
            + p["answer_capacity_weight"] * self.capacity
            - p["backer_cost"] * backed
            - p["intra_member_cost"] * against_member
        )
        return self.random.random() < logistic(log_odds)

    def intervene(self) -> None:
        """An answered request uses up capacity."""
        self.capacity = max(self.capacity - self.model.p["intervention_cost"], 0.0)


class Member(mesa.Agent):
    """A member state: trust in the patron, reasons to stay or leave, and its stage of exit."""

    def __init__(self, model: ReferenceModel, scenario: Scenario, i: int):
        super().__init__(model)
        spec = scenario.spec.members[i]
        self.name = spec.name
        self.trust = spec.trust.value
        self.baseline_trust = (spec.baseline_trust or spec.trust).value
        self.threat = spec.threat.value
        self.capacity = spec.capacity.value
        self.dependence = spec.dependence.value
        self.outside_options = spec.outside_options.value
        self.domestic_pressure = spec.domestic_pressure.value
        self.baseline_domestic = self.domestic_pressure
        self.alliance_value = spec.alliance_value.value if spec.alliance_value else 0.0
        joins = [e for e in scenario.spec.events if isinstance(e, Join) and e.member == self.name]
        self.in_alliance = not joins or month_index(scenario.spec, joins[0].date) == 0
        self.crisis_rate = spec.crises.rate
        self.crisis_against_member = spec.crises.against_member
        self.crisis_backed = spec.crises.backed_opponent
        self.regime_rate = spec.regime_changes.rate if spec.regime_changes else 0.0
        self.regime_shift = spec.regime_changes.shift if spec.regime_changes else 0.0
        self.status = int(scenario.status[i])
        self.stage_since = 0
        self.balance = 0.0
        self.first_passage = [NOT_REACHED] * 3
        self.unobserved = model.p["unobserved_sd"] * self.random.gauss(0.0, 1.0)

    def change(
        self, attribute: str, by: float | None, to: float | None, months: int, left: int
    ) -> None:
        """This month's part of a member-level event spread over `months`, with `left` to go
        (this one included): a shift `by` split evenly, or a level `to` approached evenly."""
        value = getattr(self, attribute)
        if by is not None:
            value += by / months
        else:
            value = to if left == 1 else value + (to - value) / left
        setattr(self, attribute, min(max(value, 0.0), 1.0))

    def regime_shock(self, shift: float) -> None:
        """A projected change of regime: domestic pressure and its baseline move by `shift`."""
        self.domestic_pressure = min(max(self.domestic_pressure + shift, 0.0), 1.0)
        self.baseline_domestic = min(max(self.baseline_domestic + shift, 0.0), 1.0)

    def hear_answer(self, answered: bool, own: bool, patron_capacity: float) -> None:
        """Trust moves with the answer, fully for the requester, by the spill-over for watchers;
        an unanswered request costs more the more capacity the patron had free (blame); an
        unanswered own request also raises domestic pressure to leave."""
        p = self.model.p
        share = 1.0 if own else self.spill_share()
        if answered:
            self.trust += share * p["trust_gain_answered"] * (1.0 - self.trust)
        else:
            blame = 1.0 + p["blame_capacity_weight"] * (2.0 * patron_capacity - 1.0)
            loss = min(p["trust_loss_unanswered"] * blame, 1.0)
            self.trust -= share * loss * self.trust
            if own:
                gain = p["domestic_gain_unanswered"]
                self.domestic_pressure += gain * (1.0 - self.domestic_pressure)
                self.baseline_trust *= 1.0 - p["lasting_grievance"] * loss

    def hear_signal(self, kind: str, severity: float, own: bool) -> None:
        """A rebuke or quarrel, or the patron backing the signaller's opponent or using force
        against it: the signaller's trust falls, watchers' by the spill-over share; the patron's
        acts also take a lasting share off the signaller's baseline trust. An answer to the
        patron's call for help (`help`, or `asked` and the member chooses to) raises the
        helper's trust and domestic pressure."""
        p = self.model.p
        if kind == "asked" and own:  # the model decides: likelier with trust and dependence
            if self.status == WITHDRAWN or not self.in_alliance:
                return
            index = self.trust + self.dependence - self.domestic_pressure
            chance = logistic(p["help_willingness"] + p["help_answer_weight"] * index)
            if not self.random.random() < chance:
                return
            kind = "help"
        if kind in ("help", "asked"):  # the member answered the patron's call for help
            if own:
                self.trust += p["help_trust_gain"] * (1.0 - self.trust)
                self.domestic_pressure += p["help_domestic_cost"] * (1.0 - self.domestic_pressure)
            return
        loss = p[SIGNAL_LOSS[kind]]
        share = 1.0 if own else self.spill_share()
        self.trust *= 1.0 - min(share * loss * severity, 1.0)
        if own and kind in ("backing", "force"):
            self.baseline_trust *= 1.0 - p["lasting_grievance"] * min(loss * severity, 1.0)

    def spill_share(self) -> float:
        """The share of another member's trust change this watcher feels: the spill-over,
        diluted over the other members by `witness_dilution`."""
        p = self.model.p
        return p["trust_spillover"] * max(len(self.model.members) - 1, 1) ** -p["witness_dilution"]

    def drift(self) -> None:
        """Trust and domestic pressure return slowly toward their baselines."""
        p = self.model.p
        self.trust += p["trust_drift"] * (self.baseline_trust - self.trust)
        self.domestic_pressure += p["domestic_decay"] * (
            self.baseline_domestic - self.domestic_pressure
        )

    def weigh(self, patron: Patron, others_out: float) -> None:
        """Balance: reasons to leave minus reasons to stay (positive: leaning out); protection
        counts only the threat the member cannot meet with its own capacity and rests on the
        patron's free capacity, retaliation on its leverage; `others_out` is the share of the
        other members gone, which adds to leaving and takes from the alliance's own value."""
        p = self.model.p
        unmet_threat = self.threat * (1.0 - self.capacity)
        stay = (
            p["trust_weight"] * self.trust
            + p["protection_weight"] * self.trust * patron.capacity * unmet_threat
            + p["dependence_weight"] * self.dependence
            + p["retaliation_weight"] * patron.leverage * self.dependence
            + p["alliance_value_weight"] * self.alliance_value * (1.0 - others_out)
        )
        leave = (
            p["outside_weight"] * self.outside_options
            + p["domestic_weight"] * self.domestic_pressure
            + p["contagion_weight"] * others_out
        )
        self.balance = leave - stay + self.unobserved

    def move(self, month: int, renewal: bool) -> None:
        """One draw decides: a step toward exit, a step back (its chance capped at 1 - forward),
        or none; after a step toward exit, the rest of the draw may carry the member further,
        each next stage at `cascade_weight` times its hazard. Time in the stage enters the
        forward log-odds; in a renewal window a frozen member's chance of withdrawing is
        multiplied. Withdrawal is absorbing."""
        p = self.model.p
        forward = self.forward_hazard(self.status, month - self.stage_since, renewal)
        back = 0.0
        if self.status in (DISENGAGED, FROZEN):
            back = logistic(p["reengage_intercept"] - p["hazard_slope"] * self.balance)
            back = min(back, 1.0 - forward)
        u = self.random.random()
        if u < forward:
            status, fresh = self.status + 1, u / forward
            while status < WITHDRAWN:
                hazard = p["cascade_weight"] * self.forward_hazard(status, 0, renewal)
                if not fresh < hazard:
                    break
                status, fresh = status + 1, fresh / hazard
            self.set_status(status, month)
        else:
            self.set_status(self.status - (u > 1.0 - back), month)

    def forward_hazard(self, status: int, months_in_stage: int, renewal: bool) -> float:
        """Monthly chance of one step toward exit from `status` after that many months in it;
        in a renewal window a frozen member's chance of withdrawing is multiplied."""
        if status == WITHDRAWN:
            return 0.0
        p = self.model.p
        duration = p["stage_duration_weight"] * math.log1p(months_in_stage / 12.0)
        hazard = logistic(
            p[FORWARD_INTERCEPTS[status]] + p["hazard_slope"] * self.balance + duration
        )
        if renewal and status == FROZEN:
            hazard = min(hazard * p["renewal_hazard_factor"], 1.0)
        return hazard

    def set_status(self, status: int, month: int) -> None:
        """Enter a stage (noting when, for duration dependence) or stay in it."""
        if status != self.status:
            self.stage_since = month
        self.status = status

    def record(self, month: int) -> None:
        """Note the first month each stage (or a later one) is reached."""
        for stage in (DISENGAGED, FROZEN, WITHDRAWN):
            if self.status >= stage and self.first_passage[stage - 1] == NOT_REACHED:
                self.first_passage[stage - 1] = month


class ReferenceModel(mesa.Model):
    """One replication of an alliance, stepped month by month."""

    def __init__(
        self,
        scenario: str | Path | Scenario,
        parameters: dict[str, float] | None = None,
        rng: Any = None,
    ):
        super().__init__(rng=rng)
        sc = scenario if isinstance(scenario, Scenario) else cached_scenario(str(scenario))
        self.alliance_scenario = sc  # Mesa owns `scenario` (its setter links it to the model)
        self.p = with_parameters(sc, parameters or {})
        spec = sc.spec
        capacity = spec.patron.capacity.value
        baseline = (spec.patron.baseline_capacity or spec.patron.capacity).value
        leverage = spec.patron.leverage.value if spec.patron.leverage else capacity
        given = spec.patron.baseline_leverage
        baseline_leverage = given.value if given else leverage
        self.patron = Patron(self, capacity, baseline, leverage, baseline_leverage)
        self.members = [Member(self, sc, i) for i in range(len(sc.members))]
        self.drains = drains_by_month(spec, sc.months)
        self.changes = sorted(  # (first month, last month, event), by first month
            (
                (month_index(spec, e.date), month_index(spec, e.until or e.date), e)
                for e in spec.events
                if isinstance(e, MemberChange)
            ),
            key=lambda change: change[0],
        )
        self.renewal = [in_renewal_window(spec, t) for t in range(sc.months)]
        self.memberships = {  # month -> (member, joins) of joins and exclusions
            month_index(spec, e.date): [] for e in spec.events if isinstance(e, Join | Exclusion)
        }
        self.notices_withdrawn: dict[int, list[tuple[int, int]]] = {}
        for e in spec.events:
            i = sc.members.index(e.member) if hasattr(e, "member") else -1
            if isinstance(e, Join | Exclusion):
                self.memberships[month_index(spec, e.date)].append((i, isinstance(e, Join)))
            if isinstance(e, NoticeWithdrawn):
                taken_back = (i, STAGE_CODES[e.status])
                self.notices_withdrawn.setdefault(month_index(spec, e.date), []).append(taken_back)
        self.notice_months = spec.treaty.notice_months if spec.treaty else 0
        for member in self.members:
            member.record(0)
        # Monthly series every step; the first passages (the outcome) once, at the last step:
        # DataCollector deep-copies every value it stores, so a per-step copy would cost a lot.
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "capacity": lambda m: m.patron.capacity,
                "active": lambda m: sum(x.status == ACTIVE for x in m.members),
                "first_passage": lambda m: None if m.running else m.outcome(),
            }
        )

    def step(self) -> None:
        """One month: drain, member changes, requests (history, then random crises), signals,
        drift, exits. Mesa's step counter is the clock: month t is step t + 1."""
        sc, t = self.alliance_scenario, self.steps - 1
        events = sc.events.get(t) or MonthEvents()
        self.patron.drain_and_recover(self.drains[0][t], self.drains[1][t])
        self.member_changes(t)
        for i, joins in self.memberships.get(t, []):
            self.members[i].in_alliance = joins
        if t > sc.history_end:
            for member in self.members:
                if member.regime_rate > 0 and self.random.random() < member.regime_rate:
                    up = self.random.random() < 0.5
                    member.regime_shock(member.regime_shift if up else -member.regime_shift)
        for req in events.requests:
            against = req.opponent_member >= 0
            self.request(self.members[req.requester], against, req.backed_opponent, req.response)
        if t > sc.history_end:
            scale = self.p["crisis_rate_scale"]
            for member in self.members:
                if (
                    member.status != WITHDRAWN
                    and member.in_alliance
                    and self.random.random() < member.crisis_rate * scale
                ):
                    against = self.random.random() < member.crisis_against_member
                    backed = self.random.random() < member.crisis_backed
                    self.request(member, against, backed, response=-1)
        for signal in events.signals:
            for i, member in enumerate(self.members):
                member.hear_signal(signal.kind, signal.severity, own=i == signal.member)
        self.agents_by_type[Member].do("drift")
        self.exits(events.statuses, t)
        self.running = self.steps < sc.months
        self.datacollector.collect(self)

    def member_changes(self, t: int) -> None:
        """The member-level events under way in month t, in order of their start dates (then
        file order), each moving its share of the change."""
        names = self.alliance_scenario.members
        for first, last, e in self.changes:
            if not first <= t <= last:
                continue
            member = self.members[names.index(e.member)]
            months, left = last - first + 1, last - t + 1
            for attribute in MOVED_BY[e.kind]:
                member.change(attribute, e.by, e.to, months, left)
            trust = getattr(e, "baseline_trust", None)
            if trust is not None:
                member.change("baseline_trust", trust.by, trust.to, months, left)
                member.change("trust", trust.by, trust.to, months, left)

    def request(self, requester: Member, against_member: bool, backed: bool, response: int) -> None:
        """A member asks for aid; history fixes the answer (0 or 1) or the patron decides (-1)."""
        if requester.status == WITHDRAWN or not requester.in_alliance:
            return
        answered = self.patron.answers(against_member, backed) if response < 0 else bool(response)
        capacity = self.patron.capacity  # before the answer uses any: what blame looks at
        if answered:
            self.patron.intervene()
        for member in self.members:
            member.hear_answer(answered, own=member is requester, patron_capacity=capacity)

    def exits(self, forced: list[tuple[int, int, str]], t: int) -> None:
        """Each member in the alliance weighs leaving against the share of the others gone so far
        (members outside it neither count nor move), then steps; history may override, and a
        notice not yet in effect may be taken back."""
        inside = [m for m in self.members if m.in_alliance]
        out = {m: (m.status == WITHDRAWN) + 0.5 * (m.status == FROZEN) for m in inside}
        renewal = self.renewal[t]
        for member in self.members:
            others = len(inside) - member.in_alliance
            gone = sum(out.values()) - out.get(member, 0.0)
            member.weigh(self.patron, gone / others if others else 0.0)
            if member.in_alliance:
                member.move(t, renewal)
        for i, stage, _ in forced:
            self.members[i].set_status(stage, t)
        for member in self.members:
            member.record(t)
        for i, stage in self.notices_withdrawn.get(t, []):  # the notice stays on record
            member = self.members[i]
            notice = member.first_passage[WITHDRAWN - 1]
            if member.status == WITHDRAWN and notice >= 0 and notice + self.notice_months > t:
                member.set_status(stage, t)

    def outcome(self) -> tuple[int, ...]:
        """First-passage months, member by member, stage by stage (what batch_run returns)."""
        return tuple(month for member in self.members for month in member.first_passage)

    @property
    def first_passage(self) -> list[list[int]]:
        """Month each member first reached disengaged, frozen, withdrawn (-1: not reached)."""
        return [list(m.first_passage) for m in self.members]

    @property
    def withdrawal_effective(self) -> list[int]:
        """Month each member's withdrawal takes effect: its notice month plus the treaty's
        notice period (-1: no notice given)."""
        notices = (m.first_passage[WITHDRAWN - 1] for m in self.members)
        return [n + self.notice_months if n >= 0 else NOT_REACHED for n in notices]
