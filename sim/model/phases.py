"""The phases of a month for a block of lanes, in the order of docs/model.md section 3: the
patron's drain, the rare events (regime changes, requests, signals), then every member's drift,
balance and exit screen, then the moves. The month kernel (`sim.model.month.step_month`) runs
them one after another on each block's lanes `base..base+n-1`; since lanes are independent,
each lane still meets its rules in the documented order.

The rules themselves are in `sim.model.rules` and `sim.model.requests`; here they are applied
to arrays. The drain and the screen are loops over lanes without branches the compiler cannot
turn into selects, so they run on several lanes at once (SIMD); the rare events and the moves
of the few lanes the screen lets through run lane by lane. Each phase takes the month's groups
of `sim.model.tables` (`parameters`, `month`, `state`) and `q`, the parameter tuple the block's
lanes share, used unless they are `mixed` (each lane then reads its own row).
The phases are inlined into the month kernel: a call of a compiled function that takes arrays
costs atomic reference counting of each of them, which for a sweep's blocks of 100 lanes (four
phases, 32 points a month) was a fifth of the kernel's time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.model.requests import (
    answer_probability,
    help_probability,
    intervene,
    lasting,
    own_request,
    recover,
    regime_shock,
    send_help,
    signal,
    spill_share,
    split_uniform,
    unanswered_loss,
    witness,
    witness_shares,
)
from sim.model.rules import (
    BACKING_LOSS,
    CRISIS_SCALE,
    DOMESTIC_DECAY,
    FORCE_LOSS,
    QUARREL_LOSS,
    REBUKE_LOSS,
    TRUST_DRIFT,
    balance_of,
    drift,
    duration_term,
    halves_gone,
    may_move,
    out_share,
    row_parameters,
    step_of,
)
from sim.model.rules import DURATION as DURATION_WEIGHT
from sim.model.stages import WITHDRAWN
from sim.model.tables import (
    AGAINST_MEMBER,
    ANSWER,
    ASKED_SIGNAL,
    BACKED,
    BACKING_SIGNAL,
    CAPACITY_BASELINE,
    CRISIS,
    CRISIS_AGAINST,
    CRISIS_BACKED,
    CRISIS_RATE,
    DEPENDENCE_VALUE,
    DRAIN,
    DURATION,
    FORCE_SIGNAL,
    HELP_SIGNAL,
    IN_ALLIANCE,
    LEVERAGE_BASELINE,
    LEVERAGE_DRAIN,
    LEVERAGE_MOVES,
    MONTH,
    OUTSIDE_VALUE,
    OWN_VALUE,
    PROJECTED,
    QUARREL_SIGNAL,
    READS_REGIME,
    REGIME,
    REGIME_RATE,
    REGIME_SHIFT,
    RENEWAL,
    REQUESTER,
    RESPONSE,
    SEVERITY,
    SIGNAL_KIND,
    SIGNALLER,
    TRANSITION,
    UNMET_THREAT,
)


@njit(cache=True, inline="always")
def lane(base, k):
    """Lane base + k as an unsigned index: numba checks a signed index for wrap-around from the
    end, a branch that keeps the compiler from vectorising a loop over lanes."""
    return np.uint64(base) + np.uint64(k)


@njit(cache=True, inline="always")
def parameters_of(q, parameters, mixed, j):
    """Lane j's parameter tuple: its own row where the block's lanes differ, else the shared `q`."""
    return row_parameters(parameters.values, parameters.row[j]) if mixed else q


@njit(cache=True, inline="always")
def drain(q, parameters, mixed, month, state, base, n):
    """7.1: every lane's capacity, and leverage once it moves, recover and lose the drains."""
    patron, capacity, leverage = month.patron, state.capacity, state.leverage
    cap_base, cap_drain = patron[CAPACITY_BASELINE], patron[DRAIN]
    lev_base, lev_drain = patron[LEVERAGE_BASELINE], patron[LEVERAGE_DRAIN]
    moves = month.flags[LEVERAGE_MOVES] != 0
    if not mixed:  # one parameter tuple: a loop the compiler vectorises
        for k in range(n):
            j = lane(base, k)
            capacity[j] = recover(capacity[j], cap_base, cap_drain, q)
        if moves:
            for k in range(n):
                j = lane(base, k)
                leverage[j] = recover(leverage[j], lev_base, lev_drain, q)
        return
    for j in range(base, base + n):
        lane_q = parameters_of(q, parameters, mixed, j)
        capacity[j] = recover(capacity[j], cap_base, cap_drain, lane_q)
        if moves:
            leverage[j] = recover(leverage[j], lev_base, lev_drain, lane_q)


