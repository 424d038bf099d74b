"""The members' monthly rules, compiled: drift, the balance of reasons, the staged hazards and the
move (docs/model.md 7.8-7.9). This is their only home: the Mesa agents hold the state as rows of
the model's (members, lanes) arrays, and one fused kernel steps every member of every lane in one
pass, so that a member-month is computed in registers instead of in a dozen numpy passes.

Parameters reach the kernels packed (`pack`): a float per parameter shared by every lane, and the
per-lane values of those that differ (sweeps, posterior draws) as rows of one array, so that one
compiled signature serves every case. Arithmetic is float64 in numpy's order of operations, with
`exp` and `log1p` from the compiler's math library (they may differ from numpy's in the last bit).
Kernels are cached on disk (numba `cache=True`): compiled once per installation, not per run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.model.stages import ACTIVE, DISENGAGED, FROZEN, WITHDRAWN

RULE_PARAMETERS = (
    "protection_weight",
    "dependence_weight",
    "trust_weight",
    "retaliation_weight",
    "domestic_weight",
    "outside_weight",
    "contagion_weight",
    "hazard_slope",
    "disengage_intercept",
    "freeze_intercept",
    "withdraw_intercept",
    "reengage_intercept",
    "stage_duration_weight",
    "renewal_hazard_factor",
    "trust_drift",
    "domestic_decay",
    "cascade_weight",
)
(
    PROTECTION,
    DEPENDENCE,
    TRUST,
    RETALIATION,
    DOMESTIC,
    OUTSIDE,
    CONTAGION,
    SLOPE,
    DISENGAGE,
    FREEZE,
    WITHDRAW,
    REENGAGE,
    DURATION,
    RENEWAL,
    TRUST_DRIFT,
    DOMESTIC_DECAY,
    CASCADE,
) = range(len(RULE_PARAMETERS))


def pack(p: dict, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """The rule parameters for the kernels: (shared, per_lane). `shared` holds each parameter's
    value when every lane has the same; `per_lane` is empty then, and otherwise holds every
    parameter for every lane, (parameters, lanes)."""
    shared = np.array([float(np.ravel(p[name])[0]) for name in RULE_PARAMETERS])
    if all(np.ndim(p[name]) == 0 for name in RULE_PARAMETERS):
        return shared, np.zeros((0, lanes))
    per_lane = np.empty((len(RULE_PARAMETERS), lanes))
    for k, name in enumerate(RULE_PARAMETERS):
        per_lane[k] = p[name]
    return shared, per_lane


@njit(cache=True, inline="always")
def _parameters(shared, per_lane, lane):
    """The rule parameters of one lane as a tuple of floats (`RULE_PARAMETERS` order). A tuple
    is a value, kept in registers: the compiler need not reload it after every store, as it
    must for an array, which makes the kernels several times faster."""
    if per_lane.shape[0] == 0:
        return (
            shared[0],
            shared[1],
            shared[2],
            shared[3],
            shared[4],
            shared[5],
            shared[6],
            shared[7],
            shared[8],
            shared[9],
            shared[10],
            shared[11],
            shared[12],
            shared[13],
            shared[14],
            shared[15],
            shared[16],
        )
    return (
        per_lane[0, lane],
        per_lane[1, lane],
        per_lane[2, lane],
        per_lane[3, lane],
        per_lane[4, lane],
        per_lane[5, lane],
        per_lane[6, lane],
        per_lane[7, lane],
        per_lane[8, lane],
        per_lane[9, lane],
        per_lane[10, lane],
        per_lane[11, lane],
        per_lane[12, lane],
        per_lane[13, lane],
        per_lane[14, lane],
        per_lane[15, lane],
        per_lane[16, lane],
    )


@njit(cache=True)
def logistic(x):
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True)
def halves_gone(stage):
    """How far a member has gone, in halves: frozen counts 1/2, withdrawn 1."""
    return (stage >= FROZEN) + (stage == WITHDRAWN)


@njit(cache=True)
def balance_of(
    q, trust, domestic, unmet_threat, dependence, outside, capacity, leverage, others, unobserved
):
    """Reasons to leave minus reasons to stay (positive: leaning out). Protection counts only the
    threat the member cannot meet itself and rests on the patron's free capacity; feared
    retaliation rests on its economic leverage; `others` is how many other members have gone."""
    stay = q[PROTECTION] * trust * capacity * unmet_threat
    stay += q[DEPENDENCE] * dependence
    stay += q[TRUST] * trust
    stay += q[RETALIATION] * leverage * dependence
    leave = q[DOMESTIC] * domestic
    leave += q[OUTSIDE] * outside
    leave += q[CONTAGION] * others
    return leave - stay + unobserved


@njit(cache=True)
def forward_log_odds(q, stage, balance, months_in_stage, duration):
    """Log-odds of one step toward exit from `stage` this month (-inf once withdrawn): the
    stage's intercept plus the slope times the balance, plus the duration term when the time
    spent in the stage enters the hazard (`duration`)."""
    if stage == WITHDRAWN:
        return -np.inf
    if stage == ACTIVE:
        intercept = q[DISENGAGE]
    elif stage == DISENGAGED:
        intercept = q[FREEZE]
    else:
        intercept = q[WITHDRAW]
    log_odds = q[SLOPE] * balance + intercept
    if duration:
        log_odds += q[DURATION] * math.log1p(months_in_stage / 12.0)
    return log_odds


@njit(cache=True)
def forward_hazard_from(q, stage, exp_minus_log_odds, renewal):
    """The forward hazard from exp(-log odds): inside a renewal window (`renewal`), a frozen
    member's chance of withdrawing is multiplied by `renewal_hazard_factor` (at most 1)."""
    hazard = 1.0 / (1.0 + exp_minus_log_odds)
    if renewal and stage == FROZEN:
        hazard = min(hazard * q[RENEWAL], 1.0)
    return hazard


