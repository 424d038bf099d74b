"""One month of every lane in one compiled pass: the patron's drain, projected regime changes,
aid requests (replayed and random), signals, drift and exits (docs/model.md section 3, steps
2 and 4-9), each lane's month computed in registers from its own random numbers.

The rules themselves live in `sim.model.rules` (drift and exits) and `sim.model.requests` (the
patron, requests, signals); this module only orders them, month by month and lane by lane, and
reads each lane's uniforms from its PCG64 stream where they are used (`sim.model.pcg`), in the
layout of `sim.model.streams`: each block of lanes draws, every month, `MAIN_DRAWS` rows of
(members x block) uniforms in the order crisis, answer, transition, and a month that reads a row
skips nothing, a month that does not read it skips it whole. So the numbers are exactly those
numpy's `Generator.random` would give for the same seed, without buffers or copies.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.model import pcg
from sim.model.requests import (
    answer_probability,
    intervene,
    own_request,
    recover,
    regime_shock,
    signal,
    split_uniform,
    unanswered_loss,
    witness,
    witness_shares,
)
from sim.model.rules import (
    CRISIS_SCALE,
    DOMESTIC_DECAY,
    QUARREL_LOSS,
    REBUKE_LOSS,
    SPILLOVER,
    TRUST_DRIFT,
    balance_of,
    drift,
    halves_gone,
    lane_parameters,
    step_of,
)
from sim.model.stages import WITHDRAWN

MAIN_DRAWS = 3  # rows drawn from each block's main stream every month: crisis, answer, transition
CRISIS, ANSWER, TRANSITION, REGIME = range(4)
# Month flags (`flags`, int64): which rows the month reads, and its switches.
READS_CRISIS, READS_ANSWER, READS_TRANSITION, READS_REGIME = range(4)
PROJECTED, DURATION, RENEWAL, LEVERAGE_MOVES, MONTH = range(4, 9)
FLAGS = 9
# The patron's month (`patron`, float64): drains and the baselines recovery closes toward.
DRAIN, LEVERAGE_DRAIN, CAPACITY_BASELINE, LEVERAGE_BASELINE = range(4)
# Members' shared values (`members`, float64, one row per member).
(
    BASELINE_TRUST,
    UNMET_THREAT,
    DEPENDENCE_VALUE,
    OUTSIDE_VALUE,
    CRISIS_RATE,
    CRISIS_AGAINST,
    CRISIS_BACKED,
    REGIME_RATE,
    REGIME_SHIFT,
) = range(9)
MEMBER_COLUMNS = 9
# The month's replayed requests (`requests`, int64 rows) and signals (`signals`, float64 rows).
REQUESTER, AGAINST_MEMBER, BACKED, RESPONSE = range(4)
SIGNALLER, QUARREL, SEVERITY = range(3)
# What lane 0 did (`log`, int64): per replayed request, per member's random crisis, per member's
# projected regime change: -2 nothing, -1/1 a regime shift's sign, 0/1 unanswered/answered.
NOTHING = -2


@njit(cache=True)
def open_cursors(words, stride, first, rows, members, cursors):
    """Cursors into a block's stream for this month: row r, member m starts `first` numbers
    into its (members x block) stretch; `stride` jumps one member's stretch of `block` numbers.
    `cursors` is (rows, members, 2): each cursor's state (high, low)."""
    high, low = pcg.jumped(words, first)
    for r in range(rows):
        for m in range(members):
            cursors[r, m, 0] = high
            cursors[r, m, 1] = low
            high, low = pcg.mul_add(stride[0], stride[1], high, low, stride[2], stride[3])


@njit(cache=True, inline="always")
def next_uniform(cursors, r, m, inc_high, inc_low):
    """The next number of cursor (r, m), which moves on by one."""
    high, low = pcg.step(cursors[r, m, 0], cursors[r, m, 1], inc_high, inc_low)
    cursors[r, m, 0] = high
    cursors[r, m, 1] = low
    return pcg.output(high, low)


@njit(cache=True, inline="always")
def finish_block(words, by):
    """Move a block's stream past this month's numbers, drawn or skipped."""
    high, low = pcg.jumped(words, by)
    words[0] = high
    words[1] = low


@njit(cache=True)
def block_span(b, offset, block, replications):
    """The replications block b holds in the chunk: (offset of the first in the block, stop,
    that replication's index in the chunk)."""
    start = b * block - offset
    low = max(-start, 0)
    high = min(replications - start, block)
    return low, high, start + low


