"""The members' monthly rules, compiled: drift, the balance of reasons, the staged hazards and the
move (docs/model.md 7.8-7.9). This is their only home: the month kernel (`sim.model.month`)
applies them to every member of every lane, and the Mesa agents hold the state they change.

Parameters reach the kernels in their one shape, `sim.model.tables.Parameters`: the distinct rows
of every parameter of `sim.model.parameters`, in its order, and each lane's row; a row is read
into a tuple of floats (`row_parameters`) once per block of lanes that share it, or once per lane
where a block's lanes differ (sweeps, posterior draws).
Arithmetic is float64 in the documented equations' order of operations, with `exp` and `log1p`
from the compiler's math library (numpy's vectorised `exp` may differ in the last bit).
Kernels are cached on disk (numba `cache=True`): compiled once per installation, not per run.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from sim.model.stages import ACTIVE, DISENGAGED, FROZEN, WITHDRAWN

# The order of sim.model.parameters.PARAMETERS (a test keeps the two in step); written out here
# because numba caches a kernel by its own file: the indices below must live in it.
RULE_PARAMETERS = (
    "patron_recovery",
    "drain_scale",
    "intervention_cost",
    "answer_willingness",
    "answer_capacity_weight",
    "backer_cost",
    "intra_member_cost",
    "trust_gain_answered",
    "trust_loss_unanswered",
    "blame_capacity_weight",
    "trust_spillover",
    "rebuke_trust_loss",
    "quarrel_trust_loss",
    "trust_drift",
    "domestic_gain_unanswered",
    "domestic_decay",
    "trust_weight",
    "protection_weight",
    "dependence_weight",
    "retaliation_weight",
    "outside_weight",
    "domestic_weight",
    "contagion_weight",
    "hazard_slope",
    "disengage_intercept",
    "freeze_intercept",
    "withdraw_intercept",
    "reengage_intercept",
    "renewal_hazard_factor",
    "stage_duration_weight",
    "cascade_weight",
    "unobserved_sd",
    "crisis_rate_scale",
    "lasting_grievance",
    "alliance_value_weight",
    "backing_trust_loss",
    "help_trust_gain",
    "help_domestic_cost",
    "force_trust_loss",
    "help_willingness",
    "help_answer_weight",
    "witness_dilution",
)
(
    PATRON_RECOVERY,
    DRAIN_SCALE,
    INTERVENTION_COST,
    ANSWER_WILLINGNESS,
    ANSWER_CAPACITY,
    BACKER_COST,
    INTRA_MEMBER_COST,
    TRUST_GAIN,
    TRUST_LOSS,
    BLAME,
    SPILLOVER,
    REBUKE_LOSS,
    QUARREL_LOSS,
    TRUST_DRIFT,
    DOMESTIC_GAIN,
    DOMESTIC_DECAY,
    TRUST,
    PROTECTION,
    DEPENDENCE,
    RETALIATION,
    OUTSIDE,
    DOMESTIC,
    CONTAGION,
    SLOPE,
    DISENGAGE,
    FREEZE,
    WITHDRAW,
    REENGAGE,
    RENEWAL,
    DURATION,
    CASCADE,
    UNOBSERVED_SD,
    CRISIS_SCALE,
    LASTING,
    ALLIANCE_VALUE,
    BACKING_LOSS,
    HELP_GAIN,
    HELP_COST,
    FORCE_LOSS,
    HELP_WILLINGNESS,
    HELP_WEIGHT,
    WITNESS_DILUTION,
) = range(len(RULE_PARAMETERS))
COUNT = len(RULE_PARAMETERS)


@njit(cache=True, inline="always")
def row_parameters(values, r):
    """Row r of the parameter table as a tuple of floats (`RULE_PARAMETERS` order). A tuple is
    a value the compiler keeps in registers, not memory it must reload after every store. The
    values are read one by one: a view of the row would cost reference counting."""
    return (
        values[r, 0],
        values[r, 1],
        values[r, 2],
        values[r, 3],
        values[r, 4],
        values[r, 5],
        values[r, 6],
        values[r, 7],
        values[r, 8],
        values[r, 9],
        values[r, 10],
        values[r, 11],
        values[r, 12],
        values[r, 13],
        values[r, 14],
        values[r, 15],
        values[r, 16],
        values[r, 17],
        values[r, 18],
        values[r, 19],
        values[r, 20],
        values[r, 21],
        values[r, 22],
        values[r, 23],
        values[r, 24],
        values[r, 25],
        values[r, 26],
        values[r, 27],
        values[r, 28],
        values[r, 29],
        values[r, 30],
        values[r, 31],
        values[r, 32],
        values[r, 33],
        values[r, 34],
        values[r, 35],
        values[r, 36],
        values[r, 37],
        values[r, 38],
        values[r, 39],
        values[r, 40],
        values[r, 41],
    )


@njit(cache=True, inline="always")
def logistic(x):
    """Map log-odds to a probability."""
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, inline="always")
def halves_gone(stage):
    """How far a member has gone, in halves: frozen counts 1/2, withdrawn 1."""
    return (stage >= FROZEN) + (stage == WITHDRAWN)


@njit(cache=True, inline="always")
def drift(value, baseline, rate):
    """Trust or domestic pressure after closing `rate` of the gap to its baseline (7.8)."""
    return value + (baseline - value) * rate


@njit(cache=True, inline="always")
def out_share(gone, own, others):
    """The share of the other members gone, frozen counting 1/2 and withdrawn 1: `gone` the
    halves gone among the members in the alliance, `own` the member's own halves (0 if it is
    not in), `others` how many other members are in (7.9a). 0 without other members."""
    return (gone - own) * 0.5 / max(others, 1.0)


@njit(cache=True, inline="always")
def balance_of(
    q, trust, domestic, unmet_threat, dependence, outside, capacity, leverage, gone_share,
    value, unobserved,
):  # fmt: skip
    """Reasons to leave minus reasons to stay (positive: leaning out), plus the member's
    unobserved reasons. Protection counts only the threat the member cannot meet itself and
    rests on the patron's free capacity; feared retaliation rests on its economic leverage;
    the alliance's own `value` counts with the share of the other members still in, and
    contagion with the share gone, `gone_share` (7.9a)."""
    stay = q[PROTECTION] * trust * capacity * unmet_threat
    stay += q[DEPENDENCE] * dependence
    stay += q[TRUST] * trust
    stay += q[RETALIATION] * leverage * dependence
    stay += q[ALLIANCE_VALUE] * value * (1.0 - gone_share)
    leave = q[DOMESTIC] * domestic
    leave += q[OUTSIDE] * outside
    leave += q[CONTAGION] * gone_share
    return leave - stay + unobserved


@njit(cache=True, inline="always")
def duration_term(weight, months_in_stage, duration):
    """The hazard's term for the time spent in the stage, `weight x ln(1 + years)` with `weight`
    the lane's `stage_duration_weight` (7.13), or 0 where time in a stage does not enter the
    hazard (`duration` off). The weight alone is passed so that a caller need not unpack a lane's
    whole parameter row for it."""
    if not duration:
        return 0.0
    return weight * math.log1p(months_in_stage / 12.0)


@njit(cache=True, inline="always")
def forward_log_odds(q, stage, balance, term):
    """Log-odds of one step toward exit from `stage` this month (-inf once withdrawn): the
    stage's intercept plus the slope times the balance, plus the duration term (7.9b)."""
    intercept = q[WITHDRAW]
    if stage == DISENGAGED:
        intercept = q[FREEZE]
    if stage == ACTIVE:
        intercept = q[DISENGAGE]
    log_odds = q[SLOPE] * balance + intercept + term
    return -np.inf if stage == WITHDRAWN else log_odds


