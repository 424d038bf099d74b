"""The rules that turn the library's data rows into a case: one small function per mapping.

Every function here is one documented rule of `docs/library.md` (section "Mappings"), tested in
`tests/test_library.py`. Months are `YYYY-MM` text; `ordinal` turns one into a number of months
so that they compare and subtract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from sim.model.months import month_label, parse_month

FACT_KINDS = ("reached_in", "reached_by", "not_reached_by")
DATA_END = "2016-12"  # ATOP 4.01 codes alliances signed up to the end of 2016 (its codebook)
CLEAR_PATRON_RATIO = 1.5  # the strongest major needs this many times the next major's CINC
FOUNDING_MONTHS = 12  # a member entering this many months after the start still founded it
HOSTILITY_FOR_REQUEST = 4  # a dispute reaching the use of force (GML hostlev 4 or 5)
THREAT_YEARS = 10  # disputes in this many years before the start make up the start threat
REGIME_JUMP = 6  # a Polity2 change of this many points in one year is a change of regime
REGIME_PRESSURE = 0.1  # ... and raises domestic pressure by this much
OUTSIDE_OPTION_GAIN = 0.1  # a new alliance without the patron adds this to outside options
CAPACITY_STEP = 0.05  # a capability-share change this large becomes a capacity_change event
WAR_DRAIN = {1: 0.006, 0: 0.003}  # monthly drain of a war: as a principal, as a joiner


def ordinal(month: str) -> int:
    """A `YYYY-MM` month as a count of months, so that months compare and subtract."""
    year, m = parse_month(month)
    return year * 12 + m - 1


def shift(month: str, months: int) -> str:
    """The month `months` after (or before) `month`."""
    return month_label(parse_month(month), months)


@dataclass(frozen=True)
class Spell:
    """A state's unbroken membership of one alliance: first month, exit (None: in effect)."""

    ccode: int
    entry: str
    exit: str | None
    line: int  # the members.csv line of the row that ended (or holds) the spell


def first_spell(rows: pd.DataFrame) -> Spell:
    """A state's first spell in an alliance: its phase rows joined while each follows on the
    last (entry at most one month after the previous exit); a later return is ignored."""
    rows = rows.sort_values(["entry", "phase"], kind="stable")
    records = list(zip(rows["entry"], rows["exit"], rows["line"], strict=True))
    entry, exit_, line = records[0]
    for next_entry, next_exit, next_line in records[1:]:
        if exit_ is None or ordinal(next_entry) > ordinal(exit_) + 1:
            break
        if next_exit is None or ordinal(next_exit) > ordinal(exit_):
            exit_ = next_exit
        line = next_line
    return Spell(int(rows["ccode"].iloc[0]), str(entry), exit_, int(line))


def is_major(majors: pd.DataFrame, ccode: int, month: str) -> bool:
    """Whether COW counts the state a major power in the month."""
    t = ordinal(month)
    spells = majors[majors["ccode"] == ccode]
    return bool(
        any(ordinal(s) <= t <= ordinal(e) for s, e in zip(spells.start, spells.end, strict=False))
    )


def value_at(state: pd.DataFrame, year: int, column: str) -> tuple[float, int]:
    """A state's value in a year, else its latest earlier value, else its earliest later one;
    (nan, 0) if it has none. `state` is the state's capabilities rows by year; returns the value
    and the capabilities.csv line it came from."""
    rows = state[state[column].notna()]
    if rows.empty:
        return math.nan, 0
    earlier = rows[rows["year"] <= year]
    row = earlier.iloc[-1] if not earlier.empty else rows.iloc[0]
    return float(row[column]), int(row["line"])


def choose_patron(cinc_of_majors: dict[int, float]) -> int | None:
    """The patron among the founding majors: the only one, or the strongest by CINC when it has
    at least CLEAR_PATRON_RATIO times the next one's; None when no major is clearly first."""
    if not cinc_of_majors:
        return None
    ranked = sorted(cinc_of_majors.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) == 1:
        return ranked[0][0]
    (first, top), (_, second) = ranked[0], ranked[1]
    return first if top >= CLEAR_PATRON_RATIO * second and top > 0 else None


