"""Load a scenario file, check it, and compile it into arrays and a month-by-month event table."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.model.changes import Change, change_problems, describe_change, spread
from sim.model.months import month_label, months_from, parse_month
from sim.model.parameters import BY_NAME, defaults
from sim.model.schema import (
    EVENT_KINDS,
    Crisis,
    Drain,
    DrainEnd,
    Exclusion,
    HelpRequest,
    Intervention,
    Join,
    MemberChange,
    NoticeWithdrawn,
    PatronBacksOpponent,
    PatronForce,
    Rebuke,
    ScenarioSpec,
    StatusChange,
    SummitQuarrel,
)
from sim.model.shipped import resolve
from sim.model.stages import stage_code
from sim.model.yamlio import combined, load_yaml, located, validate_model

RESPONSE_CODES = {"model": -1, "unanswered": 0, "answered": 1}
MEMBER_FIELDS = (
    "trust",
    "capacity",
    "threat",
    "dependence",
    "outside_options",
    "domestic_pressure",
)


@dataclass(frozen=True)
class Request:
    """An aid request replayed from history in one month."""

    requester: int
    opponent_member: int  # -1 when the opponent is outside the alliance
    backed_opponent: bool
    response: int  # RESPONSE_CODES
    label: str


@dataclass(frozen=True)
class Signal:
    """A public rebuke or summit quarrel by a member (`kind` rebuke, quarrel), the patron
    backing its opponent or using force against it (backing, force), or the member's answer to
    the patron's call for help: history's (help) or the model's to decide (asked)."""

    member: int
    kind: str
    severity: float
    label: str


