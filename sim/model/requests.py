"""The patron's month and the members' reactions to requests and signals, one lane at a time
(docs/model.md 7.1-7.7, 7.12): drain and recovery, the answer to an aid request and its cost, the
trust and domestic pressure an answer or a silence moves in the requester and the watchers, public
signals, and projected regime changes. This is their only home: the month kernel
(`sim.model.month`) calls them for every lane, and the Mesa agents hold the state they change.

Each function is the arithmetic of one rule on floats, in the order of operations the documented
equations give; `q` is the tuple of a lane's parameters (`sim.model.rules.RULE_PARAMETERS`).
"""

from __future__ import annotations

import math

from numba import njit

from sim.model.rules import (
    ANSWER_CAPACITY,
    ANSWER_WILLINGNESS,
    BACKER_COST,
    BLAME,
    DOMESTIC_GAIN,
    DRAIN_SCALE,
    HELP_COST,
    HELP_GAIN,
    HELP_WEIGHT,
    HELP_WILLINGNESS,
    INTERVENTION_COST,
    INTRA_MEMBER_COST,
    LASTING,
    PATRON_RECOVERY,
    SPILLOVER,
    TRUST_GAIN,
    TRUST_LOSS,
    WITNESS_DILUTION,
    logistic,
)


@njit(cache=True, inline="always")
def recover(value, baseline, drain, q):
    """Capacity or leverage closes `patron_recovery` of the gap to its baseline, then loses
    the month's drain (times `drain_scale`), within [0, 1] (7.1)."""
    value += (baseline - value) * q[PATRON_RECOVERY]
    if drain:
        value -= q[DRAIN_SCALE] * drain
    return min(max(value, 0.0), 1.0)


@njit(cache=True, inline="always")
def answer_probability(q, capacity, against_member, backed):
    """Chance the patron answers: rises with free capacity, falls with the strategic cost of a
    backed opponent or a fight between members (7.2)."""
    log_odds = q[ANSWER_WILLINGNESS] + q[ANSWER_CAPACITY] * capacity
    log_odds = log_odds - q[BACKER_COST] * backed - q[INTRA_MEMBER_COST] * against_member
    return 1.0 / (1.0 + math.exp(-log_odds))


@njit(cache=True, inline="always")
def unanswered_loss(q, capacity):
    """Share of trust an unanswered request costs: `trust_loss_unanswered`, scaled by the
    patron's free capacity when `blame_capacity_weight` is not 0 (could have answered: more
    blame; could not: less) (7.4)."""
    loss = q[TRUST_LOSS]
    if q[BLAME] == 0.0:
        return loss
    return min(loss * (1.0 + q[BLAME] * (2.0 * capacity - 1.0)), 1.0)


@njit(cache=True, inline="always")
def intervene(q, capacity, answered):
    """Answering a request uses up `intervention_cost` of the patron's capacity (7.3)."""
    return max(capacity - q[INTERVENTION_COST] * answered, 0.0)


@njit(cache=True, inline="always")
def own_request(q, trust, pressure, answered, loss):
    """The requester's trust rises by `trust_gain_answered` of the gap to 1 when answered and
    falls by `loss` when not; a silence also raises its domestic pressure to leave (7.4).
    Returns (trust, pressure)."""
    unanswered = 1.0 - answered
    trust = trust + answered * q[TRUST_GAIN] * (1.0 - trust) - unanswered * loss * trust
    pressure = pressure + unanswered * q[DOMESTIC_GAIN] * (1.0 - pressure)
    return trust, pressure


@njit(cache=True, inline="always")
def lasting(q, baseline, lost):
    """Baseline trust after a grievance that does not fade: `lasting_grievance` of the share of
    trust `lost` (to an unanswered own request, or to the patron backing the member's opponent
    or using force against it) comes off the baseline too (7.4, 7.7)."""
    return baseline * (1.0 - q[LASTING] * lost)


@njit(cache=True, inline="always")
def spill_share(q, watchers):
    """The share of a requester's or signaller's trust change that each of `watchers` other
    members feels: `trust_spillover` x watchers^-`witness_dilution` (7.5; exactly the spill-over
    at dilution 0)."""
    if q[WITNESS_DILUTION] == 0.0:
        return q[SPILLOVER]
    return q[SPILLOVER] * max(watchers, 1) ** -q[WITNESS_DILUTION]


@njit(cache=True, inline="always")
def witness_shares(q, answered, loss, watchers):
    """What a watched request moves in every watcher's trust: the spill-over shares of the gain
    (answered) and of the loss (unanswered) (7.5). Returns (gain, loss)."""
    spill = spill_share(q, watchers)
    return spill * answered * q[TRUST_GAIN], spill * (1.0 - answered) * loss


@njit(cache=True, inline="always")
def witness(trust, gain, loss):
    """A watcher's trust after a request, by the shares of `witness_shares` (7.5)."""
    return trust + gain * (1.0 - trust) - loss * trust


@njit(cache=True, inline="always")
def signal(trust, share, loss, severity):
    """Trust after a public rebuke or summit quarrel: the signaller's (`share` 1) falls by
    `loss x severity`, a watcher's by the spill-over share of it (7.7)."""
    return trust * (1.0 - min(share * loss * severity, 1.0))


@njit(cache=True, inline="always")
def send_help(q, trust, pressure):
    """A member answers the patron's call for help: its trust closes `help_trust_gain` of the
    gap to full trust, and its domestic pressure to leave `help_domestic_cost` of the gap to
    full pressure (7.7). Returns (trust, pressure)."""
    trust = trust + q[HELP_GAIN] * (1.0 - trust)
    pressure = pressure + q[HELP_COST] * (1.0 - pressure)
    return trust, pressure


@njit(cache=True, inline="always")
def help_probability(q, trust, dependence, pressure):
    """Chance a member answers a call for help the model decides: rises with its trust in the
    patron and its dependence on it, falls with its domestic pressure to leave (7.7)."""
    return logistic(q[HELP_WILLINGNESS] + q[HELP_WEIGHT] * (trust + dependence - pressure))


@njit(cache=True, inline="always")
def split_uniform(u, p):
    """Split a uniform u on [0, 1) at the probability p (clipped to [0, 1]): the event u < p,
    and a fresh uniform independent of it: u / p given the event, (u - p) / (1 - p) otherwise
    (7.6). One draw decides an event and still yields a uniform for the next decision."""
    p = min(max(p, 0.0), 1.0)
    if p == 0.0 or p == 1.0:
        return u < p, u
    if u < p:
        return True, u / p
    return False, (u - p) / (1.0 - p)


@njit(cache=True, inline="always")
def regime_shock(value, shift):
    """Domestic pressure, or its baseline, after a projected change of regime (7.12)."""
    return min(max(value + shift, 0.0), 1.0)
