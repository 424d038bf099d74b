"""The event-history logit's covariates, per member and month, from a compiled scenario.

The logit (`sim.experiments.logit`) sees the same case inputs as the simulation: the members'
start values, the member-level events replayed by history (levels moved by the model's own rule,
`sim.model.changes.changed_level`, without the model's drift back to baselines, which is a
mechanism and not an input), the members' requests and their answers, and the patron's drain.
Each covariate stands for one of Leeds, Mattes & Vogel's (2009) predictors of abrogation
(docs/calibration.md, "The event-history logit"):

- `capability_change` (change in capabilities): the member's capacity now minus 12 months before;
- `regime_change` (regime change): a regime change of the member in the last 24 months (0/1);
- `outside_alliance` (new outside alliance): its outside options rose in the last 24 months (0/1);
- `domestic_pressure` (democracy, regime type): the scenarios carry no democracy score; domestic
  pressure is the input a regime change moves, and stands in for it;
- `asymmetry`: patron capacity / (patron capacity + member capacity);
- `threat` (external threat): the member's threat;
- `unanswered_requests`, `answered_requests` (the project's mechanism): the member's own requests
  left unanswered, and answered (interventions included), in the last 24 months;
- `patron_drain` (the project's mechanism): the patron's capacity drained in the last 12 months;
- `t`, `t2`, `t3` (cubic time, Carter & Signorino 2010): decades since the case's start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model.changes import changed_level
from sim.model.scenario import RESPONSE_CODES, Scenario
from sim.model.schema import MEMBER_CHANGE_KINDS

COVARIATES = (
    "capability_change",
    "regime_change",
    "outside_alliance",
    "domestic_pressure",
    "asymmetry",
    "threat",
    "unanswered_requests",
    "answered_requests",
    "patron_drain",
    "t",
    "t2",
    "t3",
)
EVENT_WINDOW = 24  # months a regime change, an outside alliance or a request counts as recent
CHANGE_WINDOW = 12  # months over which capability change and the patron's drain are taken
TRACKED = ("capacity", "threat", "outside_options", "domestic_pressure")


def member_levels(scenario: Scenario, months: int) -> dict[str, np.ndarray]:
    """Each tracked level per month and member (months x members): start value plus history."""
    levels = {f: np.empty((months, len(scenario.members))) for f in TRACKED}
    current = {f: scenario.member_values[f].astype(float).copy() for f in TRACKED}
    for t in range(months):
        month = scenario.events.get(t)
        for change in month.changes if month else ():
            if change.variable in current:
                value = current[change.variable][change.member]
                moved = changed_level(value, change.by, change.to, change.fraction)
                current[change.variable][change.member] = moved
        for f in TRACKED:
            levels[f][t] = current[f]
    return levels


def _recent(counts: np.ndarray, window: int) -> np.ndarray:
    """Trailing sums over `window` months (this month included), per column."""
    total = np.cumsum(counts, axis=0)
    lagged = np.zeros_like(total)
    lagged[window:] = total[:-window]
    return total - lagged


def covariate_table(scenario: Scenario, months: int) -> pd.DataFrame:
    """One row per member and month 0..months-1: the month, the member index and COVARIATES."""
    months = max(1, min(months, scenario.months))
    n = len(scenario.members)
    levels = member_levels(scenario, months)
    regimes = np.zeros((months, n))
    unanswered = np.zeros((months, n))
    answered = np.zeros((months, n))
    regime_variable = MEMBER_CHANGE_KINDS["regime_change"]
    for t, month in scenario.events.items():
        if t >= months:
            continue
        for change in month.changes:
            if change.logged and change.variable == regime_variable:
                regimes[t, change.member] = 1.0
        for request in month.requests:
            if request.response == RESPONSE_CODES["unanswered"]:
                unanswered[t, request.requester] += 1.0
            elif request.response == RESPONSE_CODES["answered"]:
                answered[t, request.requester] += 1.0
    capacity = levels["capacity"]
    earlier = np.vstack([np.repeat(capacity[:1], CHANGE_WINDOW, axis=0), capacity])[:months]
    outside = levels["outside_options"]
    before = np.vstack([np.repeat(outside[:1], EVENT_WINDOW, axis=0), outside])[:months]
    rose = (outside > before + 1e-12).astype(float)
    drain = _recent(scenario.drain[:months, None], CHANGE_WINDOW)
    patron = scenario.patron_capacity
    decades = np.arange(months)[:, None] / 120.0 * np.ones((1, n))
    columns = {
        "capability_change": capacity - earlier,
        "regime_change": (_recent(regimes, EVENT_WINDOW) > 0).astype(float),
        "outside_alliance": rose,
        "domestic_pressure": levels["domestic_pressure"],
        "asymmetry": patron / np.maximum(patron + capacity, 1e-9),
        "threat": levels["threat"],
        "unanswered_requests": _recent(unanswered, EVENT_WINDOW),
        "answered_requests": _recent(answered, EVENT_WINDOW),
        "patron_drain": np.repeat(drain, n, axis=1),
        "t": decades,
        "t2": decades**2,
        "t3": decades**3,
    }
    frame = pd.DataFrame(
        {
            "month": np.repeat(np.arange(months), n),
            "member": np.tile(np.arange(n), months),
            **{k: v.reshape(-1) for k, v in columns.items()},
        }
    )
    return frame
