"""The scenario file format (YAML), as pydantic models. `docs/scenarios.md` documents it.

Everything case-specific (countries, dates, magnitudes, sources) lives in scenario files.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from sim.model.months import date_text, optional
from sim.model.stages import StageName

EVENT_KINDS: frozenset[str] = frozenset(
    {"drain", "drain_end", "crisis", "intervention", "rebuke", "summit_quarrel", "status"}
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


class CrisisRates(Strict):
    """Random crises in the projected period: rate per month and what kind of fight it is."""

    rate: float = Field(ge=0.0, le=0.5)
    against_member: float = Field(0.0, ge=0.0, le=1.0)
    backed_opponent: float = Field(0.0, ge=0.0, le=1.0)
    source: SourceText


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


class Event(Strict):
    date: str
    source: SourceText
    note: str = ""

    _date = field_validator("date", mode="before")(date_text)


class Drain(Event):
    """Patron capacity drained by a commitment elsewhere: monthly over a range, or once."""

    kind: Literal["drain"]
    id: str = Field(min_length=1)
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


AnyEvent = Annotated[
    Drain | DrainEnd | Crisis | Intervention | Rebuke | SummitQuarrel | StatusChange,
    Field(discriminator="kind"),
]


class ScenarioSpec(Strict):
    """A whole scenario file."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    calendar: Calendar
    patron: PatronSpec
    members: list[MemberSpec] = Field(min_length=1)
    parameters: dict[str, Sourced] = {}
    events: list[AnyEvent] = []
