"""The scenario file format (YAML), as pydantic models. `docs/scenarios.md` documents it.

Everything case-specific (countries, dates, magnitudes, sources) lives in scenario files.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from sim.model.months import date_text, optional
from sim.model.stages import StageName

# Member-level events: the kind and the member state variable it moves (docs/scenarios.md).
MEMBER_CHANGE_KINDS: dict[str, str] = {
    "outside_option": "outside_options",
    "regime_change": "domestic_pressure",
    "threat_change": "threat",
    "dependence_change": "dependence",
    "capacity_change": "capacity",
}
EVENT_KINDS: frozenset[str] = frozenset(
    {"drain", "drain_end", "crisis", "intervention", "rebuke", "summit_quarrel", "status"}
    | {"join", "exclusion", "patron_backs_opponent", "patron_force", "notice_withdrawn"}
    | {"help_request"}
    | set(MEMBER_CHANGE_KINDS)
)


def _source_text(value: str) -> str:
    if len(value.strip()) < 3:
        raise ValueError("expected a source (who said it, where, when), not a blank")
    return value.strip()


# A value's or fact's source: text that says something (not blanks).
SourceText = Annotated[str, AfterValidator(_source_text)]


class Strict(BaseModel):
    """The base of every file format's models: unknown keys are errors, values immutable, and
    types strict (a boolean is not a number, a string is not an integer, a number not a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Sourced(Strict):
    """A value with the reason or source for it."""

    value: float
    source: SourceText


class Unit(Sourced):
    """A sourced value in [0, 1]."""

    value: float = Field(ge=0.0, le=1.0)


class Calendar(Strict):
    start: str
    history_end: str
    end: str

    _dates = field_validator("start", "history_end", "end", mode="before")(date_text)


class PatronSpec(Strict):
    name: str = Field(min_length=1)
    capacity: Unit
    baseline_capacity: Unit | None = None
    leverage: Unit | None = None
    baseline_leverage: Unit | None = None


class CrisisRates(Strict):
    """Random crises in the projected period: rate per month and what kind of fight it is."""

    rate: float = Field(ge=0.0, le=0.5)
    against_member: float = Field(0.0, ge=0.0, le=1.0)
    backed_opponent: float = Field(0.0, ge=0.0, le=1.0)
    source: SourceText


class RegimeRates(Strict):
    """Projected changes of leader or regime (after history_end): monthly rate and shift size."""

    rate: float = Field(ge=0.0, le=0.5)
    shift: float = Field(gt=0.0, le=1.0)
    source: str = Field(min_length=3)


class MemberSpec(Strict):
    name: str = Field(min_length=1)
    trust: Unit
    baseline_trust: Unit | None = None
    capacity: Unit
    threat: Unit
    dependence: Unit
    outside_options: Unit
    domestic_pressure: Unit
    status: StageName = "active"
    crises: CrisisRates
    regime_changes: RegimeRates | None = None
    alliance_value: Unit | None = None


class Event(Strict):
    date: str
    source: SourceText
    note: str = ""

    _date = field_validator("date", mode="before")(date_text)


class Drain(Event):
    """Patron capacity drained by a commitment elsewhere: monthly over a range, or once."""

    kind: Literal["drain"]
    id: str = Field(min_length=1)
    drains: Literal["capacity", "leverage", "both"] = "capacity"
    monthly: float = Field(0.0, ge=0.0, le=1.0)
    once: float = Field(0.0, ge=0.0, le=1.0)
    until: str | None = None

    _until = field_validator("until", mode="before")(optional(date_text))


class DrainEnd(Event):
    """A ceasefire or end of a commitment: the named drain stops from this month on."""

    kind: Literal["drain_end"]
    drain: str


class Crisis(Event):
    """An aid request by a member against an outsider or another member."""

    kind: Literal["crisis"]
    requester: str
    opponent: str
    backed_opponent: bool = False
    response: Literal["answered", "unanswered", "model"]


class Intervention(Event):
    """The patron intervenes at a member's request (an answered request, e.g. a deployment)."""

    kind: Literal["intervention"]
    member: str


class Rebuke(Event):
    """A member's leader publicly rebukes the patron."""

    kind: Literal["rebuke"]
    member: str
    severity: float = Field(1.0, gt=0.0, le=3.0)


class SummitQuarrel(Event):
    """A member quarrels at a summit; refusing to sign its documents adds 1 to the severity."""

    kind: Literal["summit_quarrel"]
    member: str
    refused_to_sign: bool = False
    severity: float = Field(1.0, gt=0.0, le=3.0)


class StatusChange(Event):
    """A member's status set by history (e.g. a formal suspension)."""

    kind: Literal["status"]
    member: str
    status: StageName


class Join(Event):
    """A member joins after the scenario starts: it is in the alliance, and at risk of leaving,
    from this month on."""

    kind: Literal["join"]
    member: str


class Exclusion(Event):
    """The other members exclude a member: it leaves, not by its own choice (not an exit)."""

    kind: Literal["exclusion"]
    member: str


class PatronBacksOpponent(Event):
    """The patron backs a member's opponent (arms, diplomacy): the member's trust falls most."""

    kind: Literal["patron_backs_opponent"]
    member: str
    opponent: str = Field(min_length=1)
    severity: float = Field(1.0, gt=0.0, le=3.0)


class PatronForce(Event):
    """The patron uses force against a member (an invasion, a blockade, a strike)."""

    kind: Literal["patron_force"]
    member: str
    severity: float = Field(1.0, gt=0.0, le=3.0)


class HelpRequest(Event):
    """The patron asks the members for help (troops, money, votes). `response: history` replays
    who gave it (`answered_by`); `response: model` lets each member in the alliance decide by
    the model's rule (a request history has not answered, such as one after history_end).
    Answering costs a member at home and binds it to the patron."""

    kind: Literal["help_request"]
    response: Literal["history", "model"]
    answered_by: list[str] = []


class NoticeWithdrawn(Event):
    """A member takes back its notice of withdrawal before it takes effect."""

    kind: Literal["notice_withdrawn"]
    member: str
    status: Literal["active", "disengaged", "frozen"] = "frozen"


class Shift(Strict):
    """A change to a level in [0, 1]: a shift `by` (may be negative) or a new level `to`."""

    by: float | None = Field(None, ge=-1.0, le=1.0)
    to: float | None = Field(None, ge=0.0, le=1.0)


class MemberChange(Event):
    """A change to one member's state: a shift or a new level, at once or spread until a month."""

    member: str
    by: float | None = Field(None, ge=-1.0, le=1.0)
    to: float | None = Field(None, ge=0.0, le=1.0)
    until: str | None = None

    _until = field_validator("until", mode="before")(optional(date_text))


class OutsideOption(MemberChange):
    """A new outside option (a pact, a partner, a monitoring mission) or the loss of one."""

    kind: Literal["outside_option"]


class RegimeChange(MemberChange):
    """A change of leader or regime: moves domestic pressure and its baseline (and, optionally,
    the member's baseline trust)."""

    kind: Literal["regime_change"]
    baseline_trust: Shift | None = None


class ThreatChange(MemberChange):
    """A war begins or ends, a peace treaty, a border settled: the member's threat moves."""

    kind: Literal["threat_change"]


class DependenceChange(MemberChange):
    """Sanctions, a pipeline, a base closed or opened: the member's dependence moves."""

    kind: Literal["dependence_change"]


class CapacityChange(MemberChange):
    """Rearmament or a lost war: the member's own capacity moves."""

    kind: Literal["capacity_change"]


AnyEvent = Annotated[
    Drain
    | DrainEnd
    | Crisis
    | Intervention
    | Rebuke
    | SummitQuarrel
    | StatusChange
    | Join
    | Exclusion
    | PatronBacksOpponent
    | PatronForce
    | NoticeWithdrawn
    | HelpRequest
    | OutsideOption
    | RegimeChange
    | ThreatChange
    | DependenceChange
    | CapacityChange,
    Field(discriminator="kind"),
]


class Renewal(Strict):
    """A date when the treaty is up for renewal or review."""

    date: str
    source: str = Field(min_length=3)

    _date = field_validator("date", mode="before")(date_text)


class Treaty(Strict):
    """The treaty's calendar: renewal windows, and the notice a withdrawal needs."""

    renewals: list[Renewal] = []
    window_months: int = Field(6, ge=1, le=60)
    notice_months: int = Field(0, ge=0, le=120)
    source: str = Field(min_length=3)


class ScenarioSpec(Strict):
    """A whole scenario file."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    calendar: Calendar
    patron: PatronSpec
    members: list[MemberSpec] = Field(min_length=1)
    parameters: dict[str, Sourced] = {}
    treaty: Treaty | None = None
    observations: str | None = Field(None, min_length=1)  # the record, relative to this file
    events: list[AnyEvent] = []