@njit(cache=True, inline="always")
def forward_hazard_of(q, stage, balance, term, renewal):
    """Monthly chance of one step toward exit from `stage` (0 once withdrawn); inside a renewal
    window (`renewal`) a frozen member's chance of withdrawing is multiplied by
    `renewal_hazard_factor` (at most 1) (7.9b, 7.13). `term` is the duration term."""
    log_odds = forward_log_odds(q, stage, balance, term)
    hazard = 1.0 / (1.0 + math.exp(-log_odds))
    if renewal and stage == FROZEN:
        hazard = min(hazard * q[RENEWAL], 1.0)
    return hazard


@njit(cache=True, inline="always")
def back_hazard_of(q, balance):
    """Monthly chance of one step back toward active (meaningful when disengaged or frozen)."""
    return logistic(q[REENGAGE] - q[SLOPE] * balance)


@njit(cache=True, inline="always")
def cascade(q, stage, balance, fresh, renewal):
    """Further steps in the month of a step toward exit, now at `stage`: each taken while the
    fresh uniform (the month's draw given the steps so far) is below `cascade_weight` times the
    stage's hazard at the month's balance (no time spent in it yet). Returns the extra steps
    (7.9c)."""
    extra = 0
    while stage < WITHDRAWN and q[CASCADE] > 0.0:
        hazard = q[CASCADE] * forward_hazard_of(q, stage, balance, 0.0, renewal)
        if not fresh < hazard:
            break
        fresh /= hazard
        stage += 1
        extra += 1
    return extra