def unit(value: float) -> float:
    """A level rounded to 3 decimals and kept within [0, 1]."""
    return round(float(min(1.0, max(0.0, value))), 3)


def capability_share(member_cinc: float, patron_cinc: float) -> float:
    """A member's capacity: its share of its own and the patron's CINC (0.5 if neither known)."""
    m = 0.0 if math.isnan(member_cinc) else member_cinc
    p = 0.0 if math.isnan(patron_cinc) else patron_cinc
    return unit(m / (m + p)) if m + p > 0 else 0.5


def patron_capacity(patron_cinc: float, strongest_major_cinc: float) -> float:
    """The patron's capacity: its CINC against the strongest major's that year, in [0.1, 1]."""
    if math.isnan(patron_cinc) or not strongest_major_cinc > 0:
        return 0.7
    return unit(max(0.1, patron_cinc / strongest_major_cinc))


def dependence_level(share: float, milaid: int, base: int, ecaid: int) -> float:
    """Dependence: half the patron's share of the pair's capabilities, half the share of the
    treaty's dependence provisions it has (military aid, bases, economic aid)."""
    return unit(0.5 * (1.0 - share) + 0.5 * (milaid + base + ecaid) / 3.0)


def threat_level(disputes: int) -> float:
    """Threat: 0.1, plus 0.1 per dispute with an outsider in the THREAT_YEARS before the start."""
    return unit(0.1 + 0.1 * disputes)


def outside_options_level(alliances: int) -> float:
    """Outside options: OUTSIDE_OPTION_GAIN per other alliance without the patron at the start."""
    return unit(OUTSIDE_OPTION_GAIN * alliances)


def trust_level(member_polity: float, patron_polity: float) -> float:
    """Trust: 0.4 plus up to 0.4 for regimes alike (Polity2 distance 0 of 20); 0.6 if unknown."""
    if math.isnan(member_polity) or math.isnan(patron_polity):
        return 0.6
    return unit(0.4 + 0.4 * (1.0 - abs(member_polity - patron_polity) / 20.0))


def domestic_pressure_level(polity: float) -> float:
    """Domestic pressure: 0.1 for a full autocracy up to 0.3 for a full democracy (0.2 unknown):
    an elected government answers to voters who may turn against a commitment."""
    if math.isnan(polity):
        return 0.2
    return unit(0.1 + 0.2 * (polity + 10.0) / 20.0)


def collective_months(exits: list[str | None], case_end: str) -> set[str]:
    """Months in which at least two members and at least half of them leave before the case's
    end: the alliance ending for them together (a dissolution with a rump left), not a choice."""
    counts: dict[str, int] = {}
    for month in exits:
        if month is not None and ordinal(month) < ordinal(case_end):
            counts[month] = counts.get(month, 0) + 1
    return {m for m, n in counts.items() if n >= 2 and 2 * n >= len(exits)}


def exit_fact(
    spell: Spell, case_end: str, survives: bool, collective: set[str] = frozenset()
) -> tuple[str, str]:
    """The member's withdrawal fact: ("reached_in", exit) when it left before the case's end
    (the alliance, with its patron, went on without it), on its own (not in a collective month)
    and the state lived on; otherwise ("not_reached_by", month): the case's end, or the month
    before a censoring exit (a state's death, a collective exit)."""
    if spell.exit is not None and ordinal(spell.exit) < ordinal(case_end):
        if survives and spell.exit not in collective:
            return "reached_in", spell.exit
        return "not_reached_by", max(spell.entry, shift(spell.exit, -1), key=ordinal)
    return "not_reached_by", case_end


def survives(years: pd.Series, exit_month: str, last_year: int) -> bool:
    """Whether the state lives on after leaving: among its capabilities `years` one is later
    than its exit, or its exit falls in the table's last year (nothing to tell it by)."""
    year = parse_month(exit_month)[0]
    return bool((years > year).any()) or year >= last_year