@njit(cache=True, inline="always")
def lane_events(q, parameters, mixed, month, state, base, n, u, struck):
    """7.12, 7.2-7.7: each lane's projected regime changes, replayed requests (file order), random
    crises (member order) and signals. A lane with none of them this month is passed over: in a
    month without replayed requests or signals, `struck` first marks the lanes a crisis or a
    regime change reaches (with shared parameters, in loops the compiler vectorises). A member's
    `answer` uniform decides, in turn, its model-decided requests and its answers to calls for
    help, each using what the one before left of it (`split_uniform`, 7.6): `fresh`."""
    flags, members, requests, signals, log = (
        month.flags,
        month.members,
        month.requests,
        month.signals,
        month.log,
    )
    capacity, trust, baseline_trust = state.capacity, state.trust, state.baseline_trust
    domestic, baseline_domestic, status = state.domestic, state.baseline_domestic, state.status
    count = members.shape[0]
    replayed = requests.shape[0]
    quiet = replayed == 0 and signals.shape[0] == 0
    if quiet and not flags[READS_REGIME] and not flags[PROJECTED]:
        return
    for k in range(n):
        struck[k] = not quiet
    fresh = np.empty(count)
    if quiet:
        for i in range(count):
            if flags[READS_REGIME]:
                rate = members[i, REGIME_RATE]
                for k in range(n):
                    struck[k] |= u[REGIME, i, k] < rate
            if flags[PROJECTED] and not mixed:
                rate = min(members[i, CRISIS_RATE] * q[CRISIS_SCALE], 1.0)
                for k in range(n):
                    struck[k] |= u[CRISIS, i, k] < rate
            elif flags[PROJECTED]:  # each lane's own crisis_rate_scale, the one value needed
                for k in range(n):
                    scale = parameters.values[parameters.row[lane(base, k)], CRISIS_SCALE]
                    struck[k] |= u[CRISIS, i, k] < min(members[i, CRISIS_RATE] * scale, 1.0)
    for k in range(n):
        if not struck[k]:
            continue
        j = base + k
        lane_q = parameters_of(q, parameters, mixed, j)
        logging = log.size > 0 and j == 0
        for i in range(count):
            fresh[i] = u[ANSWER, i, k]
        if flags[READS_REGIME]:
            for i in range(count):
                rate = members[i, REGIME_RATE]
                if rate > 0.0 and u[REGIME, i, k] < rate:
                    size = members[i, REGIME_SHIFT]
                    shift = size if u[REGIME, i, k] / rate < 0.5 else -size
                    domestic[i, j] = regime_shock(domestic[i, j], shift)
                    baseline_domestic[i, j] = regime_shock(baseline_domestic[i, j], shift)
                    if logging:
                        log[replayed + count + i] = 1 if shift > 0 else -1
        for r in range(replayed):
            i = requests[r, REQUESTER]
            if status[i, j] != WITHDRAWN and members[i, IN_ALLIANCE] > 0.0:
                answered, fresh[i] = request(
                    lane_q, j, i, float(requests[r, AGAINST_MEMBER]), float(requests[r, BACKED]),
                    requests[r, RESPONSE], fresh[i], capacity, trust, baseline_trust, domestic,
                )  # fmt: skip
                if logging:
                    log[r] = answered
        if flags[PROJECTED]:
            for i in range(count):
                rate = min(members[i, CRISIS_RATE] * lane_q[CRISIS_SCALE], 1.0)
                draw = u[CRISIS, i, k]
                if draw < rate and status[i, j] != WITHDRAWN and members[i, IN_ALLIANCE] > 0.0:
                    against, rest = split_uniform(draw / rate, members[i, CRISIS_AGAINST])
                    backed, decide = split_uniform(rest, members[i, CRISIS_BACKED])
                    answered, _ = request(
                        lane_q, j, i, 1.0 if against else 0.0, 1.0 if backed else 0.0, -1,
                        decide, capacity, trust, baseline_trust, domestic,
                    )  # fmt: skip
                    if logging:
                        log[replayed + i] = answered
        for s in range(signals.shape[0]):
            signaller = int(signals[s, SIGNALLER])
            kind = int(signals[s, SIGNAL_KIND])
            if kind == ASKED_SIGNAL:  # a call for help the member answers or not (7.7)
                if status[signaller, j] == WITHDRAWN or members[signaller, IN_ALLIANCE] == 0.0:
                    continue
                chance = help_probability(
                    lane_q, trust[signaller, j], members[signaller, DEPENDENCE_VALUE],
                    domestic[signaller, j],
                )  # fmt: skip
                answers, fresh[signaller] = split_uniform(fresh[signaller], chance)
                if logging:
                    log[replayed + 2 * count + s] = 1 if answers else 0
                if not answers:
                    continue
            if kind >= HELP_SIGNAL:  # an answer to the patron's call: the helper's own
                trust[signaller, j], domestic[signaller, j] = send_help(
                    lane_q, trust[signaller, j], domestic[signaller, j]
                )
                continue
            loss = lane_q[REBUKE_LOSS]
            if kind == QUARREL_SIGNAL:
                loss = lane_q[QUARREL_LOSS]
            elif kind == BACKING_SIGNAL:
                loss = lane_q[BACKING_LOSS]
            elif kind == FORCE_SIGNAL:
                loss = lane_q[FORCE_LOSS]
            spill = spill_share(lane_q, count - 1)
            for m in range(count):
                share = 1.0 if m == signaller else spill
                trust[m, j] = signal(trust[m, j], share, loss, signals[s, SEVERITY])
            if kind >= BACKING_SIGNAL:  # the patron's own act: a grievance that lasts
                lost = min(loss * signals[s, SEVERITY], 1.0)
                baseline_trust[signaller, j] = lasting(lane_q, baseline_trust[signaller, j], lost)


