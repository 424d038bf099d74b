"""Member-level events (outside options, regime, threat, dependence, own capacity), compiled
month by month: their checks, their spread over a range of months, and their labels.

docs/model.md 7.11 gives the rule: a shift `by` spread over n months moves `by / n` each month;
a new level `to` is approached by closing 1/(months left) of the gap, so it is reached in the
last month. A regime change moves domestic pressure and its baseline alike, and, if the event
gives a baseline trust, baseline trust and trust alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.schema import MEMBER_CHANGE_KINDS, MemberChange, RegimeChange, Shift


@dataclass(frozen=True)
class Change:
    """One month's part of a member-level event: a shift `by`, or a move toward the level `to`
    closing `fraction` of the gap (1 in the last month of a spread, so the level is reached)."""

    member: int
    variable: str  # a Member attribute: outside_options, threat, baseline_domestic, ...
    by: float | None
    to: float | None
    fraction: float
    label: str
    logged: bool  # the event's first month and main variable: where the event log notes it


def changed_level(value, by: float | None, to: float | None, fraction: float):
    """A level after one month's part of a member change: shifted `by`, or `fraction` of the gap
    to `to` closed (all of it when fraction is 1), clipped to [0, 1]. Floats or lane arrays."""
    if by is not None:
        moved = value + by
    elif fraction == 1.0:
        moved = to
    else:
        moved = value + (to - value) * fraction
    return np.clip(moved, 0.0, 1.0)


def change_problems(
    event: MemberChange, i: int, first: int, until: int | None, end: int, end_label: str
) -> list[tuple[tuple[str | int, ...], str]]:
    """A member change (event i, in month `first`, spread to month `until`) gives exactly one of
    `by` and `to`, and an `until` from its month to the calendar's `end`."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    shifts: list[tuple[tuple[str | int, ...], Shift | MemberChange]] = [(("events", i), event)]
    if isinstance(event, RegimeChange) and event.baseline_trust is not None:
        shifts.append((("events", i, "baseline_trust"), event.baseline_trust))
    for where, shift in shifts:
        if shift.by is not None and shift.to is not None:
            problems.append(
                ((*where, "to"), "both `by` and `to` given; expected one: a shift or a new level")
            )
        elif shift.by is None and shift.to is None:
            problems.append(
                (where, "expected `by` (a shift, -1 to 1) or `to` (a new level, 0 to 1)")
            )
    if until is not None:
        if until < first:
            problems.append(
                (("events", i, "until"), f"until is before date; expected {event.date} or later")
            )
        elif until > end:
            problems.append(
                (
                    ("events", i, "until"),
                    f"until is after the calendar's end; expected {end_label} or earlier",
                )
            )
    return problems


def spread(e: MemberChange, member: int, months: int, label: str) -> list[list[Change]]:
    """A member change, month by month: a shift split evenly, a new level approached evenly.

    A regime change moves domestic pressure and its baseline alike, and baseline trust and trust
    alike if the event gives a baseline trust.
    """
    variable = MEMBER_CHANGE_KINDS[e.kind]
    moves: list[tuple[str, float | None, float | None]] = [(variable, e.by, e.to)]
    if isinstance(e, RegimeChange):
        moves.append(("baseline_domestic", e.by, e.to))
        if e.baseline_trust is not None:  # a new government brings its own trust with it
            moves.append(("baseline_trust", e.baseline_trust.by, e.baseline_trust.to))
            moves.append(("trust", e.baseline_trust.by, e.baseline_trust.to))
    return [
        [
            Change(
                member,
                name,
                None if by is None else by / months,
                to,
                1.0 / (months - step),
                label,
                logged=step == 0 and name == variable,
            )
            for name, by, to in moves
        ]
        for step in range(months)
    ]


def describe_change(e: MemberChange) -> str:
    """A short label: `North: outside options +0.05`, `South: regime change, domestic pressure to
    0.6 until 1975-01`."""
    what = MEMBER_CHANGE_KINDS[e.kind].replace("_", " ")
    amount = f"{e.by:+g}" if e.by is not None else f"to {e.to:g}"
    spread_to = f" until {e.until[:7]}" if e.until else ""
    head = f"{e.member}: regime change, " if isinstance(e, RegimeChange) else f"{e.member}: "
    return f"{head}{what} {amount}{spread_to}"
