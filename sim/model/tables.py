"""The layouts of the tables the month kernel reads (`sim.model.month`): which random rows a
month reads, its switches, the patron's month, the members' shared values, the month's replayed
requests and signals, and lane 0's log; and the four named groups the kernel takes them in
(`Parameters`, `Streams`, `Month`, `State`). One module, so that the model that fills the tables
and the kernels that read them name the same columns.

The groups are named tuples of arrays: numba compiles a kernel for them as for the arrays one by
one (the same loads, and its on-disk cache keeps working), and passes them at the cost of about
one microsecond a call.
"""

from typing import NamedTuple

import numpy as np

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
    IN_ALLIANCE,  # 1 from the member's joining (or the start) until its exclusion, else 0
    UNMET_THREAT,
    DEPENDENCE_VALUE,
    OUTSIDE_VALUE,
    CRISIS_RATE,
    CRISIS_AGAINST,
    CRISIS_BACKED,
    REGIME_RATE,
    REGIME_SHIFT,
    OWN_VALUE,  # the alliance's own value to the member (its ties to the other members)
) = range(10)
MEMBER_COLUMNS = 10
# The month's replayed requests (`requests`, int64 rows) and signals (`signals`, float64 rows).
REQUESTER, AGAINST_MEMBER, BACKED, RESPONSE = range(4)
SIGNALLER, SIGNAL_KIND, SEVERITY = range(3)
# Signal kinds: the member's rebuke or summit quarrel, the patron backing the member's opponent
# or using force against it (these two leave a lasting grievance), the member answering the
# patron's call for help (history's answer), the member asked for help (the model decides).
REBUKE_SIGNAL, QUARREL_SIGNAL, BACKING_SIGNAL, FORCE_SIGNAL, HELP_SIGNAL, ASKED_SIGNAL = range(6)
# What lane 0 did (`log`, int64): per replayed request, per member's random crisis, per member's
# projected regime change, per signal (a call for help the model decides): -2 nothing, -1/1 a
# regime shift's sign, 0/1 unanswered/answered.
NOTHING = -2


class Parameters(NamedTuple):
    """The model's parameters, the one shape they take from the scenario to the kernels
    (`sim.model.parameters.parameter_table` builds it): `values` (rows, parameters) float64,
    the distinct rows in the order of `sim.model.parameters.PARAMETERS`, and `row` (lanes,)
    int64, the row of each lane. One row when every lane shares its parameters; a sweep's points
    or a posterior's draws are rows of their own. Lanes that share a row share its arithmetic:
    the kernel runs a block of them through the vectorised loops with one parameter tuple."""

    values: np.ndarray
    row: np.ndarray


class Streams(NamedTuple):
    """The random streams of a chunk's blocks of lanes (`sim.model.streams.LaneUniforms`):
    `words` (blocks, 4) each block's PCG64 state, `jumps` (blocks, 3, 4) its maps to the chunk's
    first lane, over one member's stretch and over a whole month; `regime_words`,
    `regime_jumps` the same for the regime side stream ((0, ...) until enabled); `layout` =
    (block, offset of the chunk's first replication in its block, replications, points)."""

    words: np.ndarray
    jumps: np.ndarray
    regime_words: np.ndarray
    regime_jumps: np.ndarray
    layout: np.ndarray


class Month(NamedTuple):
    """What one month brings, shared by every lane: `flags` (FLAGS,) int64, `patron` the
    patron's month (float64), `members` (members, MEMBER_COLUMNS) float64, the replayed
    `requests` (k, 4) int64 and `signals` (k, 3) float64, and `log` (int64, empty unless lane 0's
    month is logged)."""

    flags: np.ndarray
    patron: np.ndarray
    members: np.ndarray
    requests: np.ndarray
    signals: np.ndarray
    log: np.ndarray


class State(NamedTuple):
    """The lanes' state the kernel changes in place, held by the Mesa agents: the patron's
    `capacity` and `leverage` (lanes,); the members' `trust`, `baseline_trust`, `domestic`,
    `baseline_domestic`, `status` (int8), `stage_since` (int16), `balance`, `unobserved`
    (members, lanes); `first_passage` (lanes, members, 3) int16."""

    capacity: np.ndarray
    leverage: np.ndarray
    trust: np.ndarray
    baseline_trust: np.ndarray
    domestic: np.ndarray
    baseline_domestic: np.ndarray
    status: np.ndarray
    stage_since: np.ndarray
    balance: np.ndarray
    unobserved: np.ndarray
    first_passage: np.ndarray
