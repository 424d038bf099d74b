"""The model's global parameters: one table with meaning, default, sweep range and reason.

`docs/model.md` documents the same table; a test keeps the two in step. A parameter value may be
a scalar (all lanes) or an array with one value per lane (a sweep packed into one model);
`parameter_table` turns the values into the one shape the model and its kernels read.
Defaults are generic: each reason rests on the literature or on the model's logic, never on one
alliance's history; a scenario sets case-specific values in its `parameters` block, with sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.tables import Parameters


@dataclass(frozen=True)
class Parameter:
    """One global model parameter and why its default is what it is."""

    name: str
    default: float
    low: float
    high: float
    meaning: str
    reason: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "patron_recovery",
        0.02,
        0.0,
        0.1,
        "Monthly share of the gap between the patron's capacity (and leverage) and its baseline "
        "that closes.",
        "Military regeneration takes years: 0.02/month closes half a gap in ~3 years; one rate "
        "for capacity and leverage keeps a single recovery knob to calibrate.",
    ),
    Parameter(
        "drain_scale",
        1.0,
        0.0,
        2.0,
        "Multiplier on every scenario drain, of capacity and of leverage (war intensity).",
        "1 replays the scenario's drains as written.",
    ),
    Parameter(
        "intervention_cost",
        0.03,
        0.0,
        0.1,
        "Patron capacity consumed by one answered aid request.",
        "An intervention for one member ties down a small force for weeks or months next to "
        "the patron's whole strength: a few percent of free capacity (model logic).",
    ),
    Parameter(
        "answer_willingness",
        -2.0,
        -4.0,
        1.0,
        "Log-odds that the patron answers a request with no free capacity and no strategic cost.",
        "With answer_capacity_weight 4, a patron with 0.6 of its strength free and no strategic "
        "cost answers 60% of requests: between the 74.5% of commitments honoured in 1816-1944 "
        "(Leeds, Long & Mitchell 2000) and the 50% of 1816-2003 (Berkemeier & Fuhrmann 2018).",
    ),
    Parameter(
        "answer_capacity_weight",
        4.0,
        0.0,
        8.0,
        "Increase in the log-odds of answering per unit of free patron capacity.",
        "A drained patron answers rarely: at capacity 0.3 the odds fall by e^-1.2 against 0.6.",
    ),
    Parameter(
        "backer_cost",
        2.0,
        0.0,
        4.0,
        "Log-odds penalty on answering when the opponent has a third-party backer.",
        "Answering against a backed opponent risks a wider war with the backer: the odds fall "
        "to about 1/7, a larger cost than taking sides between members (model logic).",
    ),
    Parameter(
        "intra_member_cost",
        1.5,
        0.0,
        4.0,
        "Log-odds penalty on answering when the opponent is another member.",
        "Taking sides between two members costs the patron one of them (model logic); less "
        "than the risk of a wider war.",
    ),
    Parameter(
        "trust_gain_answered",
        0.25,
        0.0,
        0.6,
        "Share of the gap to full trust closed when the member's own request is answered.",
        "An answered request is strong evidence, but a single one does not settle doubts.",
    ),
    Parameter(
        "trust_loss_unanswered",
        0.30,
        0.0,
        0.7,
        "Share of trust lost when the member's own request goes unanswered.",
        "Losses weigh more than gains (negativity bias: Baumeister et al. 2001, Rev. Gen. "
        "Psychol. 5(4)): above trust_gain_answered.",
    ),
    Parameter(
        "blame_capacity_weight",
        0.0,
        0.0,
        1.0,
        "How much the trust lost on an unanswered request grows with the patron's free capacity "
        "(loss x (1 + w x (2C - 1))).",
        "0: a non-answer costs the same whatever the patron could do. At 1 the loss is 2C "
        "times the base: a capable patron that does not answer is blamed (it will not), a "
        "drained one excused (it cannot); controllable failures draw more blame (Weiner 1995, "
        "Judgments of Responsibility). Calibration decides.",
    ),
    Parameter(
        "trust_spillover",
        0.2,
        0.0,
        1.0,
        "Share of a requester's trust change felt by each watching member.",
        "Reputation spills over but less than first-hand experience.",
    ),
    Parameter(
        "rebuke_trust_loss",
        0.06,
        0.0,
        0.3,
        "Share of trust lost by a member that publicly rebukes the patron (severity 1).",
        "A public rebuke reveals and hardens distrust; smaller than an unanswered request.",
    ),
    Parameter(
        "quarrel_trust_loss",
        0.08,
        0.0,
        0.3,
        "Share of trust lost by a member that quarrels at a summit or refuses to sign.",
        "A refusal to sign is a costlier, more formal signal than a rebuke.",
    ),
    Parameter(
        "trust_drift",
        0.01,
        0.0,
        0.1,
        "Monthly share of the gap between trust and the member's baseline trust that closes.",
        "Grievances fade over years: half-life ~6 years.",
    ),
    Parameter(
        "domestic_gain_unanswered",
        0.15,
        0.0,
        0.5,
        "Rise in domestic pressure to leave after the member's own request goes unanswered.",
        "An unanswered request is a public failure of the government's alliance policy, which "
        "its critics use (model logic); a sixth of the way to full pressure, less than trust.",
    ),
    Parameter(
        "domestic_decay",
        0.03,
        0.0,
        0.2,
        "Monthly share of the gap between domestic pressure and its baseline that closes.",
        "Protest waves fade within a few years (half-life ~2 years).",
    ),
    Parameter(
        "trust_weight",
        2.0,
        0.0,
        5.0,
        "Weight of trust in the patron's guarantee itself in the reasons to stay.",
        "Credibility of the commitment (Leeds 2003): members drift away as unanswered requests "
        "erode trust, whatever the patron's momentary capacity.",
    ),
    Parameter(
        "protection_weight",
        2.0,
        0.0,
        5.0,
        "Weight of protection (trust x patron capacity x unmet threat) in the reasons to stay.",
        "Protection is the alliance's main good for exposed members.",
    ),
    Parameter(
        "dependence_weight",
        1.5,
        0.0,
        5.0,
        "Weight of economic and military dependence on the patron in the reasons to stay.",
        "What a junior partner gets from an asymmetric alliance (trade, remittances, arms, "
        "bases) is lost on exit (Morrow 1991, AJPS 35(4)); as strong a reason as outside "
        "options are to leave.",
    ),
    Parameter(
        "retaliation_weight",
        1.0,
        0.0,
        5.0,
        "Weight of feared retaliation (patron leverage x dependence) in the reasons to stay.",
        "A patron with economic leverage can punish exits through the dependence it controls.",
    ),
    Parameter(
        "outside_weight",
        1.5,
        0.0,
        5.0,
        "Weight of outside options (other partners) in the reasons to leave.",
        "Leeds & Savun 2007: abrogation follows a new outside alliance.",
    ),
    Parameter(
        "domestic_weight",
        1.5,
        0.0,
        10.0,
        "Weight of domestic pressure in the reasons to leave.",
        "Leeds 2003: violations follow changes in domestic policy-making. The range reaches 10 "
        "because a fit on the case library pressed on an upper bound of 5 (docs/calibration.md).",
    ),
    Parameter(
        "contagion_weight",
        2.0,
        0.0,
        8.0,
        "Reasons to leave added when every other member has gone, in proportion to the share "
        "of the other members frozen (counting 1/2) or withdrawn.",
        "Each exit makes the next one cheaper and signals the alliance's decline (model logic). "
        "Counted as a share of the other members, not a number of exits, so that a large "
        "alliance does not unravel faster for being large. 2: every other member gone weighs "
        "as much as full trust in the patron; one exit among five others weighs 0.4. Much "
        "above it, with the default slope, an alliance of many restless members tips: each "
        "exit brings more than one more (tests/test_scale.py).",
    ),
    Parameter(
        "hazard_slope",
        2.5,
        0.0,
        6.0,
        "Increase in the monthly log-odds of stepping toward exit per unit of balance.",
        "Sets how sharply hazards respond to the balance of leaving over staying.",
    ),
    Parameter(
        "disengage_intercept",
        -3.5,
        -9.0,
        -2.0,
        "Monthly log-odds of an active member disengaging at zero balance.",
        "~3%/month at zero balance: boycotts of summits and exercises are cheap; members "
        "trusting a capable patron sit well below zero, where the rate is a small fraction.",
    ),
    Parameter(
        "freeze_intercept",
        -4.0,
        -9.0,
        -2.0,
        "Monthly log-odds of a disengaged member freezing participation at zero balance.",
        "Freezing (suspension, arrears) is rarer than boycotts.",
    ),
    Parameter(
        "withdraw_intercept",
        -4.0,
        -10.0,
        -2.0,
        "Monthly log-odds of a frozen member withdrawing formally at zero balance.",
        "~1.8%/month once frozen at zero balance: a suspension lasts years before a formal "
        "exit, if one comes; the same rate as freezing (model logic). Calibration revisits it.",
    ),
    Parameter(
        "reengage_intercept",
        -4.0,
        -9.0,
        -1.0,
        "Monthly log-odds of a disengaged or frozen member stepping back a stage at zero balance.",
        "Stepping back happens, slowly: at zero balance as rare as a step forward from "
        "disengaged (model logic).",
    ),
    Parameter(
        "renewal_hazard_factor",
        2.0,
        1.0,
        20.0,
        "Multiplier on a frozen member's monthly hazard of withdrawing inside a renewal window.",
        "At a renewal a member can leave by not renewing, with no denunciation to make, so "
        "exit is cheaper there (model logic); 2 is a prior to be fitted by calibration.",
    ),
    Parameter(
        "stage_duration_weight",
        0.0,
        -1.0,
        1.0,
        "Change in the log-odds of stepping toward exit per unit of ln(1 + years in the stage).",
        "0 (off): hazards do not depend on time in a stage. Positive: exits grow likelier the "
        "longer a member has been in its stage, as alliances grow likelier to end the longer "
        "they last (Bennett 1997, AJPS 41(3)); negative: inertia.",
    ),
    Parameter(
        "cascade_weight",
        0.5,
        0.0,
        1.0,
        "Multiplier on the next stage's hazard for a member that has just stepped toward exit "
        "in the same month (0: at most one stage a month).",
        "A month is a coarse step: a member can boycott and suspend, or suspend and leave, "
        "within weeks when its reasons are overwhelming. Two successive steps, each at a "
        "constant hazard over the month, both fall inside it with probability about half the "
        "product of their monthly hazards when both are small (model logic): 0.5.",
    ),
    Parameter(
        "unobserved_sd",
        0.8,
        0.0,
        1.5,
        "Standard deviation of each member's unobserved reasons to leave, drawn once per run "
        "(a normal shift of its balance that stays for the whole run).",
        "Scenario magnitudes are judgements, and members differ in ways no scenario records, "
        "which event-history models represent by a frailty term (Box-Steffensmeier & Jones "
        "2004, Event History Modeling, ch. 9). The pooled calibration on the nine cases of the "
        "case library gives a posterior mean of 0.85, 95% interval [0.40, 1.33] "
        "(docs/calibration.md); 0 takes every magnitude as exact.",
    ),
    Parameter(
        "crisis_rate_scale",
        1.0,
        0.0,
        3.0,
        "Multiplier on every member's monthly crisis rate in the projected period.",
        "1 uses the scenario's rates as written.",
    ),
    Parameter(
        "lasting_grievance",
        0.0,
        0.0,
        1.0,
        "Share of the trust a member loses to its own unanswered request, or to the patron "
        "backing its opponent or using force against it, that also comes off its baseline "
        "trust (a grievance that does not fade).",
        "Members cite a patron's failure decades later when they leave, while trust_drift "
        "closes a grievance with a half-life of about six years; at 0 every grievance fades "
        "(the model before this parameter). Not identified by the nine cases (docs/"
        "calibration.md), so held at the neutral 0 until a larger library fits it.",
    ),
    Parameter(
        "alliance_value_weight",
        1.5,
        0.0,
        5.0,
        "Weight of the alliance's own value to a member (protection by the other members, "
        "the treaty's institutions), times the share of the other members still in, in the "
        "reasons to stay.",
        "A member at odds with the patron can stay for what the other members and the "
        "institutions give it; as strong a reason as dependence on the patron (model logic). "
        "Its size comes from each member's `alliance_value` (0 unless the scenario says).",
    ),
    Parameter(
        "backing_trust_loss",
        0.3,
        0.0,
        0.7,
        "Share of trust a member loses when the patron backs its opponent (severity 1); every "
        "other member loses the spill-over share of it.",
        "Siding with a member's opponent is at least as plain a failure of the guarantee as "
        "leaving its request unanswered: the same share as trust_loss_unanswered (model logic).",
    ),
    Parameter(
        "help_trust_gain",
        0.1,
        0.0,
        0.5,
        "Share of the gap to full trust a member closes when it answers the patron's call for "
        "help.",
        "A member that sends help commits itself to the patron and expects the favour returned "
        "(reciprocity; sunk costs): a gain, smaller than that of the patron answering the "
        "member's own request, trust_gain_answered (model logic).",
    ),
    Parameter(
        "help_domestic_cost",
        0.1,
        0.0,
        0.5,
        "Share of the gap to full domestic pressure to leave that a member's answer to the "
        "patron's call for help adds.",
        "Sending troops or money to the patron's war is unpopular at home and its critics use "
        "it (model logic); smaller than an unanswered request of the member's own "
        "(domestic_gain_unanswered).",
    ),
    Parameter(
        "force_trust_loss",
        0.6,
        0.0,
        1.0,
        "Share of trust a member loses when the patron uses force against it (severity 1); "
        "every other member loses the spill-over share of it.",
        "Force against a member turns the guarantor into the threat: twice the loss of a "
        "non-answer, most of the trust there is (model logic).",
    ),
    Parameter(
        "help_willingness",
        -1.0,
        -5.0,
        3.0,
        "Log-odds that a member answers a call for help the model decides, at trust + "
        "dependence - domestic pressure = 0.",
        "With help_answer_weight 2, a member of middling trust, dependence and pressure (each "
        "0.5) answers with an even chance, a loyal dependent one (0.8, 0.8, 0.2) with 0.86 and "
        "an estranged one under pressure (0.2, 0.2, 0.8) with 0.14 (model logic). No case of the "
        "library has a call for help the model decides, so nothing fits it.",
    ),
    Parameter(
        "help_answer_weight",
        2.0,
        0.0,
        6.0,
        "Weight of trust + dependence - domestic pressure in the log-odds that a member answers "
        "a call for help the model decides.",
        "A member sends help when it trusts the patron and needs it, and holds back when its "
        "public is against it (reciprocity; the domestic cost of the patron's wars); one weight "
        "for the three, which no case could tell apart (model logic). At 0 every member "
        "answers with the same chance, logistic(help_willingness).",
    ),
    Parameter(
        "witness_dilution",
        0.0,
        0.0,
        1.0,
        "How the spill-over a watcher feels shrinks with the number K of other members: each "
        "watcher feels trust_spillover x K^-witness_dilution of a requester's or signaller's "
        "trust change.",
        "0: every watcher feels the full spill-over whatever the alliance's size (the rule "
        "before this parameter). Then the trust a member loses to the others' unanswered "
        "requests grows with their number, so a large alliance loses trust faster for being "
        "large; 1 spreads one request's lesson over the watchers, as contagion counts a share "
        "of the members gone. Held at 0 for the narrative cases, whose fits and scores predate "
        "it; the ATOP library holds it at 1 (docs/calibration.md).",
    ),
)

PARAMETER_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMETERS)
BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}


def defaults() -> dict[str, float]:
    """Every parameter at its documented default."""
    return {p.name: p.default for p in PARAMETERS}


def parameter_table(values: dict[str, float | np.ndarray], lanes: int) -> Parameters:
    """Every parameter of every lane in the one shape the model and its kernels use
    (`sim.model.tables.Parameters`: distinct rows, and each lane's row), defaults filling the
    gaps. A scalar applies to every lane; an array must hold one value per lane. Neighbouring
    lanes with the same values share a row (a sweep's point, a repeated draw), which lets the
    kernel run them through its vectorised loops together."""
    unknown = set(values) - set(BY_NAME)
    if unknown:
        raise KeyError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    columns = []
    for p in PARAMETERS:
        value = np.asarray(values.get(p.name, p.default), dtype=float)
        if value.ndim != 0 and value.shape != (lanes,):
            raise ValueError(f"parameter {p.name}: expected a scalar or {lanes} lane values")
        columns.append(value)
    if all(value.ndim == 0 for value in columns):
        return Parameters(np.array([columns], dtype=float), np.zeros(lanes, dtype=np.int64))
    table = np.empty((lanes, len(PARAMETERS)))
    for k, value in enumerate(columns):
        table[:, k] = value
    starts = np.ones(lanes, dtype=bool)
    starts[1:] = (table[1:] != table[:-1]).any(axis=1)
    return Parameters(table[starts], np.cumsum(starts, dtype=np.int64) - 1)


def lane_values(table: Parameters, name: str) -> np.ndarray:
    """One parameter's value in every lane, (lanes,) (a new array)."""
    return table.values[table.row, PARAMETER_NAMES.index(name)]
