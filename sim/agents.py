"""The patron and the members. Every attribute is a numpy array over lanes (replications).

Each method is one submodel of `docs/model.md`; `p` is the dict of parameter arrays, one value
per lane, so a lane can carry its own parameter point.
"""

from __future__ import annotations

import mesa
import numpy as np

ACTIVE, DISENGAGED, FROZEN, WITHDRAWN = range(4)


def logistic(x: np.ndarray) -> np.ndarray:
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + np.exp(-x))


class Patron(mesa.Agent):
    """The alliance's patron: free capacity drained by commitments elsewhere."""

    def __init__(self, model: mesa.Model, name: str, capacity: float, baseline: float):
        super().__init__(model)
        self.name = name
        self.capacity = np.full(model.lanes, capacity)
        self.baseline = baseline

    def drain_and_recover(self, drain: float, p: dict[str, np.ndarray]) -> None:
        """Capacity recovers toward its baseline and loses this month's drain (scaled)."""
        recovered = self.capacity + p["patron_recovery"] * (self.baseline - self.capacity)
        self.capacity = np.clip(recovered - p["drain_scale"] * drain, 0.0, 1.0)

    def answer_probability(
        self, against_member: np.ndarray | bool, backed: np.ndarray | bool, p: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Chance of answering: rises with free capacity, falls with the strategic cost."""
        log_odds = (
            p["answer_willingness"]
            + p["answer_capacity_weight"] * self.capacity
            - p["backer_cost"] * backed
            - p["intra_member_cost"] * against_member
        )
        return logistic(log_odds)

    def intervene(self, answered: np.ndarray, p: dict[str, np.ndarray]) -> None:
        """Answering a request uses up capacity."""
        self.capacity = np.maximum(self.capacity - p["intervention_cost"] * answered, 0.0)


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
        self.status = np.full(lanes, int(values["status"]), dtype=np.int8)
        self.balance = np.zeros(lanes)

    def own_request(self, asked: np.ndarray, answered: np.ndarray, p: dict) -> None:
        """Trust rises when the patron answers this member's request and falls when it does not;
        an unanswered request also raises domestic pressure to leave."""
        unanswered = asked & ~answered
        self.trust = (
            self.trust
            + answered * p["trust_gain_answered"] * (1.0 - self.trust)
            - unanswered * p["trust_loss_unanswered"] * self.trust
        )
        self.domestic_pressure = self.domestic_pressure + unanswered * p[
            "domestic_gain_unanswered"
        ] * (1.0 - self.domestic_pressure)

    def witness_request(self, asked: np.ndarray, answered: np.ndarray, p: dict) -> None:
        """Watching another member's request answered or not moves trust by the spill-over share."""
        unanswered = asked & ~answered
        spill = p["trust_spillover"]
        self.trust = (
            self.trust
            + spill * answered * p["trust_gain_answered"] * (1.0 - self.trust)
            - spill * unanswered * p["trust_loss_unanswered"] * self.trust
        )

    def signal(self, loss: np.ndarray, severity: float, own: bool, p: dict) -> None:
        """A public rebuke or summit quarrel: the member's trust falls; watchers' falls less."""
        share = 1.0 if own else p["trust_spillover"]
        self.trust = self.trust * (1.0 - np.minimum(share * loss * severity, 1.0))

    def drift(self, p: dict) -> None:
        """Trust and domestic pressure return slowly toward their baselines."""
        self.trust = self.trust + p["trust_drift"] * (self.baseline_trust - self.trust)
        self.domestic_pressure = self.domestic_pressure + p["domestic_decay"] * (
            self.baseline_domestic - self.domestic_pressure
        )

    def update_balance(self, patron_capacity: np.ndarray, others_out: np.ndarray, p: dict) -> None:
        """Reasons to leave minus reasons to stay (positive: leaning out).

        Protection counts only the threat the member cannot meet with its own capacity.
        """
        stay = (
            p["protection_weight"] * self.trust * patron_capacity * self.unmet_threat
            + p["dependence_weight"] * self.dependence
            + p["retaliation_weight"] * patron_capacity * self.dependence
        )
        leave = (
            p["outside_weight"] * self.outside_options
            + p["domestic_weight"] * self.domestic_pressure
            + p["contagion_weight"] * others_out
        )
        self.balance = leave - stay

    def hazards(self, p: dict) -> tuple[np.ndarray, np.ndarray]:
        """Monthly chances of one step toward exit and one step back, given the stage."""
        intercept = np.select(
            [self.status == ACTIVE, self.status == DISENGAGED, self.status == FROZEN],
            [p["disengage_intercept"], p["freeze_intercept"], p["withdraw_intercept"]],
            -np.inf,
        )
        forward = logistic(intercept + p["hazard_slope"] * self.balance)
        can_return = (self.status == DISENGAGED) | (self.status == FROZEN)
        back = can_return * logistic(p["reengage_intercept"] - p["hazard_slope"] * self.balance)
        return forward, back

    def transition(self, u: np.ndarray, p: dict) -> np.ndarray:
        """Move at most one stage, forward if u < forward hazard, back if u > 1 - back hazard.

        Withdrawal is absorbing. Returns the previous status.
        """
        forward, back = self.hazards(p)
        before = self.status
        step = (u < forward).astype(np.int8) - (u > 1.0 - back).astype(np.int8)
        self.status = before + step
        return before