def war_drain(row: pd.Series, start: str, end: str) -> dict | None:
    """A patron's war as a drain (WAR_DRAIN per month, more as a principal) over the months
    it overlaps the case; None if it does not."""
    first, last = max(row["start"], start, key=ordinal), min(row["end"], end, key=ordinal)
    if ordinal(first) > ordinal(last):
        return None
    role = "a principal" if row["principal"] else "a joiner"
    return {
        "date": first,
        "kind": "drain",
        "id": f"war_{row['war']}",
        "monthly": WAR_DRAIN[int(bool(row["principal"]))],
        "until": last,
        "source": f"COW inter-state wars (wars.csv line {row['line']}): {row['name']}, the patron "
        f"as {role}, {row['start']} to {row['end']}",
    }


def request(
    row: pd.Series, dispute: pd.DataFrame, patron: int, majors: pd.DataFrame, names: dict
) -> dict | None:
    """A member's dispute with a third state as a request for aid: answered if the patron took
    part on the member's side, unanswered if it stayed out; backed if another major power was on
    the other side. None if it is below the use of force, or the patron is the opponent."""
    if row["hostlev"] < HOSTILITY_FOR_REQUEST:
        return None
    sides = dict(zip(dispute["ccode"], dispute["side_a"], strict=True))
    if sides.get(patron) is not None and sides[patron] != row["side_a"]:
        return None
    answered = sides.get(patron) == row["side_a"]
    backed = any(
        side != row["side_a"] and c != patron and is_major(majors, c, row["start"])
        for c, side in sides.items()
    )
    opponent = names.get(row["opponent"], f"COW {row['opponent']}")
    patron_did = "took part on its side" if answered else "stayed out"
    return {
        "date": row["start"],
        "kind": "crisis",
        "requester": names[row["ccode"]],
        "opponent": opponent,
        "backed_opponent": backed,
        "response": "answered" if answered else "unanswered",
        "source": f"GML MID 2.03 (disputes.csv line {row['line']}): dispute {row['dispute']}, "
        f"hostility {row['hostlev']}; the patron {patron_did}",
    }


def regime_change(before: dict, after: dict, name: str) -> dict | None:
    """A jump of REGIME_JUMP or more in Polity2 from one year to the next as a regime change,
    dated January of the new year, raising domestic pressure by REGIME_PRESSURE."""
    if math.isnan(before["polity2"]) or math.isnan(after["polity2"]):
        return None
    if abs(after["polity2"] - before["polity2"]) < REGIME_JUMP:
        return None
    return {
        "date": f"{int(after['year']):04d}-01",
        "kind": "regime_change",
        "member": name,
        "by": REGIME_PRESSURE,
        "source": f"Polity2 via COW-Polity (capabilities.csv lines {before['line']}, "
        f"{after['line']}): {before['polity2']:+.0f} to {after['polity2']:+.0f}",
    }


def outside_option(spell: Spell, atopid: int, name: str) -> dict:
    """A member's entry into another alliance without the patron as a new outside option."""
    return {
        "date": spell.entry,
        "kind": "outside_option",
        "member": name,
        "by": OUTSIDE_OPTION_GAIN,
        "source": f"ATOP 4.01 (members.csv line {spell.line}): enters alliance {atopid}, "
        "which the patron is not in",
    }


def capacity_change(year: int, share: float, lines: tuple[int, int], name: str) -> dict:
    """A move of the member's capability share (CAPACITY_STEP or more since the last recorded
    level) as a capacity_change to the new share, dated January of the year."""
    return {
        "date": f"{year:04d}-01",
        "kind": "capacity_change",
        "member": name,
        "to": share,
        "source": f"COW NMC CINC (capabilities.csv lines {lines[0]}, {lines[1]}): "
        f"capability share against the patron {share:.3f}",
    }