@njit(cache=True, inline="always")
def request(
    q, j, i, against_member, backed, response, decide, capacity, trust, baseline_trust, domestic
):
    """Member i asks for aid in lane j: history's answer (`response` 0 or 1) or the patron's,
    where `decide` falls below its answer probability; then the cost of answering, the
    requester's trust and pressure (and, unanswered, its lasting grievance), and every
    watcher's trust (7.2-7.5). Returns the answer and what is left of `decide`, a fresh uniform
    (`decide` itself when history answers)."""
    rest = decide
    if response < 0:
        chance = answer_probability(q, capacity[j], against_member, backed)
        answered, rest = split_uniform(decide, chance)
    else:
        answered = response > 0
    flag = 1.0 if answered else 0.0
    loss = unanswered_loss(q, capacity[j])
    capacity[j] = intervene(q, capacity[j], flag)
    trust[i, j], domestic[i, j] = own_request(q, trust[i, j], domestic[i, j], flag, loss)
    baseline_trust[i, j] = lasting(q, baseline_trust[i, j], (1.0 - flag) * loss)
    gain, lost = witness_shares(q, flag, loss, trust.shape[0] - 1)
    for m in range(trust.shape[0]):
        if m != i:
            trust[m, j] = witness(trust[m, j], gain, lost)
    return 1 if answered else 0, rest


@njit(cache=True, inline="always")
def weigh_one(q, trust, settled_trust, domestic, settled_domestic, stage, gone, present, others,
              unmet_threat, dependence, outside, own_value, capacity, leverage, unobserved, term,
              draw, renewal):  # fmt: skip
    """One member in one lane: drift (7.8), the balance (7.9a) and whether its transition draw
    may move it (7.9c; never while it is not in the alliance, `present` 0). `gone` counts the
    halves gone among the members in, `others` how many other members are in. Returns (trust,
    domestic pressure, balance, may move)."""
    value = drift(trust, settled_trust, q[TRUST_DRIFT])
    pressure = drift(domestic, settled_domestic, q[DOMESTIC_DECAY])
    share = out_share(gone, halves_gone(stage) * present, others)
    b = balance_of(
        q, value, pressure, unmet_threat, dependence, outside, capacity, leverage, share,
        own_value, unobserved,
    )  # fmt: skip
    maybe = may_move(q, stage, b, term, draw, renewal) & (present > 0)
    return value, pressure, b, maybe