@njit(cache=True)
def forward_hazard_of(q, stage, balance, months_in_stage, duration, renewal):
    """Monthly chance of one step toward exit from `stage` (0 once withdrawn)."""
    log_odds = forward_log_odds(q, stage, balance, months_in_stage, duration)
    return forward_hazard_from(q, stage, math.exp(-log_odds), renewal)


@njit(cache=True)
def back_hazard_of(q, balance):
    """Monthly chance of one step back toward active (meaningful when disengaged or frozen)."""
    return logistic(q[REENGAGE] - q[SLOPE] * balance)


def drift_and_move(
    shared: np.ndarray,
    per_lane: np.ndarray,
    trust: np.ndarray,
    domestic: np.ndarray,
    baseline_trust: np.ndarray,
    baseline_domestic: np.ndarray,
    unmet_threat: np.ndarray,
    dependence: np.ndarray,
    outside: np.ndarray,
    capacity: np.ndarray,
    leverage: np.ndarray,
    unobserved: np.ndarray,
    u: np.ndarray,
    status: np.ndarray,
    stage_since: np.ndarray,
    balance: np.ndarray,
    first_passage: np.ndarray,
    month: int,
    duration: bool,
    renewal: bool,
    work: np.ndarray,
) -> None:
    """One month's drift and exits for every member of every lane, in place.

    Trust and domestic pressure close their drift rate's share of the gap to their baselines;
    then each member's balance, forward and back hazards, and a move of at most one stage:
    forward if u < forward hazard, back if u > 1 - back hazard (the back hazard capped at
    1 - forward). Contagion counts the statuses at the start of the phase (members decide
    together). A lane that moves notes the month as its stage's start (`stage_since`) and, for
    each stage first reached, in `first_passage` (lanes, members, 3). Arrays are (members,
    lanes); `baseline_domestic` has one column when it is the same in every lane; `work` is a
    (members, lanes) scratch array. Two compiled passes with numpy's vectorised `exp` between
    them (a compiled scalar `exp` costs several times more per member-month).
    """
    drift_and_log_odds(
        shared, per_lane, trust, domestic, baseline_trust, baseline_domestic,
        unmet_threat, dependence, outside, capacity, leverage, unobserved, status, stage_since,
        balance,
        month, duration, work,
    )  # fmt: skip
    np.exp(work, out=work)
    move(shared, per_lane, u, status, stage_since, balance, first_passage, month, duration,
         renewal, work)  # fmt: skip