@intrinsic
def power_of_two(typingctx, k):  # noqa: ARG001 (numba's signature)
    """2.0 ** k for an integer k in [-1022, 1023], built from its bits (exponent k + 1023)."""

    def codegen(context, builder, signature, args):
        wide = ir.IntType(64)
        bits = builder.shl(builder.add(args[0], ir.Constant(wide, 1023)), ir.Constant(wide, 52))
        return builder.bitcast(bits, ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, inline="always")
def exp_bound(x):
    """A number at least exp(x) and at most about twice it: 2 to the power of x log2(e),
    rounded up (with a margin of 1e-6 in the power, far above any rounding error), and 2 for
    x > 0.69 (any bound of a probability at 1 or more will do). Branch-free, so that loops
    over lanes vectorise."""
    power = max(x * 1.4426950408889634 + 1e-6, -1100.0)
    return power_of_two(min(max(math.ceil(power), -1022), 1))


@njit(cache=True, inline="always")
def may_move(q, stage, balance, term, draw, renewal):
    """Whether the `transition` draw can move the member this month. Each hazard is a logistic,
    below exp of its log-odds: where the draw clears `exp_bound` of the forward log-odds (and,
    disengaged or frozen, of the back log-odds) no step can happen, and neither hazard need be
    computed (7.9c). Most member-months are decided this way, without an `exp`."""
    bound = exp_bound(forward_log_odds(q, stage, balance, term))
    if renewal and stage == FROZEN:
        bound *= q[RENEWAL]
    back = exp_bound(q[REENGAGE] - q[SLOPE] * balance)
    can_go_back = (stage == DISENGAGED) | (stage == FROZEN)
    return (stage != WITHDRAWN) & ((draw < bound) | (can_go_back & (draw > 1.0 - back)))


@njit(cache=True, inline="always")
def step_of(q, stage, balance, term, draw, renewal):
    """The member's move this month from its `transition` draw: +1 (or more, in a cascade) if
    the draw is below the forward hazard, -1 if it is above 1 - back hazard (the back hazard
    capped at 1 - forward, so the two never overlap), else 0 (7.9c). The month kernel calls it
    only where `may_move` says the draw could move the member: elsewhere it gives 0 too."""
    forward = forward_hazard_of(q, stage, balance, term, renewal)
    if draw < forward:
        return 1 + cascade(q, stage + 1, balance, draw / forward, renewal)
    if stage in (DISENGAGED, FROZEN):
        back = min(back_hazard_of(q, balance), 1.0 - forward)
        if draw > 1.0 - back:
            return -1
    return 0


@njit(cache=True, nogil=True)
def forward_hazards(parameters, status, balance, stage_since, month, duration, renewal):
    """One member's forward hazard in every lane at its current balance (for inspection);
    `parameters` the model's `sim.model.tables.Parameters`."""
    out = np.empty(status.size)
    for j in range(status.size):
        q = row_parameters(parameters.values, parameters.row[j])
        months_in_stage = float(month - stage_since[j])
        term = duration_term(q[DURATION], months_in_stage, duration)
        out[j] = forward_hazard_of(q, status[j], balance[j], term, renewal)
    return out
