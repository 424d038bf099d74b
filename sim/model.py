"""AllianceModel: one step is one calendar month, for R replications (lanes) in lock-step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np

from sim.agents import FROZEN, WITHDRAWN, Member, Patron
from sim.parameters import lane_parameters
from sim.scenario import Scenario, load_scenario, with_parameters
from sim.schema import STAGES
from sim.streams import AGAINST_MEMBER, ANSWER, BACKED, CRISIS, TRANSITION, LaneUniforms

NOT_REACHED = -1


class AllianceModel(mesa.Model):
    """An alliance with a patron and members, stepped month by month over lanes.

    `parameters` values may be scalars or arrays with one value per lane. Randomness comes from
    `model.rng` unless `uniforms` (a batch's per-replication streams) is given.
    """

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
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        sc = self.scenario
        self.lanes = lanes
        self.p = lane_parameters(with_parameters(sc, parameters or {}), lanes)
        self.uniforms = uniforms or LaneUniforms.from_generator(self.rng, lanes, len(sc.members))
        if self.uniforms.lanes != lanes:
            raise ValueError("uniforms must cover exactly the model's lanes")
        self.patron = Patron(self, sc.spec.patron.name, sc.patron_capacity, sc.patron_baseline)
        self.members: list[Member] = []
        for i, name in enumerate(sc.members):
            values = {k: float(v[i]) for k, v in sc.member_values.items()}
            values["baseline_trust"] = float(sc.baseline_trust[i])
            values["status"] = int(sc.status[i])
            self.members.append(Member(self, name, i, values))
        self.month = 0
        self.first_passage = np.full((lanes, len(sc.members), 3), NOT_REACHED, dtype=np.int16)
        self._record_first_passage()
        self.log_events = lanes == 1 if log_events is None else log_events
        self.event_log: list[dict[str, Any]] = []

    @property
    def date(self) -> str:
        """Calendar month of the next step (or of the last one once the run has ended)."""
        return self.scenario.month_label(min(self.month, self.scenario.months - 1))

    def step(self) -> None:
        """Advance every lane by one month: drain, requests, signals, drift, exits."""
        sc, p, t = self.scenario, self.p, self.month
        if t >= sc.months:
            self.running = False
            return
        u = self.uniforms.next_month()
        history = sc.events.get(t)
        self.patron.drain_and_recover(sc.drain[t], p)
        if history:
            for req in history.requests:
                self._request(
                    req.requester,
                    req.opponent_member >= 0,
                    req.backed_opponent,
                    req.response,
                    u,
                    req.label,
                )
        if t > sc.history_end:
            self._random_crises(u)
        if history:
            for signal in history.signals:
                self._signal(signal.member, signal.kind, signal.severity, signal.label)
        for member in self.members:
            member.drift(p)
        self._exits(u[TRANSITION], history.statuses if history else [])
        self.month += 1
        self.running = self.month < sc.months

    def _request(
        self,
        i: int,
        against_member: Any,
        backed: Any,
        response: int,
        u: np.ndarray,
        label: str,
        asked: np.ndarray | None = None,
    ) -> None:
        """Member i asks for aid; history forces the answer or the patron decides."""
        requester = self.members[i]
        if asked is None:
            asked = requester.status != WITHDRAWN
        if response < 0:
            prob = self.patron.answer_probability(against_member, backed, self.p)
            answered = asked & (u[ANSWER, i] < prob)
        else:
            answered = asked & bool(response)
        self.patron.intervene(answered, self.p)
        requester.own_request(asked, answered, self.p)
        for other in self.members:
            if other is not requester:
                other.witness_request(asked, answered, self.p)
        if self.log_events and asked.any():
            self._log(
                "request",
                requester.name,
                label,
                answered=bool(answered.any()),
                decided_by="history" if response >= 0 else "model",
            )

    def _random_crises(self, u: np.ndarray) -> None:
        """After the replayed history, each member meets a crisis at its monthly rate."""
        sc = self.scenario
        rate = sc.crisis_rate[:, None] * self.p["crisis_rate_scale"][None, :]
        for i, member in enumerate(self.members):
            asked = (u[CRISIS, i] < rate[i]) & (member.status != WITHDRAWN)
            if not asked.any():
                continue
            against = u[AGAINST_MEMBER, i] < sc.crisis_against_member[i]
            backed = u[BACKED, i] < sc.crisis_backed[i]
            self._request(i, against, backed, -1, u, "random crisis", asked)

    def _signal(self, i: int, kind: str, severity: float, label: str) -> None:
        """A rebuke or quarrel lowers the signaller's trust and, by the spill-over, others'."""
        loss = self.p["rebuke_trust_loss" if kind == "rebuke" else "quarrel_trust_loss"]
        for member in self.members:
            member.signal(loss, severity, member.index == i, self.p)
        if self.log_events:
            self._log(kind, self.members[i].name, label)

    def _exits(self, u: np.ndarray, forced: list[tuple[int, int, str]]) -> None:
        """Staged exit hazards from the balance of leaving over staying, with contagion."""
        statuses = np.stack([m.status for m in self.members])
        out = (statuses == WITHDRAWN) + 0.5 * (statuses == FROZEN)
        total_out = out.sum(axis=0)
        for member in self.members:
            others_out = total_out - out[member.index]
            member.update_balance(self.patron.capacity, others_out, self.p)
            before = member.transition(u[member.index], self.p)
            for i, stage, _ in forced:
                if i == member.index:
                    member.status = np.full_like(member.status, stage)
            if self.log_events and (member.status != before).any():
                self._log(
                    "status",
                    member.name,
                    f"{STAGES[int(before[0])]} -> {STAGES[int(member.status[0])]}",
                )
        self._record_first_passage()

    def _record_first_passage(self) -> None:
        for member in self.members:
            for stage in range(1, 4):
                slot = self.first_passage[:, member.index, stage - 1]
                newly = (member.status >= stage) & (slot == NOT_REACHED)
                slot[newly] = self.month

    def _log(self, event: str, actor: str, detail: str, **extra: Any) -> None:
        entry = {
            "date": self.scenario.month_label(self.month),
            "event": event,
            "actor": actor,
            "detail": detail,
            "answered": extra.get("answered"),
            "decided_by": extra.get("decided_by"),
        }
        self.event_log.append(entry)

    def status_matrix(self) -> np.ndarray:
        """Status of every member, shape (members, lanes)."""
        return np.stack([m.status for m in self.members])

    def trust_matrix(self) -> np.ndarray:
        """Trust of every member, shape (members, lanes)."""
        return np.stack([m.trust for m in self.members])
