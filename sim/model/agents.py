"""The patron and the members. Every attribute is a numpy array over lanes (replications).

A member's per-lane state (trust, domestic pressure, status, time in stage, balance) is its row
of the model's (members, lanes) arrays: the monthly drift and exit rules live in one compiled
kernel (`sim.model.rules`) that steps every member of every lane at once. Each method here is one
of the other submodels of `docs/model.md` (requests, witnesses, signals, member changes).

`p` is the dict of parameters, each a float shared by every lane or an array with one value per
lane, so a lane can carry its own parameter point (numpy broadcasts a float at no cost, which is
why the model passes shared values as floats). Methods that react to an aid request take an
optional `lanes` (an index array): the masks they receive then cover only those lanes, and only
those lanes are touched. A request reaches a few lanes in a hundred, so this is where the lane
engine saves most of its work; the arithmetic per lane is the same either way. Attributes are
updated in place, month after month: copy one (`member.trust.copy()`) to keep a snapshot.

A member's threat, own capacity, dependence, outside options and baseline trust are one float
shared by every lane: only replayed history moves them, and history is the same in every lane.
Domestic pressure is per lane (requests move it), and so is its baseline for a member with
projected regime changes, which strike lanes at random.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.model import rules

ALL_LANES = slice(None)

Lanes = np.ndarray | slice


def at(value: float | np.ndarray, lanes: Lanes) -> float | np.ndarray:
    """A parameter on some lanes: a shared float as it is, a per-lane array at those lanes."""
    return value[lanes] if isinstance(value, np.ndarray) else value


def logistic(x: np.ndarray) -> np.ndarray:
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + np.exp(-x))


def unanswered_loss(p: dict, capacity: np.ndarray, lanes: Lanes = ALL_LANES) -> float | np.ndarray:
    """Share of trust an unanswered request costs: `trust_loss_unanswered`, scaled by the
    patron's free capacity at that moment when `blame_capacity_weight` is not 0 (could have
    answered: more blame; could not: less)."""
    loss = at(p["trust_loss_unanswered"], lanes)
    weight = at(p["blame_capacity_weight"], lanes)
    if np.ndim(weight) == 0 and weight == 0.0:
        return loss
    return np.minimum(loss * (1.0 + weight * (2.0 * capacity - 1.0)), 1.0)


def witness_shares(
    asked: np.ndarray,
    answered: np.ndarray,
    loss: float | np.ndarray,
    p: dict,
    lanes: Lanes = ALL_LANES,
) -> tuple[np.ndarray, np.ndarray]:
    """What a watched request moves in every watcher's trust: the spill-over share of the trust
    gain (answered) and of the trust loss `loss` (unanswered), per lane."""
    unanswered = asked & ~answered
    spill = at(p["trust_spillover"], lanes)
    gain = spill * answered * at(p["trust_gain_answered"], lanes)
    return gain, spill * unanswered * loss


def _recover(value: np.ndarray, baseline: float, drain: float, p: dict) -> None:
    """Close `patron_recovery` of the gap to the baseline, then lose the drain (scaled)."""
    gap = np.subtract(baseline, value)
    gap *= p["patron_recovery"]
    value += gap
    if drain:
        value -= p["drain_scale"] * drain
    np.clip(value, 0.0, 1.0, out=value)


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
        self._leverage_moves = leverage != baseline_leverage

    def drain_and_recover(self, drain: float, leverage_drain: float, p: dict) -> None:
        """Capacity and leverage recover toward their baselines and lose this month's drains."""
        _recover(self.capacity, self.baseline, drain, p)
        if leverage_drain or self._leverage_moves:
            self._leverage_moves = True
            _recover(self.leverage, self.baseline_leverage, leverage_drain, p)

    def answer_probability(
        self,
        against_member: np.ndarray | bool,
        backed: np.ndarray | bool,
        p: dict[str, np.ndarray],
        lanes: Lanes = ALL_LANES,
    ) -> np.ndarray:
        """Chance of answering: rises with free capacity, falls with the strategic cost."""
        log_odds = (
            at(p["answer_willingness"], lanes)
            + at(p["answer_capacity_weight"], lanes) * self.capacity[lanes]
            - at(p["backer_cost"], lanes) * backed
            - at(p["intra_member_cost"], lanes) * against_member
        )
        return logistic(log_odds)

    def intervene(
        self, answered: np.ndarray, p: dict[str, np.ndarray], lanes: Lanes = ALL_LANES
    ) -> None:
        """Answering a request uses up capacity."""
        used = self.capacity[lanes] - at(p["intervention_cost"], lanes) * answered
        self.capacity[lanes] = np.maximum(used, 0.0)


