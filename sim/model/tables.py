"""The layouts of the tables the month kernel reads (`sim.model.month`): which random rows a
month reads, its switches, the patron's month, the members' shared values, the month's replayed
requests and signals, and lane 0's log. One module, so that the model that fills the tables and
the kernels that read them name the same columns.
"""

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
