"""The patron and the members: Mesa agents holding the state the month kernel changes.

A member's per-lane state (trust, domestic pressure, status, time in stage, balance) is its row
of the model's (members, lanes) arrays, and the patron's capacity and leverage are (lanes,)
arrays of the model's, so that one compiled kernel (`sim.model.month`) steps every member of
every lane at once by the rules of `sim.model.rules` and `sim.model.requests`. What the agents
do themselves is what history does to them: member-level events (`Member.apply_change`), the
same in every lane. Attributes are updated in place, month after month: copy one
(`member.trust.copy()`) to keep a snapshot.

A member's threat, own capacity, dependence, outside options, the alliance's own value to it
and whether it is in the alliance are one value shared by every lane: only replayed history
moves them, and history is the same in every lane. Domestic pressure is per lane (requests move
it), and so is its baseline (projected regime changes strike lanes at random), and baseline
trust (a lasting grievance follows the requests a lane's patron left unanswered).
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.model import rules
from sim.model.changes import changed_level


def logistic(x: np.ndarray) -> np.ndarray:
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + np.exp(-x))


class Patron(mesa.Agent):
    """The alliance's patron: free military capacity drained by commitments elsewhere, and
    economic leverage (trade, remittances, energy, credit), drained only where a scenario says."""

    def __init__(
        self,
        model: mesa.Model,
        name: str,
        capacity: float,
        baseline: float,
        leverage: float,
        baseline_leverage: float,
    ):
        super().__init__(model)
        self.name = name
        self.capacity = np.full(model.lanes, capacity)
        self.baseline = baseline
        self.leverage = np.full(model.lanes, leverage)
        self.baseline_leverage = baseline_leverage
        # Leverage at its baseline and never drained stays there: recovery would add 0.
        self.leverage_moves = leverage != baseline_leverage

    def month_values(self, drain: float, leverage_drain: float) -> np.ndarray:
        """This month's drains and baselines, as the month kernel reads them; leverage starts to
        recover (and is stepped from then on) with its first drain."""
        self.leverage_moves = self.leverage_moves or bool(leverage_drain)
        return np.array([drain, leverage_drain, self.baseline, self.baseline_leverage])


class Member(mesa.Agent):
    """A member state: trust in the patron's guarantee and its reasons to stay or leave."""

    def __init__(
        self,
        model: mesa.Model,
        name: str,
        index: int,
        values: dict[str, float],
    ):
        super().__init__(model)
        self.name = name
        self.index = index
        # Rows of the model's (members, lanes) arrays, so that one compiled kernel steps them all.
        self.trust = model.trust[index]
        self.trust[:] = values["trust"]
        # Per lane: an unanswered request can leave a lasting grievance in some lanes only.
        self.baseline_trust = model.baseline_trust[index]
        self.baseline_trust[:] = values["baseline_trust"]
        self.alliance_value = values["alliance_value"]
        self.in_alliance = bool(values["in_alliance"])  # joined and not excluded
        self.capacity = values["capacity"]
        self.threat = values["threat"]
        self.unmet_threat = values["threat"] * (1.0 - values["capacity"])
        self.dependence = values["dependence"]
        self.outside_options = values["outside_options"]
        self.domestic_pressure = model.domestic_pressure[index]
        self.domestic_pressure[:] = values["domestic_pressure"]
        # Per lane: projected regime changes can make lanes differ.
        self.baseline_domestic = model.baseline_domestic[index]
        self.baseline_domestic[:] = values["domestic_pressure"]
        self.status = model.status[index]
        self.status[:] = int(values["status"])
        self.stage_since = model.stage_since[index]  # month the current stage began
        self.balance = model.balance[index]

    def apply_change(self, variable: str, by: float | None, to: float | None, fraction: float):
        """A member-level event's part in this month: shift `by`, or close `fraction` of the gap
        to the level `to` (all of it when fraction is 1); the result is clipped to [0, 1]."""
        value = getattr(self, variable)
        moved = changed_level(value, by, to, fraction)
        if isinstance(value, np.ndarray):
            value[...] = moved
        else:
            setattr(self, variable, float(moved))
        self.unmet_threat = self.threat * (1.0 - self.capacity)

    def forward_hazard(self, month: int | None = None, renewal: bool = False) -> np.ndarray:
        """Monthly chance of one step toward exit in every lane at the current balance and the
        model's parameters, by the rule of the monthly kernel
        (`sim.model.rules.forward_hazard_of`); the time spent in the stage counts when `month`
        is given and `stage_duration_weight` is not 0."""
        weight = self.model.column("stage_duration_weight")
        duration = month is not None and bool(np.any(weight != 0.0))
        return rules.forward_hazards(
            self.model.parameters,
            self.status,
            self.balance,
            self.stage_since,
            month or 0,
            duration,
            renewal,
        )