@njit(cache=True, nogil=True)
def drift_and_log_odds(
    shared,
    per_lane,
    trust,
    domestic,
    baseline_trust,
    baseline_domestic,
    unmet_threat,
    dependence,
    outside,
    capacity,
    leverage,
    unobserved,
    status,
    stage_since,
    balance,
    month,
    duration,
    minus_log_odds,
):
    """Drift, the balance and minus the forward log-odds of every member and lane."""
    members, lanes = trust.shape
    q = _parameters(shared, per_lane, 0)
    lane_values = per_lane.shape[0] > 0
    per_lane_domestic = baseline_domestic.shape[1] > 1
    total_gone = np.zeros(lanes, dtype=np.int64)
    for i in range(members):
        for j in range(lanes):
            total_gone[j] += halves_gone(status[i, j])
    for i in range(members):
        for j in range(lanes):
            if lane_values:
                q = _parameters(shared, per_lane, j)
            value = trust[i, j]
            value += (baseline_trust[i] - value) * q[TRUST_DRIFT]
            trust[i, j] = value
            pressure = domestic[i, j]
            target = baseline_domestic[i, j if per_lane_domestic else 0]
            pressure += (target - pressure) * q[DOMESTIC_DECAY]
            domestic[i, j] = pressure
            stage = status[i, j]
            others = (total_gone[j] - halves_gone(stage)) * 0.5
            b = balance_of(
                q,
                value,
                pressure,
                unmet_threat[i],
                dependence[i],
                outside[i],
                capacity[j],
                leverage[j],
                others,
                unobserved[i, j if unobserved.shape[1] > 1 else 0],
            )
            balance[i, j] = b
            months_in_stage = float(month - stage_since[i, j])
            minus_log_odds[i, j] = -forward_log_odds(q, stage, b, months_in_stage, duration)


@njit(cache=True, nogil=True)
def move(
    shared,
    per_lane,
    u,
    status,
    stage_since,
    balance,
    first_passage,
    month,
    duration,
    renewal,
    exp_minus_log_odds,
):
    """Each member's move of at most one stage in every lane, from exp(-forward log-odds)."""
    members, lanes = status.shape
    q = _parameters(shared, per_lane, 0)
    lane_values = per_lane.shape[0] > 0
    for i in range(members):
        for j in range(lanes):
            if lane_values:
                q = _parameters(shared, per_lane, j)
            stage = status[i, j]
            forward = forward_hazard_from(q, stage, exp_minus_log_odds[i, j], renewal)
            draw = u[i, j]
            step = 1 if draw < forward else 0
            if step:
                step += cascade(q, stage + 1, balance[i, j], draw / forward, duration, renewal)
            elif stage in (DISENGAGED, FROZEN):
                back = min(back_hazard_of(q, balance[i, j]), 1.0 - forward)
                if draw > 1.0 - back:
                    step -= 1
            if step != 0:
                stage += step
                status[i, j] = stage
                if duration:
                    stage_since[i, j] = month
                if step > 0:
                    for reached in range(1, stage + 1):
                        if first_passage[j, i, reached - 1] < 0:
                            first_passage[j, i, reached - 1] = month


@njit(cache=True)
def cascade(q, stage, balance, fresh, duration, renewal):
    """Further steps in the month of a step toward exit, now at `stage`: each taken while the
    fresh uniform (the month's draw given the steps so far) is below `cascade_weight` times the
    stage's hazard at the month's balance (no time spent in it yet). Returns the extra steps."""
    extra = 0
    while stage < WITHDRAWN and q[CASCADE] > 0.0:
        hazard = q[CASCADE] * forward_hazard_of(q, stage, balance, 0.0, duration, renewal)
        if not fresh < hazard:
            break
        fresh /= hazard
        stage += 1
        extra += 1
    return extra


@njit(cache=True, nogil=True)
def forward_hazards(shared, per_lane, status, balance, stage_since, month, duration, renewal):
    """One member's forward hazard in every lane at its current balance (for inspection)."""
    out = np.empty(status.size)
    for j in range(status.size):
        q = _parameters(shared, per_lane, j)
        months_in_stage = float(month - stage_since[j])
        out[j] = forward_hazard_of(q, status[j], balance[j], months_in_stage, duration, renewal)
    return out
