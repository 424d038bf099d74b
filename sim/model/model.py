"""AllianceModel: one step is one calendar month, for R replications (lanes) in lock-step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np

from sim.model import month, tables
from sim.model.agents import Member, Patron
from sim.model.parameters import PARAMETER_NAMES, lane_values, parameter_table
from sim.model.scenario import MonthEvents, Scenario, load_scenario, with_parameters
from sim.model.stages import STAGES, WITHDRAWN
from sim.model.streams import ANSWER, CRISIS, DRAWS, REGIME, TRANSITION, LaneUniforms

NOT_REACHED = -1
SIGNAL_CODES = {  # a signal's kind as the month kernel reads it
    "rebuke": tables.REBUKE_SIGNAL,
    "quarrel": tables.QUARREL_SIGNAL,
    "backing": tables.BACKING_SIGNAL,
    "force": tables.FORCE_SIGNAL,
    "help": tables.HELP_SIGNAL,
    "asked": tables.ASKED_SIGNAL,
}


class AllianceModel(mesa.Model):
    """An alliance with a patron and members, stepped month by month over lanes.

    `parameters` values may be scalars or arrays with one value per lane; the model keeps them
    in their one shape, `parameters` (`sim.model.tables.Parameters`: distinct rows and each
    lane's row), which the kernels read as it is. Randomness comes from
    `model.rng` unless `uniforms` (a batch's per-replication streams) is given. The compiled
    scenario is `alliance_scenario`; Mesa's own `scenario` attribute is left as Mesa sets it.
    The clock is Mesa's: `steps` counts the months simulated (month t is step t + 1, and Mesa
    counts a step before running it). The agents hold the state; a month's rules run in one
    compiled kernel over every lane (`sim.model.month.step_month`), members in file order within
    a lane: order matters where members share the patron's capacity (requests), and a shuffle
    (Mesa's `shuffle_do`) would be shared by every lane and break common random numbers.
    """

    # Lane-indexed state whose lanes are not its last axis, and attributes that are not lane
    # state whatever their shapes (`sim.batch.lanes.take_lanes`).
    # The parameter table's rows are not lanes (each lane's row index is), and `_state` holds
    # the same arrays as the agents and the model, grouped for the kernel.
    LANE_AXIS = {"first_passage": 0}
    NOT_LANE_STATE = frozenset(
        {
            "uniforms",
            "_member_values",
            "_month_events",
            "_no_events",
            "_month_flags",
            "_state",
            "parameters.values",
        }
    )

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
        self.parameters = parameter_table(with_parameters(sc, parameters or {}), lanes)
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
        # and the month kernel (`sim.model.month`) steps them all in one call.
        self.trust = np.empty((count, lanes))
        self.baseline_trust = np.empty((count, lanes))
        self.domestic_pressure = np.empty((count, lanes))
        self.baseline_domestic = np.empty((count, lanes))
        self.status = np.empty((count, lanes), dtype=np.int8)
        self.stage_since = np.zeros((count, lanes), dtype=np.int16)
        self.balance = np.zeros((count, lanes))
        # Each member's unobserved reasons to leave, drawn once per run (0 when off).
        spread = lane_values(self.parameters, "unobserved_sd")
        self.unobserved = (
            spread * self.uniforms.member_normals()
            if np.any(spread != 0.0)
            else np.zeros((count, lanes))
        )
        values = [
            {k: float(v[i]) for k, v in sc.member_values.items()}
            | {"baseline_trust": float(sc.baseline_trust[i]), "status": int(sc.status[i])}
            | {"alliance_value": float(sc.alliance_value[i]), "in_alliance": sc.joined[i] == 0}
            for i in range(count)
        ]
        self.members: list[Member] = list(
            Member.create_agents(
                self,
                count,
                name=list(sc.members),
                index=list(range(count)),
                values=values,
            )
        )
        self._regimes = regimes
        if self._regimes:
            self.uniforms.enable_regime()
        # Time in a stage is tracked only where it enters the hazard (a weight not 0).
        self._duration = bool(np.any(self.column("stage_duration_weight") != 0.0))
        self._renewal = bool(sc.renewal_window.any()) and bool(
            np.any(self.column("renewal_hazard_factor") != 1.0)
        )
        self.first_passage = np.full((lanes, len(sc.members), 3), NOT_REACHED, dtype=np.int16)
        every_lane = np.arange(lanes)
        for member in self.members:
            self._record_first_passage(member, every_lane, 0)
        self._state = tables.State(
            self.patron.capacity, self.patron.leverage, self.trust, self.baseline_trust,
            self.domestic_pressure, self.baseline_domestic, self.status, self.stage_since,
            self.balance, self.unobserved, self.first_passage,
        )  # fmt: skip
        self._member_values = self._members_table()
        self._month_events = self._compile_events()
        self._no_events = (np.zeros((0, 4), dtype=np.int64), np.zeros((0, 3)))
        self._month_flags = self._every_month_flags()
        self._no_log = np.zeros(0, dtype=np.int64)
        self.log_events = lanes == 1 if log_events is None else log_events
        self.event_log: list[dict[str, Any]] = []

    @property
    def p(self) -> dict[str, np.ndarray]:
        """Every parameter's value in every lane, {name: (lanes,)} (new arrays, for reading)."""
        return {name: lane_values(self.parameters, name) for name in PARAMETER_NAMES}

    def column(self, name: str) -> np.ndarray:
        """One parameter's distinct values (the rows of the parameter table)."""
        return self.parameters.values[:, PARAMETER_NAMES.index(name)]

    @property
    def date(self) -> str:
        """Calendar month of the next step (or of the last one once the run has ended)."""
        return self.alliance_scenario.month_label(
            min(self.steps, self.alliance_scenario.months - 1)
        )

    def step(self) -> None:
        """Advance every lane by one month: member changes from history, then the month kernel
        (drain, regime changes, requests, signals, drift, exits), then statuses history sets."""
        sc = self.alliance_scenario
        t = self.steps - 1  # the month this step simulates
        if t >= sc.months:
            self.running = False
            return
        history = sc.events.get(t)
        if history and (history.changes or history.memberships):
            for change in history.changes:
                member = self.members[change.member]
                member.apply_change(change.variable, change.by, change.to, change.fraction)
                if self.log_events and change.logged:
                    self._log("change", member.name, change.label)
            for i, joins, label in history.memberships:
                self.members[i].in_alliance = joins
                if self.log_events:
                    self._log("join" if joins else "exclusion", self.members[i].name, label)
            self._member_values = self._members_table()
        requests, signals = self._month_events.get(t, self._no_events)
        flags = self._month_flags[t]  # this month's row, read once
        patron = self.patron.month_values(sc.drain[t], sc.leverage_drain[t])
        flags[tables.LEVERAGE_MOVES] = self.patron.leverage_moves
        before = self.status[:, 0].copy() if self.log_events else None
        size = len(requests) + 2 * len(self.members) + len(signals)
        log = np.full(size, tables.NOTHING) if self.log_events else self._no_log
        this_month = tables.Month(flags, patron, self._member_values, requests, signals, log)
        month.step_month(self.parameters, self.uniforms.streams(), this_month, self._state)
        self.uniforms.moved()
        for i, stage, _ in history.statuses if history else []:
            self._set_status(self.members[i], stage, t)
        for i, stage, label in history.notices_withdrawn if history else []:
            self._take_back_notice(self.members[i], stage, t, label)
        if self.log_events:
            self._log_month(t, history, log, before)
        self.running = self.steps < sc.months

    def draws_used(self, t: int) -> tuple[int, ...]:
        """Which uniforms month t reads; the streams skip the others, leaving later ones unchanged.

        `crisis` after the replayed history, `answer` only in a month with a replayed request or a
        call for help the model decides (a random crisis's answer comes from its crisis uniform),
        `transition` always.
        """
        sc = self.alliance_scenario
        history = sc.events.get(t)
        rows = [TRANSITION]
        if t > sc.history_end:
            rows.append(CRISIS)
            if self._regimes:
                rows.append(REGIME)
        if history and (
            any(req.response < 0 for req in history.requests)
            or any(signal.kind == "asked" for signal in history.signals)
        ):
            rows.append(ANSWER)
        return tuple(sorted(rows))

    def _every_month_flags(self) -> np.ndarray:
        """Each month's flags, (months, FLAGS), as the month kernel reads them, but the patron's
        `LEVERAGE_MOVES`, which the step sets: built once per model, not once per step."""
        sc = self.alliance_scenario
        flags = np.zeros((sc.months, tables.FLAGS), dtype=np.int64)
        for t in range(sc.months):
            flags[t, : len(DRAWS)] = self.uniforms.flags(self.draws_used(t))
        flags[:, tables.PROJECTED] = np.arange(sc.months) > sc.history_end
        flags[:, tables.DURATION] = self._duration
        flags[:, tables.RENEWAL] = self._renewal & sc.renewal_window[: sc.months]
        flags[:, tables.MONTH] = np.arange(sc.months)
        return flags

    def _members_table(self) -> np.ndarray:
        """The members' shared values as the month kernel reads them, one row per member."""
        sc = self.alliance_scenario
        table = np.empty((len(self.members), tables.MEMBER_COLUMNS))
        for m in self.members:
            table[m.index] = (
                float(m.in_alliance), m.unmet_threat, m.dependence, m.outside_options,
                sc.crisis_rate[m.index], sc.crisis_against_member[m.index],
                sc.crisis_backed[m.index], sc.regime_rate[m.index], sc.regime_shift[m.index],
                m.alliance_value,
            )  # fmt: skip
        return table

    def _compile_events(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Each month's replayed requests and signals as the month kernel reads them."""
        out = {}
        for t, events in self.alliance_scenario.events.items():
            requests = np.array(
                [
                    (r.requester, r.opponent_member >= 0, r.backed_opponent, r.response)
                    for r in events.requests
                ],
                dtype=np.int64,
            ).reshape(-1, 4)
            signals = np.array(
                [(s.member, SIGNAL_CODES[s.kind], s.severity) for s in events.signals],
                dtype=float,
            ).reshape(-1, 3)
            if len(requests) or len(signals):
                out[t] = (requests, signals)
        return out

    def _log_month(
        self, t: int, history: MonthEvents | None, log: np.ndarray, before: np.ndarray
    ) -> None:
        """Note what lane 0 went through this month, in the order it happened."""
        sc, count = self.alliance_scenario, len(self.members)
        requests = history.requests if history else []
        for i, member in enumerate(self.members):
            shift = log[len(requests) + count + i]
            if shift != tables.NOTHING:
                size = sc.regime_shift[i] * shift
                self._log(
                    "change", member.name, f"random regime change, domestic pressure {size:+g}"
                )
        for k, req in enumerate(requests):
            if log[k] != tables.NOTHING:
                self._log(
                    "request", self.members[req.requester].name, req.label,
                    answered=bool(log[k]), decided_by="history" if req.response >= 0 else "model",
                )  # fmt: skip
        for i, member in enumerate(self.members):
            answered = log[len(requests) + i]
            if answered != tables.NOTHING:
                self._log("request", member.name, "random crisis", answered=bool(answered),
                          decided_by="model")  # fmt: skip
        first = len(requests) + 2 * count
        for s, signal in enumerate(history.signals if history else []):
            name = self.members[signal.member].name
            if signal.kind != "asked":
                self._log(signal.kind, name, signal.label)
            elif log[first + s] != tables.NOTHING:
                self._log("help", name, signal.label, answered=bool(log[first + s]),
                          decided_by="model")  # fmt: skip
        for member in self.members:
            was, now = before[member.index], member.status[0]
            if was != now:
                self._log("status", member.name, self._status_detail(was, now, t))

    def _take_back_notice(self, member: Member, stage: int, t: int, label: str) -> None:
        """A notice of withdrawal taken back in month t: in the lanes where the member has given
        notice that has not yet taken effect, it returns to `stage`; its first passage to
        withdrawn (the notice) stays on record. Elsewhere nothing happens."""
        notice = self.first_passage[:, member.index, WITHDRAWN - 1]
        pending = (member.status == WITHDRAWN) & (notice >= 0)
        pending &= notice + self.alliance_scenario.notice_months > t
        if self._duration:
            member.stage_since[pending] = t
        member.status[pending] = stage
        if self.log_events and pending[0]:
            self._log("notice", member.name, label)

    def _set_status(self, member: Member, stage: int, t: int) -> None:
        """A status history sets in month t, in every lane (after the model's move); the lanes
        it moves on note month t as a first passage."""
        if self._duration:
            member.stage_since[member.status != stage] = t
        member.status[:] = stage
        self._record_first_passage(member, np.arange(self.lanes), t)

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
