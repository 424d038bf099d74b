"""The patron and the members. Every attribute is a numpy array over lanes (replications).

Each method is one submodel of `docs/model.md`; `p` is the dict of parameters, each a float
shared by every lane or an array with one value per lane, so a lane can carry its own parameter
point (numpy broadcasts a float at no cost, which is why the model passes shared values as
floats). Methods that react to an aid request take an optional `lanes` (an index array): the
masks they receive then cover only those lanes, and only those lanes are touched. A request
reaches a few lanes in a hundred, so this is where the lane engine saves most of its work; the
arithmetic per lane is the same either way. Attributes are updated in place, month after month:
copy one (`member.trust.copy()`) to keep a snapshot.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.model.stages import ACTIVE, DISENGAGED, FROZEN, WITHDRAWN

ALL_LANES = slice(None)

Lanes = np.ndarray | slice


def at(value: float | np.ndarray, lanes: Lanes) -> float | np.ndarray:
    """A parameter on some lanes: a shared float as it is, a per-lane array at those lanes."""
    return value[lanes] if isinstance(value, np.ndarray) else value


def logistic(x: np.ndarray) -> np.ndarray:
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + np.exp(-x))


def logistic_inplace(x: np.ndarray) -> np.ndarray:
    """`logistic(x)` computed in x's own memory (same arithmetic, no temporaries)."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    return np.divide(1.0, x, out=x)


def witness_shares(
    asked: np.ndarray, answered: np.ndarray, p: dict, lanes: Lanes = ALL_LANES
) -> tuple[np.ndarray, np.ndarray]:
    """What a watched request moves in every watcher's trust: the spill-over share of the trust
    gain (answered) and of the trust loss (unanswered), per lane."""
    unanswered = asked & ~answered
    spill = at(p["trust_spillover"], lanes)
    gain = spill * answered * at(p["trust_gain_answered"], lanes)
    loss = spill * unanswered * at(p["trust_loss_unanswered"], lanes)
    return gain, loss