@njit(cache=True, inline="always")
def weigh(q, parameters, mixed, month, state, base, n, u, gone, terms, maybe):
    """7.8-7.9: every member's drift and balance in every lane, and whether its transition draw
    may move it (`maybe`). Contagion counts the statuses at the start of the phase, before any
    lane moves, of the members in the alliance: members decide together. With one parameter
    tuple for every lane, each member's loop over lanes is vectorised by the compiler (hence
    the two loops: the same call)."""
    flags, members = month.flags, month.members
    capacity, leverage, trust = state.capacity, state.leverage, state.trust
    baseline_trust, domestic, baseline_domestic = (
        state.baseline_trust,
        state.domestic,
        state.baseline_domestic,
    )
    status, stage_since, balance, unobserved = (
        state.status,
        state.stage_since,
        state.balance,
        state.unobserved,
    )
    t = flags[MONTH]
    duration, renewal = flags[DURATION] != 0, flags[RENEWAL] != 0
    for k in range(n):
        gone[k] = 0
    inside = 0.0
    for i in range(members.shape[0]):
        present = members[i, IN_ALLIANCE]
        inside += present
        for k in range(n):
            j = lane(base, k)
            gone[k] += halves_gone(status[i, j]) * int(present)
            if duration:  # a call the vectorised loops below must not make: computed here
                weight = q[DURATION_WEIGHT]
                if mixed:
                    weight = parameters.values[parameters.row[j], DURATION_WEIGHT]
                terms[i, k] = duration_term(weight, float(t - stage_since[i, j]), True)
    for i in range(members.shape[0]):
        present = members[i, IN_ALLIANCE]
        others = inside - present
        unmet, dependence = members[i, UNMET_THREAT], members[i, DEPENDENCE_VALUE]
        outside, own_value = members[i, OUTSIDE_VALUE], members[i, OWN_VALUE]
        if not mixed:
            for k in range(n):
                j = lane(base, k)
                value, pressure, b, may = weigh_one(
                    q, trust[i, j], baseline_trust[i, j], domestic[i, j],
                    baseline_domestic[i, j], status[i, j], gone[k], present, others, unmet,
                    dependence, outside, own_value, capacity[j], leverage[j], unobserved[i, j],
                    terms[i, k] if duration else 0.0, u[TRANSITION, i, k], renewal,
                )  # fmt: skip
                trust[i, j], domestic[i, j], balance[i, j], maybe[i, k] = value, pressure, b, may
        else:
            for k in range(n):
                j = lane(base, k)
                value, pressure, b, may = weigh_one(
                    parameters_of(q, parameters, mixed, j), trust[i, j], baseline_trust[i, j],
                    domestic[i, j], baseline_domestic[i, j], status[i, j], gone[k], present,
                    others, unmet, dependence, outside, own_value, capacity[j], leverage[j],
                    unobserved[i, j], terms[i, k] if duration else 0.0, u[TRANSITION, i, k],
                    renewal,
                )  # fmt: skip
                trust[i, j], domestic[i, j], balance[i, j], maybe[i, k] = value, pressure, b, may


@njit(cache=True, inline="always")
def move(q, parameters, mixed, month, state, base, n, u, maybe):
    """7.9c: the moves of the lanes `weigh` let through, by the exact hazards; a lane that moves
    notes the month as its stage's start and, for each stage first reached, its first passage."""
    flags, status, stage_since = month.flags, state.status, state.stage_since
    balance, first_passage = state.balance, state.first_passage
    t = flags[MONTH]
    duration, renewal = flags[DURATION] != 0, flags[RENEWAL] != 0
    for i in range(status.shape[0]):
        for k in range(n):
            if not maybe[i, k]:
                continue
            j = base + k
            lane_q = parameters_of(q, parameters, mixed, j)
            stage = status[i, j]
            term = duration_term(lane_q[DURATION_WEIGHT], float(t - stage_since[i, j]), duration)
            step = step_of(lane_q, stage, balance[i, j], term, u[TRANSITION, i, k], renewal)
            if step != 0:
                stage += step
                status[i, j] = stage
                if duration:
                    stage_since[i, j] = t
                for reached in range(1, stage + 1 if step > 0 else 1):
                    if first_passage[j, i, reached - 1] < 0:
                        first_passage[j, i, reached - 1] = t