@njit(cache=True, nogil=True)
def fill_month(streams, jumps, regime, regime_jumps, layout, flags, out):
    """This month's uniforms of every lane into `out` (rows, members, lanes), as the month
    kernel reads them, rows not read left as they are; then every stream moves past the month.
    For tests and inspection of the layout: the kernel itself never stores them."""
    block, offset, replications, points = layout[0], layout[1], layout[2], layout[3]
    members = out.shape[1]
    cursors = np.empty((MAIN_DRAWS, members, 2), dtype=np.uint64)
    side = np.empty((1, members, 2), dtype=np.uint64)
    for b in range(streams.shape[0]):
        low, high, first = block_span(b, offset, block, replications)
        words = streams[b]
        open_cursors(words, jumps[b, 1], jumps[b, 0], MAIN_DRAWS, members, cursors)
        if flags[READS_REGIME]:
            open_cursors(regime[b], regime_jumps[b, 1], regime_jumps[b, 0], 1, members, side)
        for k in range(high - low):
            r = first + k
            for row in range(MAIN_DRAWS):
                if flags[row]:
                    for m in range(members):
                        u = next_uniform(cursors, row, m, words[2], words[3])
                        for p in range(points):
                            out[row, m, p * replications + r] = u
            if flags[READS_REGIME]:
                for m in range(members):
                    u = next_uniform(side, 0, m, regime[b, 2], regime[b, 3])
                    for p in range(points):
                        out[REGIME, m, p * replications + r] = u
        finish_block(words, jumps[b, 2])
        if flags[READS_REGIME]:
            finish_block(regime[b], regime_jumps[b, 2])