class Member(mesa.Agent):
    """A member state: trust in the patron's guarantee and its reasons to stay or leave."""

    def __init__(
        self,
        model: mesa.Model,
        name: str,
        index: int,
        values: dict[str, float],
        regimes: bool = False,
    ):
        super().__init__(model)
        self.name = name
        self.index = index
        # Rows of the model's (members, lanes) arrays, so that one compiled kernel steps them all.
        self.trust = model.trust[index]
        self.trust[:] = values["trust"]
        self.baseline_trust = values["baseline_trust"]
        self.capacity = values["capacity"]
        self.threat = values["threat"]
        self.unmet_threat = values["threat"] * (1.0 - values["capacity"])
        self.dependence = values["dependence"]
        self.outside_options = values["outside_options"]
        self.domestic_pressure = model.domestic_pressure[index]
        self.domestic_pressure[:] = values["domestic_pressure"]
        # One column where every lane has the same baseline; per lane only where projected regime
        # changes can make lanes differ (`regimes`; the model then gives every member a column).
        self.baseline_domestic = model.baseline_domestic[index]
        self.baseline_domestic[:] = values["domestic_pressure"]
        self.regimes = regimes
        self.status = model.status[index]
        self.status[:] = int(values["status"])
        self.stage_since = model.stage_since[index]  # month the current stage began
        self.balance = model.balance[index]

    def apply_change(self, variable: str, by: float | None, to: float | None, fraction: float):
        """A member-level event's part in this month: shift `by`, or close `fraction` of the gap
        to the level `to` (all of it when fraction is 1); the result is clipped to [0, 1]."""
        value = getattr(self, variable)
        if by is not None:
            moved = value + by
        elif fraction == 1.0:
            moved = to
        else:
            moved = value + (to - value) * fraction
        moved = np.clip(moved, 0.0, 1.0)
        if isinstance(value, np.ndarray):
            value[...] = moved
        else:
            setattr(self, variable, float(moved))
        self.unmet_threat = self.threat * (1.0 - self.capacity)

    def regime_shock(self, lanes: np.ndarray, shift: np.ndarray) -> None:
        """A projected change of leader or regime in `lanes`: domestic pressure and its baseline
        move by `shift` (signed, per lane), clipped to [0, 1]."""
        for value in (self.domestic_pressure, self.baseline_domestic):
            value[lanes] = np.clip(value[lanes] + shift, 0.0, 1.0)

    def own_request(
        self,
        asked: np.ndarray,
        answered: np.ndarray,
        loss: float | np.ndarray,
        p: dict,
        lanes: Lanes = ALL_LANES,
    ) -> None:
        """Trust rises when the patron answers this member's request and falls by `loss` (see
        `unanswered_loss`) when it does not; an unanswered request also raises domestic
        pressure to leave."""
        unanswered = asked & ~answered
        trust = self.trust[lanes]
        self.trust[lanes] = (
            trust
            + answered * at(p["trust_gain_answered"], lanes) * (1.0 - trust)
            - unanswered * loss * trust
        )
        pressure = self.domestic_pressure[lanes]
        gain = at(p["domestic_gain_unanswered"], lanes)
        self.domestic_pressure[lanes] = pressure + unanswered * gain * (1.0 - pressure)

    def witness(self, shares: tuple[np.ndarray, np.ndarray], lanes: Lanes = ALL_LANES) -> None:
        """Watching another member's request answered or not moves trust by the spill-over
        shares of gain and loss (`witness_shares`, computed once for every watcher)."""
        gain, loss = shares
        trust = self.trust[lanes]
        self.trust[lanes] = trust + gain * (1.0 - trust) - loss * trust

    def signal(self, loss: np.ndarray, severity: float, signaller: int, p: dict) -> None:
        """A public rebuke or summit quarrel by member `signaller`: its trust falls; the
        watchers' falls by the spill-over share."""
        share = 1.0 if self.index == signaller else p["trust_spillover"]
        self.trust *= 1.0 - np.minimum(share * loss * severity, 1.0)

    def forward_hazard(
        self, p: dict, month: int | None = None, renewal: bool = False
    ) -> np.ndarray:
        """Monthly chance of one step toward exit in every lane at the current balance, by the
        rule of the monthly kernel (`sim.model.rules.forward_hazard_of`); the time spent in the
        stage counts when `month` is given and `stage_duration_weight` is not 0."""
        shared, per_lane = rules.pack(p, self.status.size)
        weight = np.asarray(p["stage_duration_weight"])
        duration = month is not None and bool(np.any(weight != 0.0))
        return rules.forward_hazards(
            shared,
            per_lane,
            self.status,
            self.balance,
            self.stage_since,
            month or 0,
            duration,
            renewal,
        )
