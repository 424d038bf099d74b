"""AllianceModel: one step is one calendar month, for R replications (lanes) in lock-step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa.agentset import AgentSet

from sim.model import rules
from sim.model.agents import Member, Patron, unanswered_loss, witness_shares
from sim.model.parameters import lane_parameters
from sim.model.scenario import MonthEvents, Scenario, load_scenario, with_parameters
from sim.model.stages import STAGES, WITHDRAWN
from sim.model.streams import ANSWER, CRISIS, REGIME, TRANSITION, LaneUniforms, split_uniform

NOT_REACHED = -1


def shared_where_uniform(p: dict[str, np.ndarray]) -> dict[str, float | np.ndarray]:
    """Parameters as the rules use them: a float where every lane has the same value (cheaper
    to broadcast than an array, and the same arithmetic), the per-lane array otherwise."""
    return {k: float(v[0]) if v.size and (v == v[0]).all() else v for k, v in p.items()}


class AllianceModel(mesa.Model):
    """An alliance with a patron and members, stepped month by month over lanes.

    `parameters` values may be scalars or arrays with one value per lane. Randomness comes from
    `model.rng` unless `uniforms` (a batch's per-replication streams) is given. The compiled
    scenario is `alliance_scenario`; Mesa's own `scenario` attribute is left as Mesa sets it.
    The clock is Mesa's: `steps` counts the months simulated (month t is step t + 1, and Mesa
    counts a step before running it). Phases that apply to every member run through Mesa's
    AgentSet (`agents_by_type[Member].do`), in the members' file order: order matters where
    members share the patron's capacity (requests), and `shuffle_do` is not used because one
    shuffle would be shared by every lane of the step and would break common random numbers.
    """

    # Lane-indexed state whose lanes are not its last axis (`sim.batch.lanes.take_lanes`).
    LANE_AXIS = {"first_passage": 0}

    def __init__(
        self,
        scenario: Scenario | str | Path,
        lanes: int = 1,
        parameters: dict[str, Any] | None = None,
        rng: Any = None,
        uniforms: LaneUniforms | None = None,
        log_events: bool | None = None,
    ):
        super().__init__(rng=rng)
        self.alliance_scenario = (
            scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        )
        sc = self.alliance_scenario
        self.lanes = lanes
        self.p = lane_parameters(with_parameters(sc, parameters or {}), lanes)
        self.rule_p = shared_where_uniform(self.p)
        self.uniforms = uniforms or LaneUniforms.from_generator(self.rng, lanes, len(sc.members))
        if self.uniforms.lanes != lanes:
            raise ValueError("uniforms must cover exactly the model's lanes")
        self.patron = Patron(
            self,
            sc.spec.patron.name,
            sc.patron_capacity,
            sc.patron_baseline,
            sc.patron_leverage,
            sc.patron_baseline_leverage,
        )
        count = len(sc.members)
        regimes = bool((sc.regime_rate > 0).any())
        # The members' per-lane state, (members, lanes): each member's attributes are its rows,
        # and the monthly kernel (`sim.model.rules`) steps them all in one pass.
        self.trust = np.empty((count, lanes))
        self.domestic_pressure = np.empty((count, lanes))
        self.baseline_domestic = np.empty((count, lanes if regimes else 1))
        self.status = np.empty((count, lanes), dtype=np.int8)
        self.stage_since = np.zeros((count, lanes), dtype=np.int16)
        self.balance = np.zeros((count, lanes))
        self._work = np.empty((count, lanes))  # the kernel's scratch: exp of the log-odds
        # Each member's unobserved reasons to leave, drawn once per run (one column when off).
        spread = self.p["unobserved_sd"]
        self.unobserved = (
            spread * self.uniforms.member_normals()
            if np.any(spread != 0.0)
            else np.zeros((count, 1))
        )
        values = [
            {k: float(v[i]) for k, v in sc.member_values.items()}
            | {"baseline_trust": float(sc.baseline_trust[i]), "status": int(sc.status[i])}
            for i in range(count)
        ]
        self.members: list[Member] = list(
            Member.create_agents(
                self,
                count,
                name=list(sc.members),
                index=list(range(count)),
                values=values,
                regimes=list(sc.regime_rate > 0),
            )
        )
        self._regimes = regimes
        if self._regimes:
            self.uniforms.enable_regime()
        # Time in a stage is tracked only where it enters the hazard (a weight not 0).
        self._duration = bool(np.any(self.p["stage_duration_weight"] != 0.0))
        self._renewal = bool(sc.renewal_window.any()) and bool(
            np.any(self.p["renewal_hazard_factor"] != 1.0)
        )
        self.first_passage = np.full((lanes, len(sc.members), 3), NOT_REACHED, dtype=np.int16)
        every_lane = np.arange(lanes)
        for member in self.members:
            self._record_first_passage(member, every_lane, 0)
        self._crisis_rate: np.ndarray | None = None
        self.log_events = lanes == 1 if log_events is None else log_events
        self.event_log: list[dict[str, Any]] = []

    @property
    def date(self) -> str:
        """Calendar month of the next step (or of the last one once the run has ended)."""
        return self.alliance_scenario.month_label(
            min(self.steps, self.alliance_scenario.months - 1)
        )

    @property
    def every_member(self) -> AgentSet:
        """The members as Mesa's AgentSet, in file order."""
        return self.agents_by_type[Member]

    def step(self) -> None:
        """Advance every lane by one month: drain, member changes, requests, signals, drift,
        exits."""
        sc, p = self.alliance_scenario, self.rule_p
        t = self.steps - 1  # the month this step simulates
        if t >= sc.months:
            self.running = False
            return
        history = sc.events.get(t)
        u = self.uniforms.next_month(self._draws_used(t, history))
        self.patron.drain_and_recover(sc.drain[t], sc.leverage_drain[t], p)
        if history:
            for change in history.changes:
                member = self.members[change.member]
                member.apply_change(change.variable, change.by, change.to, change.fraction)
                if self.log_events and change.logged:
                    self._log("change", member.name, change.label)
        if t > sc.history_end and self._regimes:
            self.every_member.do(self._random_regime_change, u[REGIME])
        if history:
            for req in history.requests:
                asking = np.flatnonzero(self.members[req.requester].status != WITHDRAWN)
                against, backed = req.opponent_member >= 0, req.backed_opponent
                decide = u[ANSWER, req.requester][asking] if req.response < 0 else None
                self._request(
                    req.requester, asking, against, backed, req.response, decide, req.label
                )
        if t > sc.history_end:
            self.every_member.do(self._random_crisis, u[CRISIS])
        if history:
            for signal in history.signals:
                self._signal(signal.member, signal.kind, signal.severity, signal.label)
        self._drift_and_exits(u[TRANSITION], history.statuses if history else [], t)
        self.running = self.steps < sc.months

    def _draws_used(self, t: int, history: MonthEvents | None) -> tuple[int, ...]:
        """Which uniforms month t reads; the streams skip the others, leaving later ones unchanged.

        `crisis` after the replayed history, `answer` only in a month with a replayed request the
        model decides (a random crisis's answer comes from its crisis uniform), `transition` always.
        """
        rows = [TRANSITION]
        if t > self.alliance_scenario.history_end:
            rows.append(CRISIS)
            if self._regimes:
                rows.append(REGIME)
        if history and any(req.response < 0 for req in history.requests):
            rows.append(ANSWER)
        return tuple(sorted(rows))

    def _request(
        self,
        i: int,
        lanes: np.ndarray,
        against_member: Any,
        backed: Any,
        response: int,
        decide: np.ndarray | None,
        label: str,
    ) -> None:
        """Member i asks for aid in `lanes`; history forces the answer or the patron decides.

        `against_member` and `backed` are flags, or arrays over `lanes`; no other lane changes.
        The patron answers where `decide` (uniforms over `lanes`) is below its answer probability.
        """
        requester, p = self.members[i], self.rule_p
        asked = np.ones(lanes.size, dtype=bool)
        if response < 0:
            prob = self.patron.answer_probability(against_member, backed, p, lanes)
            answered = decide < prob
        else:
            answered = np.full(lanes.size, bool(response))
        loss = unanswered_loss(p, self.patron.capacity[lanes], lanes)
        self.patron.intervene(answered, p, lanes)
        requester.own_request(asked, answered, loss, p, lanes)
        shares = witness_shares(asked, answered, loss, p, lanes)
        for other in self.members:
            if other is not requester:
                other.witness(shares, lanes)
        if self.log_events and lanes.size:
            self._log(
                "request",
                requester.name,
                label,
                answered=bool(answered.any()),
                decided_by="history" if response >= 0 else "model",
            )

    def _random_crisis(self, member: Member, u: np.ndarray) -> None:
        """After the replayed history, a member meets a crisis at its monthly rate.

        The crisis's kind and the patron's answer come from the same `crisis` uniform: given a
        crisis, u / rate is a fresh uniform, split for "against a member", then for "backed
        opponent", and what is left decides the answer."""
        sc, i = self.alliance_scenario, member.index
        if self._crisis_rate is None:
            scale = self.rule_p["crisis_rate_scale"]
            self._crisis_rate = np.minimum(np.multiply.outer(sc.crisis_rate, scale), 1.0)
        rate = self._crisis_rate[i]
        lanes = np.flatnonzero(u[i] < rate)
        lanes = lanes[member.status[lanes] != WITHDRAWN]
        if not lanes.size:
            return
        given_crisis = u[i][lanes] / (rate[lanes] if np.ndim(rate) else rate)
        against, rest = split_uniform(given_crisis, sc.crisis_against_member[i])
        backed, decide = split_uniform(rest, sc.crisis_backed[i])
        self._request(i, lanes, against, backed, -1, decide, "random crisis")

    def _random_regime_change(self, member: Member, u: np.ndarray) -> None:
        """After the replayed history, a member's leader or regime changes at its monthly rate:
        domestic pressure and its baseline shift by its size, up or down with even chances (the
        `regime` uniform decides both: given a change, u / rate is a fresh uniform)."""
        sc, i = self.alliance_scenario, member.index
        rate, size = sc.regime_rate[i], sc.regime_shift[i]
        lanes = np.flatnonzero(u[i] < rate) if rate > 0.0 else None
        if lanes is None or not lanes.size:
            return
        up = u[i][lanes] / rate < 0.5
        member.regime_shock(lanes, np.where(up, size, -size))
        if self.log_events:
            shift = size if up[0] else -size
            self._log("change", member.name, f"random regime change, domestic pressure {shift:+g}")

    def _signal(self, i: int, kind: str, severity: float, label: str) -> None:
        """A rebuke or quarrel lowers the signaller's trust and, by the spill-over, others'."""
        loss = self.rule_p["rebuke_trust_loss" if kind == "rebuke" else "quarrel_trust_loss"]
        self.every_member.do("signal", loss, severity, i, self.rule_p)
        if self.log_events:
            self._log(kind, self.members[i].name, label)

    def _drift_and_exits(self, u: np.ndarray, forced: list[tuple[int, int, str]], t: int) -> None:
        """Drift, then staged exit hazards from the balance of leaving over staying, with
        contagion (7.8-7.9), in one compiled pass over every member and lane; then any status
        history sets (the lanes it moves note month t as a first passage)."""
        sc, patron = self.alliance_scenario, self.patron
        members = self.members
        before = self.status.copy() if self.log_events else None
        rules.drift_and_move(
            *rules.pack(self.rule_p, self.lanes),
            self.trust,
            self.domestic_pressure,
            np.array([m.baseline_trust for m in members]),
            self.baseline_domestic,
            np.array([m.unmet_threat for m in members]),
            np.array([m.dependence for m in members]),
            np.array([m.outside_options for m in members]),
            patron.capacity,
            patron.leverage,
            self.unobserved,
            u,
            self.status,
            self.stage_since,
            self.balance,
            self.first_passage,
            t,
            self._duration,
            self._renewal and bool(sc.renewal_window[t]),
            self._work,
        )
        every_lane = np.arange(self.lanes)
        for i, stage, _ in forced:
            member = members[i]
            if self._duration:
                member.stage_since[member.status != stage] = t
            member.status[:] = stage
            self._record_first_passage(member, every_lane, t)
        if before is not None:
            for member in members:
                was, now = before[member.index, 0], member.status[0]
                if was != now:
                    self._log("status", member.name, self._status_detail(was, now, t))

    def _status_detail(self, before: int, after: int, t: int) -> str:
        """`frozen -> withdrawn`, with the month a withdrawal takes effect after a notice."""
        detail = f"{STAGES[int(before)]} -> {STAGES[int(after)]}"
        notice = self.alliance_scenario.notice_months
        if notice and after == WITHDRAWN:
            effective = self.alliance_scenario.month_label(t + notice)
            detail += f" (notice; takes effect {effective})"
        return detail

    @property
    def withdrawal_effective(self) -> np.ndarray:
        """Month each member's withdrawal takes effect, (lanes, members): the notice month
        (first passage to withdrawn) plus the treaty's `notice_months`; -1 if no notice yet."""
        notice = self.first_passage[:, :, WITHDRAWN - 1]
        return np.where(notice >= 0, notice + self.alliance_scenario.notice_months, NOT_REACHED)

    def _record_first_passage(self, member: Member, lanes: np.ndarray, t: int) -> None:
        """Note month t for each stage first reached in `lanes` (the lanes that moved on)."""
        status = member.status[lanes]
        for stage in range(1, 4):
            slot = self.first_passage[:, member.index, stage - 1]
            newly = lanes[(status >= stage) & (slot[lanes] == NOT_REACHED)]
            slot[newly] = t

    def _log(self, event: str, actor: str, detail: str, **extra: Any) -> None:
        """Note an event of lane 0 in the month being stepped."""
        entry = {
            "date": self.alliance_scenario.month_label(self.steps - 1),
            "event": event,
            "actor": actor,
            "detail": detail,
            "answered": extra.get("answered"),
            "decided_by": extra.get("decided_by"),
        }
        self.event_log.append(entry)

    def status_matrix(self) -> np.ndarray:
        """Status of every member, shape (members, lanes) (a copy)."""
        return self.status.copy()

    def trust_matrix(self) -> np.ndarray:
        """Trust of every member, shape (members, lanes) (a copy)."""
        return self.trust.copy()