class Patron(mesa.Agent):
    """The alliance's patron: free capacity drained by commitments elsewhere."""

    def __init__(self, model: mesa.Model, name: str, capacity: float, baseline: float):
        super().__init__(model)
        self.name = name
        self.capacity = np.full(model.lanes, capacity)
        self.baseline = baseline

    def drain_and_recover(self, drain: float, p: dict[str, np.ndarray]) -> None:
        """Capacity recovers toward its baseline and loses this month's drain (scaled)."""
        capacity = self.capacity
        gap = np.subtract(self.baseline, capacity)
        gap *= p["patron_recovery"]
        capacity += gap
        if drain:
            capacity -= p["drain_scale"] * drain
        np.clip(capacity, 0.0, 1.0, out=capacity)

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

    def __init__(self, model: mesa.Model, name: str, index: int, values: dict[str, float]):
        super().__init__(model)
        lanes = model.lanes
        self.name = name
        self.index = index
        self.trust = np.full(lanes, values["trust"])
        self.baseline_trust = values["baseline_trust"]
        self.capacity = np.full(lanes, values["capacity"])
        self.threat = values["threat"]
        self.unmet_threat = values["threat"] * (1.0 - values["capacity"])
        self.dependence = values["dependence"]
        self.outside_options = values["outside_options"]
        self.domestic_pressure = np.full(lanes, values["domestic_pressure"])
        self.baseline_domestic = values["domestic_pressure"]
        # Working rows for the monthly rules, so that stepping allocates no lane-sized arrays.
        self._work = np.empty((2, lanes))
        self.status = np.full(lanes, int(values["status"]), dtype=np.int8)
        self.balance = np.zeros(lanes)

    def own_request(
        self, asked: np.ndarray, answered: np.ndarray, p: dict, lanes: Lanes = ALL_LANES
    ) -> None:
        """Trust rises when the patron answers this member's request and falls when it does not;
        an unanswered request also raises domestic pressure to leave."""
        unanswered = asked & ~answered
        trust = self.trust[lanes]
        self.trust[lanes] = (
            trust
            + answered * at(p["trust_gain_answered"], lanes) * (1.0 - trust)
            - unanswered * at(p["trust_loss_unanswered"], lanes) * trust
        )
        pressure = self.domestic_pressure[lanes]
        gain = at(p["domestic_gain_unanswered"], lanes)
        self.domestic_pressure[lanes] = pressure + unanswered * gain * (1.0 - pressure)

    def witness_request(
        self, asked: np.ndarray, answered: np.ndarray, p: dict, lanes: Lanes = ALL_LANES
    ) -> None:
        """Watching another member's request answered or not moves trust by the spill-over share."""
        self.witness(witness_shares(asked, answered, p, lanes), lanes)

    def witness(self, shares: tuple[np.ndarray, np.ndarray], lanes: Lanes = ALL_LANES) -> None:
        """`witness_request` with its shares of gain and loss computed once for every watcher."""
        gain, loss = shares
        trust = self.trust[lanes]
        self.trust[lanes] = trust + gain * (1.0 - trust) - loss * trust

    def signal(self, loss: np.ndarray, severity: float, own: bool, p: dict) -> None:
        """A public rebuke or summit quarrel: the member's trust falls; watchers' falls less."""
        share = 1.0 if own else p["trust_spillover"]
        self.trust *= 1.0 - np.minimum(share * loss * severity, 1.0)

    def drift(self, p: dict) -> None:
        """Trust and domestic pressure return slowly toward their baselines."""
        for value, baseline, rate in (
            (self.trust, self.baseline_trust, p["trust_drift"]),
            (self.domestic_pressure, self.baseline_domestic, p["domestic_decay"]),
        ):
            gap = np.subtract(baseline, value, out=self._work[0])
            gap *= rate
            value += gap

    def update_balance(self, patron_capacity: np.ndarray, others_out: np.ndarray, p: dict) -> None:
        """Reasons to leave minus reasons to stay (positive: leaning out).

        Protection counts only the threat the member cannot meet with its own capacity.
        """
        stay, term = self._work
        np.multiply(p["protection_weight"], self.trust, out=stay)
        stay *= patron_capacity
        stay *= self.unmet_threat
        stay += p["dependence_weight"] * self.dependence
        stay += np.multiply(p["trust_weight"], self.trust, out=term)
        np.multiply(p["retaliation_weight"], patron_capacity, out=term)
        term *= self.dependence
        stay += term
        leave = np.multiply(p["domestic_weight"], self.domestic_pressure, out=self.balance)
        leave += p["outside_weight"] * self.outside_options
        leave += np.multiply(p["contagion_weight"], others_out, out=term)
        leave -= stay  # the balance, computed in place

    def forward_hazard(
        self, p: dict, out: np.ndarray | None = None, later: np.ndarray | None = None
    ) -> np.ndarray:
        """Monthly chance of one step toward exit from the current stage (0 once withdrawn).

        `later`: the lanes not active, if the caller has them already."""
        log_odds = np.multiply(p["hazard_slope"], self.balance, out=out)
        log_odds += p["disengage_intercept"]
        later = np.flatnonzero(self.status != ACTIVE) if later is None else later
        if later.size:
            stage = self.status[later]
            withdraw = np.where(stage == FROZEN, at(p["withdraw_intercept"], later), -np.inf)
            intercept = np.where(stage == DISENGAGED, at(p["freeze_intercept"], later), withdraw)
            log_odds[later] = intercept + at(p["hazard_slope"], later) * self.balance[later]
        return logistic_inplace(log_odds)

    def back_hazard(self, p: dict, lanes: Lanes = ALL_LANES) -> np.ndarray:
        """Monthly chance of one step back toward active (meaningful when disengaged or frozen)."""
        return logistic(
            at(p["reengage_intercept"], lanes) - at(p["hazard_slope"], lanes) * self.balance[lanes]
        )

    def hazards(self, p: dict) -> tuple[np.ndarray, np.ndarray]:
        """Monthly chances of one step toward exit and one step back, given the stage."""
        can_return = (self.status == DISENGAGED) | (self.status == FROZEN)
        return self.forward_hazard(p), can_return * self.back_hazard(p)

    def transition(self, u: np.ndarray, p: dict) -> np.ndarray:
        """Move at most one stage, forward if u < forward hazard, back if u > 1 - back hazard.

        Withdrawal is absorbing. Returns the previous status.
        """
        before = self.status.copy()
        later = np.flatnonzero(before != ACTIVE)
        step = (u < self.forward_hazard(p, out=self._work[0], later=later)).view(np.int8)
        can_return = later[before[later] != WITHDRAWN]
        if can_return.size:
            back = self.back_hazard(p, can_return)
            step[can_return] -= u[can_return] > 1.0 - back
        self.status += step
        return before