@njit(cache=True, nogil=True)
def step_month(
    shared,
    per_lane,
    streams,
    jumps,
    regime,
    regime_jumps,
    layout,
    flags,
    patron,
    members,
    requests,
    signals,
    capacity,
    leverage,
    trust,
    domestic,
    baseline_domestic,
    status,
    stage_since,
    balance,
    unobserved,
    first_passage,
    log,
):
    """Every lane's month after the replayed member changes, in the order of docs/model.md
    section 3: drain and recovery, projected regime changes, replayed requests, random crises,
    signals, then drift and exits (members in file order within a lane).

    `streams` (blocks, 4) are the blocks' PCG64 words, `jumps` (blocks, 3, 4) each block's maps
    to its chunk's first lane, over one member's stretch and over a whole month (`regime`,
    `regime_jumps` likewise for the side stream); `layout` = (block, offset of the chunk's first
    replication in its block, replications, points). State arrays are (members, lanes),
    `first_passage` (lanes, members, 3); `baseline_domestic` and `unobserved` may have one column
    shared by every lane. `log` (empty unless the month is logged) gets lane 0's answers and
    regime shifts. The whole month is one function on purpose: rules are called with floats
    only, since handing arrays to a function costs reference counting per call.
    """
    block, offset, replications, points = layout[0], layout[1], layout[2], layout[3]
    count = members.shape[0]
    t = flags[MONTH]
    duration, renewal = flags[DURATION] != 0, flags[RENEWAL] != 0
    cursors = np.empty((MAIN_DRAWS, count, 2), dtype=np.uint64)
    side = np.empty((1, count, 2), dtype=np.uint64)
    u = np.empty((4, count))
    # The month's requests in the order they are made: replayed ones, then random crises.
    # Each: requester, against a member, backed opponent, response, answer draw, log slot.
    asking = np.empty((requests.shape[0] + count, 6))
    q = lane_parameters(shared, per_lane, 0)
    lane_values = per_lane.shape[0] > 0
    home_lanes = baseline_domestic.shape[1] > 1
    own_spread = unobserved.shape[1] > 1
    for b in range(streams.shape[0]):
        low, high, first = block_span(b, offset, block, replications)
        words = streams[b]
        open_cursors(words, jumps[b, 1], jumps[b, 0], MAIN_DRAWS, count, cursors)
        if flags[READS_REGIME]:
            open_cursors(regime[b], regime_jumps[b, 1], regime_jumps[b, 0], 1, count, side)
        for k in range(high - low):
            r = first + k
            for row in range(MAIN_DRAWS):
                if flags[row]:
                    for m in range(count):
                        u[row, m] = next_uniform(cursors, row, m, words[2], words[3])
            if flags[READS_REGIME]:
                for m in range(count):
                    u[REGIME, m] = next_uniform(side, 0, m, regime[b, 2], regime[b, 3])
            for p in range(points):
                j = p * replications + r
                logging = log.size > 0 and j == 0
                if lane_values:
                    q = lane_parameters(shared, per_lane, j)
                home = j if home_lanes else 0
                # 7.1 drain and recovery
                capacity[j] = recover(capacity[j], patron[CAPACITY_BASELINE], patron[DRAIN], q)
                if flags[LEVERAGE_MOVES]:
                    leverage[j] = recover(
                        leverage[j], patron[LEVERAGE_BASELINE], patron[LEVERAGE_DRAIN], q
                    )
                # 7.12 projected regime changes
                if flags[READS_REGIME]:
                    for i in range(count):
                        rate = members[i, REGIME_RATE]
                        if rate > 0.0 and u[REGIME, i] < rate:
                            size = members[i, REGIME_SHIFT]
                            shift = size if u[REGIME, i] / rate < 0.5 else -size
                            domestic[i, j] = regime_shock(domestic[i, j], shift)
                            baseline_domestic[i, home] = regime_shock(
                                baseline_domestic[i, home], shift
                            )
                            if logging:
                                log[requests.shape[0] + count + i] = 1 if shift > 0 else -1
                # 7.2-7.6 requests: replayed (in file order), then random crises (member order)
                made = 0
                for k2 in range(requests.shape[0]):
                    i = requests[k2, REQUESTER]
                    if status[i, j] != WITHDRAWN:
                        asking[made, 0] = i
                        asking[made, 1] = requests[k2, AGAINST_MEMBER]
                        asking[made, 2] = requests[k2, BACKED]
                        asking[made, 3] = requests[k2, RESPONSE]
                        asking[made, 4] = u[ANSWER, i]
                        asking[made, 5] = k2
                        made += 1
                if flags[PROJECTED]:
                    for i in range(count):
                        rate = min(members[i, CRISIS_RATE] * q[CRISIS_SCALE], 1.0)
                        draw = u[CRISIS, i]
                        if draw < rate and status[i, j] != WITHDRAWN:
                            against, rest = split_uniform(draw / rate, members[i, CRISIS_AGAINST])
                            backed, decide = split_uniform(rest, members[i, CRISIS_BACKED])
                            asking[made, 0] = i
                            asking[made, 1] = 1.0 if against else 0.0
                            asking[made, 2] = 1.0 if backed else 0.0
                            asking[made, 3] = -1.0
                            asking[made, 4] = decide
                            asking[made, 5] = requests.shape[0] + i
                            made += 1
                for k2 in range(made):
                    i = int(asking[k2, 0])
                    response = asking[k2, 3]
                    if response < 0.0:
                        p_answer = answer_probability(q, capacity[j], asking[k2, 1], asking[k2, 2])
                        answered = 1.0 if asking[k2, 4] < p_answer else 0.0
                    else:
                        answered = response
                    loss = unanswered_loss(q, capacity[j])
                    capacity[j] = intervene(q, capacity[j], answered)
                    trust[i, j], domestic[i, j] = own_request(
                        q, trust[i, j], domestic[i, j], answered, loss
                    )
                    gain, lost = witness_shares(q, answered, loss)
                    for m in range(count):
                        if m != i:
                            trust[m, j] = witness(trust[m, j], gain, lost)
                    if logging:
                        log[int(asking[k2, 5])] = int(answered)
                # 7.7 signals
                for k2 in range(signals.shape[0]):
                    signaller = int(signals[k2, SIGNALLER])
                    loss = q[QUARREL_LOSS] if signals[k2, QUARREL] else q[REBUKE_LOSS]
                    for m in range(count):
                        share = 1.0 if m == signaller else q[SPILLOVER]
                        trust[m, j] = signal(trust[m, j], share, loss, signals[k2, SEVERITY])
                # 7.8-7.9 drift and exits; contagion counts the statuses at the phase's start
                total_gone = 0
                for i in range(count):
                    total_gone += halves_gone(status[i, j])
                for i in range(count):
                    value = drift(trust[i, j], members[i, BASELINE_TRUST], q[TRUST_DRIFT])
                    trust[i, j] = value
                    pressure = drift(domestic[i, j], baseline_domestic[i, home], q[DOMESTIC_DECAY])
                    domestic[i, j] = pressure
                    stage = status[i, j]
                    others = (total_gone - halves_gone(stage)) * 0.5
                    shift = unobserved[i, j if own_spread else 0]
                    b_ij = balance_of(
                        q, value, pressure, members[i, UNMET_THREAT], members[i, DEPENDENCE_VALUE],
                        members[i, OUTSIDE_VALUE], capacity[j], leverage[j], others, shift,
                    )  # fmt: skip
                    balance[i, j] = b_ij
                    months_in_stage = float(t - stage_since[i, j])
                    move = step_of(q, stage, b_ij, months_in_stage, u[TRANSITION, i], duration,
                                   renewal)  # fmt: skip
                    if move != 0:
                        stage += move
                        status[i, j] = stage
                        if duration:
                            stage_since[i, j] = t
                        for reached in range(1, stage + 1 if move > 0 else 1):
                            if first_passage[j, i, reached - 1] < 0:
                                first_passage[j, i, reached - 1] = t
        finish_block(words, jumps[b, 2])
        if flags[READS_REGIME]:
            finish_block(regime[b], regime_jumps[b, 2])
    return t
