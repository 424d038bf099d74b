"""A scenario as known at a forecast origin: its later events dropped, its history ending there.

The one rule of truncation, used in memory (`at_origin`, for a backtest's forecasts) and as a file
(`origin_yaml`, the copy a conditioned forecast's batch reads and keeps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.model.errors import InputError
from sim.model.scenario import Scenario, compile_scenario


def origin_month(scenario: Scenario, origin: str) -> int:
    """The month index of `origin` (YYYY-MM); InputError if it is outside the calendar."""
    month = scenario.month_of(origin)
    if not 0 <= month < scenario.months:
        first, last = scenario.month_label(0), scenario.month_label(scenario.months - 1)
        raise InputError("--origin", origin, f"expected a month from {first} to {last}")
    return month


def known_at(scenario: Scenario, dates: list[str], month: int) -> list[bool]:
    """Which of the events dated `dates` are known at `month` (dated in it or before)."""
    return [scenario.month_of(date) <= month for date in dates]


def at_origin(scenario: Scenario, origin: str) -> Scenario:
    """The scenario as known at `origin` (YYYY-MM): later events dropped, history ending there."""
    month = origin_month(scenario, origin)
    spec = scenario.spec
    keep = known_at(scenario, [e.date for e in spec.events], month)
    events = [e for e, kept in zip(spec.events, keep, strict=True) if kept]
    calendar = spec.calendar.model_copy(update={"history_end": scenario.month_label(month)})
    truncated = spec.model_copy(update={"events": events, "calendar": calendar})
    return compile_scenario(truncated, scenario.path, f"{scenario.content_hash}@{origin}")


def origin_yaml(scenario: Scenario, month: int) -> bytes:
    """The scenario's file as known at month `month`, as YAML text (the same rule as
    `at_origin`, for a batch that copies and reloads its scenario file)."""
    data: dict[str, Any] = yaml.safe_load(Path(scenario.path).read_text(encoding="utf-8"))
    events = data.get("events") or []
    keep = known_at(scenario, [str(e["date"]) for e in events], month)
    data["events"] = [e for e, kept in zip(events, keep, strict=True) if kept]
    data["calendar"]["history_end"] = scenario.month_label(month)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")
