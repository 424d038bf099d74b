"""The lane model's rules written plainly: one replication per model, Python floats, model.random.

This is the specification the lane engine (sim/model/agents.py, sim/model/model.py) must agree
with, and the honest baseline of the benchmark: the idiomatic Mesa way to write the model, run
through `mesa.batch_run`. tests/test_reference.py checks that both give the same distribution of
first-passage months; benchmarks/bench.py times both.

One deliberate difference in how randomness is drawn, not in the rules: the lane engine draws a
fixed set of uniforms per member and month (common random numbers), so two replayed model-decided
requests by the same member in the same month share one answer draw there; here each request draws
its own. No shipped scenario has two such requests in one month. The lane engine also reads a
random crisis's kind and its answer from its crisis uniform (sim.model.streams.split_uniform); here
each is a draw of its own, which gives the same distribution."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import mesa

from sim.model.scenario import MonthEvents, Scenario, load_scenario, with_parameters

ACTIVE, DISENGAGED, FROZEN, WITHDRAWN = range(4)
NOT_REACHED = -1
FORWARD_INTERCEPTS = ("disengage_intercept", "freeze_intercept", "withdraw_intercept")


def logistic(x: float) -> float:
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + math.exp(-x))


@cache
def cached_scenario(path: str) -> Scenario:
    """Load a scenario file once per process (batch_run builds thousands of models from it)."""
    return load_scenario(path)


class Patron(mesa.Agent):
    """Free capacity, drained by commitments elsewhere; answers aid requests or not."""

    def __init__(self, model: ReferenceModel, capacity: float, baseline: float):
        super().__init__(model)
        self.capacity = capacity
        self.baseline = baseline

    def drain_and_recover(self, drain: float) -> None:
        """Recover toward the baseline, then lose this month's drain."""
        p = self.model.p
        recovered = self.capacity + p["patron_recovery"] * (self.baseline - self.capacity)
        self.capacity = min(max(recovered - p["drain_scale"] * drain, 0.0), 1.0)

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
        self.name = scenario.members[i]
        self.trust = float(scenario.member_values["trust"][i])
        self.baseline_trust = float(scenario.baseline_trust[i])
        threat = float(scenario.member_values["threat"][i])
        self.unmet_threat = threat * (1.0 - float(scenario.member_values["capacity"][i]))
        self.dependence = float(scenario.member_values["dependence"][i])
        self.outside_options = float(scenario.member_values["outside_options"][i])
        self.domestic_pressure = float(scenario.member_values["domestic_pressure"][i])
        self.baseline_domestic = self.domestic_pressure
        self.crisis_rate = float(scenario.crisis_rate[i])
        self.crisis_against_member = float(scenario.crisis_against_member[i])
        self.crisis_backed = float(scenario.crisis_backed[i])
        self.status = int(scenario.status[i])
        self.balance = 0.0
        self.first_passage = [NOT_REACHED] * 3

    def hear_answer(self, answered: bool, own: bool) -> None:
        """Trust moves with the answer, fully for the requester, by the spill-over for watchers;
        an unanswered own request also raises domestic pressure to leave."""
        p = self.model.p
        share = 1.0 if own else p["trust_spillover"]
        if answered:
            self.trust += share * p["trust_gain_answered"] * (1.0 - self.trust)
        else:
            self.trust -= share * p["trust_loss_unanswered"] * self.trust
            if own:
                gain = p["domestic_gain_unanswered"]
                self.domestic_pressure += gain * (1.0 - self.domestic_pressure)

    def hear_signal(self, loss: float, severity: float, own: bool) -> None:
        """A rebuke or quarrel: the signaller's trust falls, watchers' by the spill-over share."""
        share = 1.0 if own else self.model.p["trust_spillover"]
        self.trust *= 1.0 - min(share * loss * severity, 1.0)

    def drift(self) -> None:
        """Trust and domestic pressure return slowly toward their baselines."""
        p = self.model.p
        self.trust += p["trust_drift"] * (self.baseline_trust - self.trust)
        self.domestic_pressure += p["domestic_decay"] * (
            self.baseline_domestic - self.domestic_pressure
        )

    def weigh(self, patron_capacity: float, others_out: float) -> None:
        """Balance: reasons to leave minus reasons to stay (positive: leaning out); protection
        counts only the threat the member cannot meet with its own capacity."""
        p = self.model.p
        stay = (
            p["trust_weight"] * self.trust
            + p["protection_weight"] * self.trust * patron_capacity * self.unmet_threat
            + p["dependence_weight"] * self.dependence
            + p["retaliation_weight"] * patron_capacity * self.dependence
        )
        leave = (
            p["outside_weight"] * self.outside_options
            + p["domestic_weight"] * self.domestic_pressure
            + p["contagion_weight"] * others_out
        )
        self.balance = leave - stay

    def move(self) -> None:
        """One draw decides: a step toward exit, a step back, or none. Withdrawal is absorbing."""
        p = self.model.p
        slope = p["hazard_slope"]
        forward = back = 0.0
        if self.status != WITHDRAWN:
            intercept = p[FORWARD_INTERCEPTS[self.status]]
            forward = logistic(intercept + slope * self.balance)
        if self.status in (DISENGAGED, FROZEN):
            back = logistic(p["reengage_intercept"] - slope * self.balance)
        u = self.random.random()
        self.status += (u < forward) - (u > 1.0 - back)

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
        self.patron = Patron(self, sc.patron_capacity, sc.patron_baseline)
        self.members = [Member(self, sc, i) for i in range(len(sc.members))]
        self.month = 0
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
        """One month: drain, requests (history, then random crises), signals, drift, exits."""
        sc, t = self.alliance_scenario, self.month
        events = sc.events.get(t) or MonthEvents()
        self.patron.drain_and_recover(float(sc.drain[t]))
        for req in events.requests:
            against = req.opponent_member >= 0
            self.request(self.members[req.requester], against, req.backed_opponent, req.response)
        if t > sc.history_end:
            scale = self.p["crisis_rate_scale"]
            for member in self.members:
                if member.status != WITHDRAWN and self.random.random() < member.crisis_rate * scale:
                    against = self.random.random() < member.crisis_against_member
                    backed = self.random.random() < member.crisis_backed
                    self.request(member, against, backed, response=-1)
        for signal in events.signals:
            kind = "rebuke_trust_loss" if signal.kind == "rebuke" else "quarrel_trust_loss"
            for i, member in enumerate(self.members):
                member.hear_signal(self.p[kind], signal.severity, own=i == signal.member)
        self.agents_by_type[Member].do("drift")
        self.exits(events.statuses)
        self.month += 1
        self.running = self.month < sc.months
        self.datacollector.collect(self)

    def request(self, requester: Member, against_member: bool, backed: bool, response: int) -> None:
        """A member asks for aid; history fixes the answer (0 or 1) or the patron decides (-1)."""
        if requester.status == WITHDRAWN:
            return
        answered = self.patron.answers(against_member, backed) if response < 0 else bool(response)
        if answered:
            self.patron.intervene()
        for member in self.members:
            member.hear_answer(answered, own=member is requester)

    def exits(self, forced: list[tuple[int, int, str]]) -> None:
        """Each member weighs leaving against the exits so far, then steps; history may override."""
        out = [(m.status == WITHDRAWN) + 0.5 * (m.status == FROZEN) for m in self.members]
        for i, member in enumerate(self.members):
            member.weigh(self.patron.capacity, sum(out) - out[i])
            member.move()
        for i, stage, _ in forced:
            self.members[i].status = stage
        for member in self.members:
            member.record(self.month)

    def outcome(self) -> tuple[int, ...]:
        """First-passage months, member by member, stage by stage (what batch_run returns)."""
        return tuple(month for member in self.members for month in member.first_passage)

    @property
    def first_passage(self) -> list[list[int]]:
        """Month each member first reached disengaged, frozen, withdrawn (-1: not reached)."""
        return [list(m.first_passage) for m in self.members]