@dataclass
class MonthEvents:
    """What history says happens in one month."""

    requests: list[Request] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    statuses: list[tuple[int, int, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    memberships: list[tuple[int, bool, str]] = field(default_factory=list)  # joins, exclusions
    notices_withdrawn: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class Scenario:
    """A checked scenario, compiled for the model: arrays over members and a calendar."""

    spec: ScenarioSpec
    path: str
    content_hash: str
    start: tuple[int, int]
    months: int
    history_end: int
    members: list[str]
    member_values: dict[str, np.ndarray]
    baseline_trust: np.ndarray
    status: np.ndarray
    crisis_rate: np.ndarray
    crisis_against_member: np.ndarray
    crisis_backed: np.ndarray
    patron_capacity: float
    patron_baseline: float
    drain: np.ndarray
    events: dict[int, MonthEvents]
    parameters: dict[str, float]
    timeline: list[dict[str, str]]
    patron_leverage: float
    patron_baseline_leverage: float
    leverage_drain: np.ndarray
    regime_rate: np.ndarray  # per member: monthly chance of a projected change of regime
    regime_shift: np.ndarray  # per member: its size in domestic pressure
    renewal_window: np.ndarray  # per month: inside a renewal window
    notice_months: int
    joined: np.ndarray  # per member: the month it joins (0: a member from the start)
    excluded: np.ndarray  # per member: the month the others exclude it (-1: never)
    alliance_value: np.ndarray  # per member: the alliance's own value to it (7.9a)

    def in_alliance(self, member: int, t: int) -> bool:
        """Whether a member belongs to the alliance in month t (joined, not yet excluded)."""
        out = self.excluded[member]
        return self.joined[member] <= t and (out < 0 or t < out)

    @property
    def name(self) -> str:
        return self.spec.name

    def month_label(self, t: int) -> str:
        """Calendar label `YYYY-MM` of step t (t = 0 is the start month)."""
        return month_label(self.start, t)

    def month_labels(self) -> list[str]:
        return [self.month_label(t) for t in range(self.months)]

    def month_of(self, date: str) -> int:
        """Step index of a date (YYYY-MM or YYYY-MM-DD)."""
        return months_from(self.start, date)


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and compile a scenario file; raise InputError naming every problem."""
    path = resolve(path, "scenarios")
    file = str(path)
    data, lines = load_yaml(path)
    spec = validate_model(ScenarioSpec, data, file, lines, EVENT_KINDS)
    errors = [located(file, loc, lines, msg) for loc, msg in check(spec)]
    if errors:
        raise combined(errors)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return compile_scenario(spec, file, digest)


def check(spec: ScenarioSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems pydantic cannot see: names, dates against the calendar, parameter ranges."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    start = _index(spec.calendar.start, spec)
    hist = _index(spec.calendar.history_end, spec)
    end = _index(spec.calendar.end, spec)
    if end < start:
        problems.append((("calendar", "end"), "end is before start; expected a later month"))
    calendar_ok = start <= end
    span = f"calendar; expected a month from {spec.calendar.start} to {spec.calendar.end}"
    if calendar_ok and not start <= hist <= end:
        problems.append((("calendar", "history_end"), f"history_end is outside the {span}"))
    names = [m.name for m in spec.members]
    for i, name in enumerate(names):
        if name in names[:i] or name == spec.patron.name:
            problems.append(
                (
                    ("members", i, "name"),
                    f"duplicate name {name!r}; expected names that differ from each other and "
                    "from the patron's",
                )
            )
    for key, value in spec.parameters.items():
        if key not in BY_NAME:
            known = ", ".join(BY_NAME)
            problems.append((("parameters", key), f"unknown parameter; expected one of {known}"))
        elif not BY_NAME[key].low <= value.value <= BY_NAME[key].high:
            p = BY_NAME[key]
            problems.append(
                (("parameters", key, "value"), f"expected a value in [{p.low}, {p.high}]")
            )
    drains: dict[str, int] = {}
    for i, event in enumerate(spec.events):
        if isinstance(event, Drain):
            if event.id in drains:
                problems.append(
                    (("events", i, "id"), f"duplicate drain id {event.id!r}; expected a new id")
                )
            drains.setdefault(event.id, _index(event.date, spec))
    expected = f"expected one of {', '.join(names)}"
    problems += membership_problems(spec, names)
    for i, event in enumerate(spec.events):
        t = _index(event.date, spec)
        if calendar_ok and not start <= t <= end:
            problems.append((("events", i, "date"), f"date {event.date} is outside the {span}"))
        for attr in ("requester", "member"):
            who = getattr(event, attr, None)
            if who is not None and who not in names:
                problems.append((("events", i, attr), f"unknown member {who!r}; {expected}"))
        for k, who in enumerate(getattr(event, "answered_by", [])):
            if who not in names:
                problems.append(
                    (("events", i, "answered_by", k), f"unknown member {who!r}; {expected}")
                )
            elif calendar_ok and start <= t <= end and not _in_alliance(spec, who, t):
                problems.append(
                    (("events", i, "answered_by", k), f"{who} is not in the alliance then; "
                     "expected the members in the alliance at the event's date")
                )  # fmt: skip
        if isinstance(event, HelpRequest) and event.response == "model" and event.answered_by:
            problems.append(
                (("events", i, "answered_by"), "the model decides who answers; expected no "
                 "answered_by with response: model (or response: history)")
            )  # fmt: skip
        if isinstance(event, Crisis) and event.opponent == event.requester:
            problems.append(
                (("events", i, "opponent"), "a member cannot request aid against itself")
            )
        if isinstance(event, NoticeWithdrawn) and not (spec.treaty and spec.treaty.notice_months):
            problems.append(
                (
                    ("events", i, "kind"),
                    "a notice can be taken back only under a treaty with notice_months above 0",
                )
            )
        if isinstance(event, DrainEnd) and event.drain not in drains:
            problems.append((("events", i, "drain"), "unknown drain id; expected a drain's id"))
        elif isinstance(event, DrainEnd) and t < drains[event.drain]:
            problems.append(
                (("events", i, "date"), "the drain ends before it starts; expected a later date")
            )
        if isinstance(event, MemberChange):
            until = None if event.until is None else _index(event.until, spec)
            problems += change_problems(event, i, t, until, end, spec.calendar.end)
        if isinstance(event, Drain):
            if event.monthly == 0 and event.once == 0:
                problems.append((("events", i), "a drain needs `monthly` or `once` above 0"))
            if event.until is not None and _index(event.until, spec) < t:
                problems.append(
                    (
                        ("events", i, "until"),
                        f"until is before date; expected {event.date} or later",
                    )
                )
    if spec.treaty is not None:
        for i, renewal in enumerate(spec.treaty.renewals):
            if calendar_ok and not start <= _index(renewal.date, spec) <= end:
                problems.append(
                    (
                        ("treaty", "renewals", i, "date"),
                        f"date {renewal.date} is outside the {span}",
                    )
                )
    return problems


ACTS_OF_A_MEMBER = (
    Crisis, Intervention, Rebuke, SummitQuarrel, StatusChange, PatronBacksOpponent, PatronForce,
    NoticeWithdrawn,
)  # fmt: skip


def membership_problems(spec: ScenarioSpec, names: list[str]) -> list[tuple[tuple, str]]:
    """Joins and exclusions: at most one of each per member, a join before an exclusion, and a
    member's requests, signals and statuses dated while it is in the alliance."""
    problems: list[tuple[tuple, str]] = []
    joins: dict[str, int] = {}
    exclusions: dict[str, int] = {}
    for i, event in enumerate(spec.events):
        if isinstance(event, Join | Exclusion) and event.member in names:
            seen = joins if isinstance(event, Join) else exclusions
            if event.member in seen:
                problems.append(
                    (("events", i, "member"), f"{event.member} has a {event.kind} already; "
                     "expected at most one per member")
                )  # fmt: skip
            seen.setdefault(event.member, _index(event.date, spec))
    for member, out in exclusions.items():
        if joins.get(member, 0) > out:
            i = next(k for k, e in enumerate(spec.events) if isinstance(e, Exclusion)
                     and e.member == member)  # fmt: skip
            problems.append(
                (("events", i, "date"), f"{member} is excluded before it joins; expected a "
                 "date after its join")
            )  # fmt: skip
    for i, event in enumerate(spec.events):
        if not isinstance(event, ACTS_OF_A_MEMBER):
            continue
        who = getattr(event, "member", None) or getattr(event, "requester", None)
        t = _index(event.date, spec)
        first, out = joins.get(who, 0), exclusions.get(who)
        if t < first or (out is not None and t >= out):
            span = f"from its join ({_label(spec, first)})" if first else "from the start"
            if out is not None:
                span += f" to before its exclusion ({_label(spec, out)})"
            message = f"{who} is not in the alliance then; expected a date {span}"
            problems.append((("events", i, "date"), message))
    return problems


def _in_alliance(spec: ScenarioSpec, member: str, t: int) -> bool:
    """Whether a member belongs to the alliance in month t by its join and exclusion events."""
    for e in spec.events:
        if isinstance(e, Join) and e.member == member and t < _index(e.date, spec):
            return False
        if isinstance(e, Exclusion) and e.member == member and t >= _index(e.date, spec):
            return False
    return True


def _label(spec: ScenarioSpec, t: int) -> str:
    return month_label(parse_month(spec.calendar.start), t)


def _index(date: str, spec: ScenarioSpec) -> int:
    return months_from(parse_month(spec.calendar.start), date)


def compile_scenario(spec: ScenarioSpec, path: str, content_hash: str) -> Scenario:
    """Turn a checked spec into the arrays and month table the model steps through."""
    start = parse_month(spec.calendar.start)
    months = _index(spec.calendar.end, spec) + 1
    names = [m.name for m in spec.members]
    values = {f: np.array([getattr(m, f).value for m in spec.members]) for f in MEMBER_FIELDS}
    baseline = np.array([(m.baseline_trust or m.trust).value for m in spec.members])
    drain = np.zeros(months)
    leverage_drain = np.zeros(months)
    ends = {e.drain: _index(e.date, spec) for e in spec.events if isinstance(e, DrainEnd)}
    events: dict[int, MonthEvents] = {}
    timeline = []
    for e in sorted(spec.events, key=lambda e: _index(e.date, spec)):
        t = _index(e.date, spec)
        month = events.setdefault(t, MonthEvents())
        label = _describe(e)
        timeline.append({"date": e.date, "kind": e.kind, "what": label, "source": e.source})
        if isinstance(e, Drain):
            stop = min(ends.get(e.id, months), months)
            if e.until is not None:
                stop = min(stop, _index(e.until, spec) + 1)
            targets = {"capacity": (drain,), "leverage": (leverage_drain,)}
            for target in targets.get(e.drains, (drain, leverage_drain)):
                target[t:stop] += e.monthly
                target[t] += e.once
        elif isinstance(e, Crisis):
            opp = names.index(e.opponent) if e.opponent in names else -1
            code = RESPONSE_CODES[e.response]
            month.requests.append(
                Request(names.index(e.requester), opp, e.backed_opponent, code, label)
            )
        elif isinstance(e, Intervention):
            month.requests.append(intervention_request(names.index(e.member), label))
        elif isinstance(e, Rebuke):
            month.signals.append(Signal(names.index(e.member), "rebuke", e.severity, label))
        elif isinstance(e, SummitQuarrel):
            month.signals.append(
                Signal(names.index(e.member), "quarrel", quarrel_severity(e), label)
            )
        elif isinstance(e, StatusChange):
            month.statuses.append((names.index(e.member), stage_code(e.status), label))
        elif isinstance(e, PatronBacksOpponent | PatronForce):
            kind = "backing" if isinstance(e, PatronBacksOpponent) else "force"
            month.signals.append(Signal(names.index(e.member), kind, e.severity, label))
        elif isinstance(e, Join | Exclusion):
            month.memberships.append((names.index(e.member), isinstance(e, Join), label))
        elif isinstance(e, NoticeWithdrawn):
            month.notices_withdrawn.append((names.index(e.member), stage_code(e.status), label))
        elif isinstance(e, HelpRequest) and e.response == "model":
            for who in names:  # every member in the alliance then is asked (7.7)
                if _in_alliance(spec, who, t):
                    month.signals.append(Signal(names.index(who), "asked", 1.0, f"{label}: {who}"))
        elif isinstance(e, HelpRequest):
            for who in e.answered_by:
                month.signals.append(Signal(names.index(who), "help", 1.0, f"{label}: {who}"))
        elif isinstance(e, MemberChange):
            last = t if e.until is None else _index(e.until, spec)
            for step, change in enumerate(spread(e, names.index(e.member), last - t + 1, label)):
                events.setdefault(t + step, MonthEvents()).changes.extend(change)
    patron = spec.patron
    patron_baseline = (patron.baseline_capacity or patron.capacity).value
    leverage = (patron.leverage or patron.capacity).value
    baseline_leverage = patron.baseline_leverage.value if patron.baseline_leverage else leverage
    renewal_window = np.zeros(months, dtype=bool)
    if spec.treaty is not None:
        for renewal in spec.treaty.renewals:
            t = _index(renewal.date, spec)
            renewal_window[max(t - spec.treaty.window_months + 1, 0) : t + 1] = True
    regimes = [m.regime_changes for m in spec.members]
    joined = np.zeros(len(names), dtype=np.int64)
    excluded = np.full(len(names), -1, dtype=np.int64)
    for e in spec.events:
        if isinstance(e, Join | Exclusion):
            target = joined if isinstance(e, Join) else excluded
            target[names.index(e.member)] = _index(e.date, spec)
    return Scenario(
        spec=spec,
        path=path,
        content_hash=content_hash,
        start=start,
        months=months,
        history_end=_index(spec.calendar.history_end, spec),
        members=names,
        member_values=values,
        baseline_trust=baseline,
        status=np.array([stage_code(m.status) for m in spec.members], dtype=np.int8),
        crisis_rate=np.array([m.crises.rate for m in spec.members]),
        crisis_against_member=np.array([m.crises.against_member for m in spec.members]),
        crisis_backed=np.array([m.crises.backed_opponent for m in spec.members]),
        patron_capacity=spec.patron.capacity.value,
        patron_baseline=patron_baseline,
        drain=drain,
        events=events,
        parameters={k: v.value for k, v in spec.parameters.items()},
        timeline=timeline,
        patron_leverage=leverage,
        patron_baseline_leverage=baseline_leverage,
        leverage_drain=leverage_drain,
        regime_rate=np.array([r.rate if r else 0.0 for r in regimes]),
        regime_shift=np.array([r.shift if r else 0.0 for r in regimes]),
        renewal_window=renewal_window,
        notice_months=spec.treaty.notice_months if spec.treaty else 0,
        joined=joined,
        excluded=excluded,
        alliance_value=np.array(
            [(m.alliance_value.value if m.alliance_value else 0.0) for m in spec.members]
        ),  # fmt: skip
    )


def intervention_request(member: int, label: str) -> Request:
    """An `intervention` event is an aid request by `member` that history answered (model.md 7.2):
    against no member, no backed opponent, so the model treats it like any answered request."""
    return Request(member, -1, False, RESPONSE_CODES["answered"], label)


def quarrel_severity(quarrel: SummitQuarrel) -> float:
    """A summit quarrel's severity; refusing to sign adds 1, a formal and costlier signal (7.7)."""
    return quarrel.severity + (1.0 if quarrel.refused_to_sign else 0.0)


def _describe(e: object) -> str:
    """A short human label for an event (event logs, plot markers, reports)."""
    if isinstance(e, Drain):
        amount = f"{e.monthly:g}/month" if e.monthly else f"{e.once:g} once"
        return f"drain {e.id} ({amount})"
    if isinstance(e, DrainEnd):
        return f"end of drain {e.drain}"
    if isinstance(e, Crisis):
        return f"{e.requester} asks for aid against {e.opponent} ({e.response})"
    if isinstance(e, Intervention):
        return f"patron intervenes for {e.member}"
    if isinstance(e, Rebuke):
        return f"{e.member} rebukes the patron"
    if isinstance(e, SummitQuarrel):
        return f"{e.member} quarrels at summit" + (
            " and refuses to sign" if e.refused_to_sign else ""
        )
    if isinstance(e, StatusChange):
        return f"{e.member} becomes {e.status}"
    if isinstance(e, Join):
        return f"{e.member} joins"
    if isinstance(e, Exclusion):
        return f"{e.member} is excluded by the others"
    if isinstance(e, PatronBacksOpponent):
        return f"patron backs {e.opponent} against {e.member}"
    if isinstance(e, PatronForce):
        return f"patron uses force against {e.member}"
    if isinstance(e, HelpRequest):
        return "patron asks the members for help" + (" (model)" if e.response == "model" else "")
    if isinstance(e, NoticeWithdrawn):
        return f"{e.member} takes back its notice of withdrawal ({e.status})"
    if isinstance(e, MemberChange):
        return describe_change(e)
    return str(getattr(e, "kind", "event"))


def with_parameters(scenario: Scenario, overrides: dict[str, float]) -> dict[str, float]:
    """The scenario's parameter overrides, then the caller's, on top of the defaults."""
    return {**defaults(), **scenario.parameters, **overrides}
