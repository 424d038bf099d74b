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
from sim.model.phases import drain, lane_events, move, weigh
from sim.model.rules import row_parameters
from sim.model.tables import MAIN_DRAWS, MONTH, READS_REGIME, REGIME


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
def fill_month(streams, flags, out):
    """This month's uniforms of every lane into `out` (rows, members, lanes), as the month
    kernel draws them (`draw_block`), rows not read left as they are; then every stream moves
    past the month. For tests and inspection of the layout: the kernel never stores a month.
    `streams` is a `sim.model.tables.Streams`, `flags` the month's flags."""
    layout = streams.layout
    block, replications, points = layout[0], layout[2], layout[3]
    count = out.shape[1]
    u = np.empty((4, count, min(block, replications)))
    for b in range(streams.words.shape[0]):
        low, high, first = block_span(b, layout[1], block, replications)
        n = high - low
        draw_month(streams, flags, b, count, n, u)
        for row in range(4):
            if flags[row]:
                for p in range(points):
                    out[row, :, p * replications + first : p * replications + first + n] = u[
                        row, :, :n
                    ]


@njit(cache=True)
def draw_month(streams, flags, b, count, n, u):
    """Block b's month: the rows it reads into u (rows, members, n), then its streams past the
    month, the rows it does not read skipped whole; the regime side stream moves only when read."""
    words, jumps = streams.words, streams.jumps
    for row in range(MAIN_DRAWS):
        if flags[row]:
            draw_block(words[b], jumps[b], row, count, n, u)
    finish_block(words[b], jumps[b, 2])
    if flags[READS_REGIME]:
        regime, regime_jumps = streams.regime_words, streams.regime_jumps
        draw_block(regime[b], regime_jumps[b], 0, count, n, u[REGIME:])
        finish_block(regime[b], regime_jumps[b, 2])


@njit(cache=True)
def draw_block(words, jumps, row, count, n, out):
    """Row `row` of a block's month for the chunk's n lanes in the block into out[row]
    (members, n): each member's stretch read in order from a cursor opened by jump-ahead at
    the chunk's first lane in it (`jumps`: to that lane, and over one member's stretch). Two
    members' cursors step side by side in registers, so that their chains overlap (about 1.4 ns
    a number, against 1.6 for all members' cursors kept in memory and 1.8 for one at a time)."""
    high, low = pcg.jumped(words, jumps[0])
    for _ in range(row * count):  # past the rows before it
        high, low = pcg.advanced(jumps[1], high, low)
    inc_high, inc_low = words[2], words[3]
    for m in range(0, count - 1, 2):
        high_0, low_0 = high, low
        high_1, low_1 = pcg.advanced(jumps[1], high_0, low_0)
        high, low = pcg.advanced(jumps[1], high_1, low_1)
        for k in range(n):
            high_0, low_0 = pcg.step(high_0, low_0, inc_high, inc_low)
            high_1, low_1 = pcg.step(high_1, low_1, inc_high, inc_low)
            out[row, m, k] = pcg.output(high_0, low_0)
            out[row, m + 1, k] = pcg.output(high_1, low_1)
    if count % 2:
        for k in range(n):
            high, low = pcg.step(high, low, inc_high, inc_low)
            out[row, count - 1, k] = pcg.output(high, low)


@njit(cache=True)
def shared_row(rows, base, n):
    """The parameter row every lane base..base+n-1 shares, or -1 if they differ."""
    r = rows[base] if n > 0 else 0
    same = True
    for k in range(n):
        same &= rows[base + k] == r
    return r if same else -1


@njit(cache=True, nogil=True)
def step_month(parameters, streams, month, state):
    """Every lane's month after the replayed member changes, in the order of docs/model.md
    section 3: drain and recovery, projected regime changes, replayed requests, random crises,
    signals, then drift and exits (members in file order within a lane). Returns the month.

    The four arguments are the named groups of `sim.model.tables`: the lanes' `Parameters`, the
    chunk's random `Streams`, what the `Month` brings every lane (its flags, the patron's drains,
    the members' shared values, replayed requests and signals, and lane 0's `log`, which gets
    its answers and regime shifts when the month is logged), and the lanes' `State`, changed in
    place.

    Lanes are independent, so a block's lanes go through the month phase by phase (`phases`):
    the drain for all of them, then the rare events lane by lane, then every member's drift,
    balance and exit screen in loops over lanes, then the moves of the few lanes the screen lets
    through. Each lane sees its rules in the documented order. Where a block's lanes share one
    parameter row (every lane of a batch, a sweep's point), the drain and the screen run in
    loops the compiler vectorises, with the row's tuple; otherwise each lane reads its own.
    """
    layout = streams.layout
    block, replications, points = layout[0], layout[2], layout[3]
    count = month.members.shape[0]
    u = np.empty((4, count, min(block, replications)))
    gone = np.empty(u.shape[2], dtype=np.int64)
    maybe = np.empty((count, u.shape[2]), dtype=np.bool_)
    terms = np.empty((count, u.shape[2]))
    struck = np.empty(u.shape[2], dtype=np.bool_)
    for b in range(streams.words.shape[0]):
        low, high, first = block_span(b, layout[1], block, replications)
        n = high - low
        draw_month(streams, month.flags, b, count, n, u)
        for p in range(points):
            base = p * replications + first
            r = shared_row(parameters.row, base, n)
            q = row_parameters(parameters.values, max(r, 0))
            mixed = r < 0
            drain(q, parameters, mixed, month, state, base, n)
            lane_events(q, parameters, mixed, month, state, base, n, u, struck)
            weigh(q, parameters, mixed, month, state, base, n, u, gone, terms, maybe)
            move(q, parameters, mixed, month, state, base, n, u, maybe)
    return month.flags[MONTH]
