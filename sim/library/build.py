"""`alliance library build`: every ATOP alliance with a clear patron as a scenario and its facts.

For each alliance of the shipped tables (`sim.library.tables`): the founding members (entered
within FOUNDING_MONTHS of the start), the patron among them (`mapping.choose_patron`), the case's
months (from the start to the alliance's end, the patron's own exit or the data's end), each
member's start values, the dated events and the withdrawal facts, each by a rule of
`sim.library.mapping`. Everything is built and checked in memory before the first file is
written. `docs/library.md` documents the rules and the choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from sim.library import mapping as rules
from sim.library.mapping import Spell, ordinal
from sim.library.tables import Tables, load_tables
from sim.model.errors import InputError

SOURCES = [
    "ATOP 4.01, member and alliance level (Leeds, Ritter, Mitchell and Long 2002; "
    "atopdata.org), as shipped in sim/library/data (DATA.md)",
    "COW National Material Capabilities (CINC) with Polity IV's polity2, by state-year",
    "COW inter-state war participants (Sarkees and Wayman 2010), revised file",
    "GML MID 2.03 dyadic disputes (Gibler, Miller and Little 2016)",
    "COW major powers and state names (State System Membership 2016, via peacesciencer)",
]
HEADER = (
    "# Built by `alliance library build` from the shipped tables of sim/library/data\n"
    "# (sim/library/DATA.md); every value and event names its rule and data row.\n"
    "# docs/library.md documents the rules. Do not edit: rebuild instead.\n"
)


@dataclass
class Built:
    """One alliance as a case: its scenario and observations (as YAML-ready dicts)."""

    atopid: int
    scenario: dict
    observations: dict
    leavers: int
    left_out: list[str] = field(default_factory=list)  # members left out (late joiners)

    @property
    def name(self) -> str:
        return self.scenario["name"]


@dataclass
class Library:
    """Every case built, and every alliance left out with the reason."""

    cases: list[Built]
    skipped: list[tuple[int, str]]


class Index:
    """The tables split by state, alliance and dispute once, for quick look-ups."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.majors = tables.majors
        self.names = state_names(tables)
        self.caps = {c: g.sort_values("year") for c, g in tables.capabilities.groupby("ccode")}
        self.last_year = int(tables.capabilities["year"].max())
        self.members_of = {a: g for a, g in tables.members.groupby("atopid")}
        self.rows = tables.members.set_index("line")
        self.in_alliance = set(zip(tables.members["atopid"], tables.members["ccode"], strict=False))
        pairs = tables.members.groupby(["ccode", "atopid"], sort=True)
        self.spells: dict[int, dict[int, Spell]] = {}
        for (ccode, atopid), rows in pairs:
            self.spells.setdefault(int(ccode), {})[int(atopid)] = rules.first_spell(rows)
        self.disputes_of = {c: g for c, g in tables.disputes.groupby("ccode")}
        self.dispute = {d: g for d, g in tables.disputes.groupby("dispute")}
        self.wars_of = {c: g for c, g in tables.wars.groupby("ccode")}
        self.empty_caps = tables.capabilities.iloc[:0]

    def state(self, ccode: int) -> pd.DataFrame:
        """A state's capabilities rows by year (none if it has none)."""
        return self.caps.get(ccode, self.empty_caps)

    def cinc(self, ccode: int, year: int) -> float:
        return rules.value_at(self.state(ccode), year, "cinc")[0]


def build_library(tables: Tables) -> Library:
    """Every alliance of the tables as a case, or the reason it is left out."""
    ix = Index(tables)
    cases, skipped = [], []
    for row in tables.alliances.itertuples():
        built = build_case(ix, int(row.atopid), row.start, row.end)
        if isinstance(built, str):
            skipped.append((int(row.atopid), built))
            continue
        twin = next((c for c in cases if record_of(c) == record_of(built)), None)
        if twin is not None:
            skipped.append((built.atopid, f"the same record as ATOP {twin.atopid}"))
        else:
            cases.append(built)
    return Library(cases, skipped)


def record_of(case: Built) -> tuple:
    """What makes two ATOP alliances one record (as `sim.batch.posterior.record_id` has it):
    the same start and founding members, whoever the patron (treaties a member signed the same
    month with two patrons; kept once, the lowest ATOP id, so that no member's facts count twice
    in a pooled fit)."""
    members = sorted(m["name"] for m in case.scenario["members"])
    return case.scenario["calendar"]["start"], tuple(members)


def state_names(tables: Tables) -> dict[int, str]:
    """COW state names by code (a name two codes share gets its code appended)."""
    names = dict(zip(tables.states["ccode"], tables.states["name"], strict=True))
    counts = pd.Series(list(names.values())).value_counts()
    return {c: n if counts[n] == 1 else f"{n} ({c})" for c, n in names.items()}


def build_case(ix: Index, atopid: int, start: str, end: str | None) -> Built | str:
    """One alliance as a case, or why it is left out."""
    names = ix.names
    codes = sorted(set(ix.members_of[atopid]["ccode"]))
    spells = [ix.spells[int(c)][atopid] for c in codes]
    founders = [s for s in spells if ordinal(s.entry) - ordinal(start) < rules.FOUNDING_MONTHS]
    late = [s for s in spells if s not in founders]
    year = int(start[:4])
    majors = {
        s.ccode: ix.cinc(s.ccode, year)
        for s in founders
        if rules.is_major(ix.majors, s.ccode, s.entry)
    }
    if not majors:
        return "no major power among the founding members"
    if len(majors) == len(founders):
        return "no non-major founding member"
    patron_code = rules.choose_patron({c: 0.0 if v != v else v for c, v in majors.items()})
    if patron_code is None:
        return "several major powers, none clearly the strongest"
    missing = [s.ccode for s in spells if s.ccode not in names]
    if missing:
        return f"no COW state name for {missing}"
    patron = next(s for s in founders if s.ccode == patron_code)
    members = [s for s in founders if s.ccode != patron_code]
    case_end = min(end or rules.DATA_END, rules.DATA_END, key=ordinal)
    if patron.exit is not None and ordinal(patron.exit) < ordinal(case_end):
        case_end = patron.exit
    if ordinal(case_end) < ordinal(start):
        return "ends before it starts"
    case = _Case(ix, atopid, start, case_end, patron, members)
    return Built(
        atopid,
        case.scenario(),
        case.observations(),
        case.leavers,
        [f"{names[s.ccode]} (entered {s.entry})" for s in late],
    )


class _Case:
    """The parts of one case, each from its rule."""

    def __init__(self, ix: Index, atopid, start, end, patron: Spell, members) -> None:
        self.ix, self.atopid, self.start, self.end = ix, atopid, start, end
        self.patron, self.members, self.names = patron, members, ix.names
        self.year = int(start[:4])
        self.codes = {patron.ccode, *(m.ccode for m in members)}
        self.collective = rules.collective_months([m.exit for m in members], end)
        self.facts = [self._fact(m) for m in members]
        self.leavers = sum(1 for f in self.facts if "reached_in" in f)

    def _fact(self, spell: Spell) -> dict:
        alive = spell.exit is None or rules.survives(
            self.ix.state(spell.ccode)["year"], spell.exit, self.ix.last_year
        )
        kind, month = rules.exit_fact(spell, self.end, alive, self.collective)
        if kind == "reached_in":
            why = f"ATOP 4.01 (members.csv line {spell.line}): leaves in {month}, before the "
            why += f"case's end ({self.end}), the alliance going on with its patron"
        elif spell.exit is not None and not alive:
            why = f"ATOP 4.01 (members.csv line {spell.line}): the state ends in {spell.exit} "
            why += "(no COW capabilities after that year): censored, not an exit"
        elif spell.exit in self.collective:
            why = f"ATOP 4.01 (members.csv line {spell.line}): leaves in {spell.exit} with at "
            why += "least half the members (a collective end): censored, not an exit"
        else:
            why = f"ATOP 4.01 (members.csv line {spell.line}): still a member at the case's "
            why += f"end ({self.end}: the alliance's end, its patron's exit or the data's end)"
        return {"member": self.names[spell.ccode], "stage": "withdrawn", kind: month, "source": why}

    def scenario(self) -> dict:
        patron_cinc, pline = rules.value_at(self.ix.state(self.patron.ccode), self.year, "cinc")
        top = self._strongest_major()
        return {
            "name": f"atop_{self.atopid}",
            "description": (
                f"ATOP alliance {self.atopid}, {self.start} to {self.end}: patron "
                f"{self.names[self.patron.ccode]}, {len(self.members)} founding member(s); "
                "built from data by `alliance library build`."
            ),
            "sources": SOURCES,
            "calendar": {"start": self.start, "history_end": self.end, "end": self.end},
            "patron": {
                "name": self.names[self.patron.ccode],
                "capacity": {
                    "value": rules.patron_capacity(patron_cinc, top),
                    "source": f"patron_capacity: CINC {patron_cinc:.4f} (capabilities.csv line "
                    f"{pline}) against the strongest major's {top:.4f} in {self.year}",
                },
            },
            "members": [self._member(m, patron_cinc) for m in self.members],
            "events": self._events(),
        }

    def _strongest_major(self) -> float:
        majors = self.ix.majors
        values = [
            self.ix.cinc(c, self.year)
            for c in sorted(set(majors["ccode"]))
            if rules.is_major(majors, c, self.start)
        ]
        values = [v for v in values if v == v]
        return max(values) if values else float("nan")

    def _member(self, spell: Spell, patron_cinc: float) -> dict:
        state = self.ix.state(spell.ccode)
        cinc, cline = rules.value_at(state, self.year, "cinc")
        polity, lline = rules.value_at(state, self.year, "polity2")
        patron_polity, _ = rules.value_at(self.ix.state(self.patron.ccode), self.year, "polity2")
        row = self.ix.rows.loc[spell.line]
        share = rules.capability_share(cinc, patron_cinc)
        disputes = self._prior_disputes(spell.ccode)
        others = self._alliances_without_patron(spell.ccode, at=self.start)
        provisions = f"milaid {row['milaid']}, base {row['base']}, ecaid {row['ecaid']}"
        return {
            "name": self.names[spell.ccode],
            "trust": _sourced(
                rules.trust_level(polity, patron_polity),
                f"trust_level: Polity2 {polity:+.0f} against the patron's {patron_polity:+.0f} "
                f"(capabilities.csv line {lline})",
            ),
            "capacity": _sourced(
                share,
                f"capability_share: CINC {cinc:.4f} (capabilities.csv line {cline}) against the "
                f"patron's {patron_cinc:.4f}",
            ),
            "threat": _sourced(
                rules.threat_level(disputes),
                f"threat_level: {disputes} dispute(s) with outsiders in the "
                f"{rules.THREAT_YEARS} years before the start (disputes.csv)",
            ),
            "dependence": _sourced(
                rules.dependence_level(share, row["milaid"], row["base"], row["ecaid"]),
                f"dependence_level: capability share {share:.3f}; ATOP provisions {provisions} "
                f"(members.csv line {spell.line})",
            ),
            "outside_options": _sourced(
                rules.outside_options_level(len(others)),
                f"outside_options_level: {len(others)} other alliance(s) without the patron "
                f"at the start (ATOP {', '.join(map(str, others)) or 'none'})",
            ),
            "domestic_pressure": _sourced(
                rules.domestic_pressure_level(polity),
                f"domestic_pressure_level: Polity2 {polity:+.0f} (capabilities.csv line {lline})",
            ),
            "crises": {"rate": 0.0, "source": "Replayed history only: no random crises."},
        }

    def _prior_disputes(self, ccode: int) -> int:
        d = self.ix.disputes_of.get(ccode)
        if d is None:
            return 0
        t0 = ordinal(self.start)
        mine = d[~d["opponent"].isin(self.codes)]
        before = [o for o, s in zip(mine["dispute"], mine["start"], strict=True)
                  if t0 - 12 * rules.THREAT_YEARS <= ordinal(s) < t0]  # fmt: skip
        return len(set(before))

    def _alliances_without_patron(self, ccode: int, at: str) -> list[int]:
        """Other alliances the state is in at the month, without the patron."""
        t = ordinal(at)
        out = []
        for atopid, spell in self.ix.spells[ccode].items():
            if atopid == self.atopid:
                continue
            current = ordinal(spell.entry) <= t and (spell.exit is None or ordinal(spell.exit) > t)
            if current and not self._patron_in(atopid):
                out.append(int(atopid))
        return out

    def _patron_in(self, atopid: int) -> bool:
        return (atopid, self.patron.ccode) in self.ix.in_alliance

    def _events(self) -> list[dict]:
        events = self._wars() + self._requests()
        for spell in self.members:
            events += self._regimes(spell) + self._outside(spell) + self._capacity(spell)
        return sorted(events, key=lambda e: (ordinal(e["date"]), e["kind"], e["source"]))

    def _within(self, month: str) -> bool:
        return ordinal(self.start) <= ordinal(month) <= ordinal(self.end)

    def _wars(self) -> list[dict]:
        wars = self.ix.wars_of.get(self.patron.ccode, self.ix.tables.wars.iloc[:0])
        drains = [rules.war_drain(row, self.start, self.end) for _, row in wars.iterrows()]
        return [d for d in drains if d is not None]

    def _requests(self) -> list[dict]:
        members = [m.ccode for m in self.members if m.ccode in self.ix.disputes_of]
        if not members:
            return []
        mine = pd.concat([self.ix.disputes_of[c] for c in members]).sort_values("line")
        mine = mine[mine["opponent"] != self.patron.ccode]
        out, seen = [], set()
        for _, row in mine.iterrows():
            if (row["dispute"], row["ccode"]) in seen or not self._within(row["start"]):
                continue
            seen.add((row["dispute"], row["ccode"]))
            event = rules.request(
                row, self.ix.dispute[row["dispute"]], self.patron.ccode, self.ix.majors,
                self.names,
            )  # fmt: skip
            if event is not None:
                out.append(event)
        return out

    def _regimes(self, spell: Spell) -> list[dict]:
        rows = self.ix.state(spell.ccode)
        t0, t1 = int(self.start[:4]), int(self.end[:4])
        rows = rows[(rows["year"] >= t0) & (rows["year"] <= t1)]
        records = rows.to_dict("records")
        out = []
        for before, after in zip(records, records[1:], strict=False):
            if after["year"] != before["year"] + 1:
                continue
            event = rules.regime_change(before, after, self.names[spell.ccode])
            if event is not None and ordinal(self.start) < ordinal(event["date"]) <= ordinal(
                self.end
            ):
                out.append(event)
        return out

    def _outside(self, spell: Spell) -> list[dict]:
        out = []
        for atopid, entry in self.ix.spells[spell.ccode].items():
            if atopid == self.atopid:
                continue
            joins = ordinal(self.start) < ordinal(entry.entry) <= ordinal(self.end)
            if joins and not self._patron_in(atopid):
                out.append(rules.outside_option(entry, int(atopid), self.names[spell.ccode]))
        return out

    def _capacity(self, spell: Spell) -> list[dict]:
        first, last = int(self.start[:4]) + 1, int(self.end[:4])
        mine = self.ix.state(spell.ccode).set_index("year")
        theirs = self.ix.state(self.patron.ccode).set_index("year")
        level = rules.capability_share(
            self.ix.cinc(spell.ccode, self.year), self.ix.cinc(self.patron.ccode, self.year)
        )
        out = []
        for year in range(first, last + 1):
            if year not in mine.index or year not in theirs.index:
                continue
            m, p = mine.loc[year], theirs.loc[year]
            if m["cinc"] != m["cinc"] or p["cinc"] != p["cinc"]:
                continue
            share = rules.capability_share(m["cinc"], p["cinc"])
            if abs(share - level) >= rules.CAPACITY_STEP:
                lines = (int(m["line"]), int(p["line"]))
                out.append(rules.capacity_change(year, share, lines, self.names[spell.ccode]))
                level = share
        return out

    def observations(self) -> dict:
        return {
            "name": f"atop_{self.atopid}",
            "description": (
                f"Withdrawals, or none, of the founding members of ATOP alliance {self.atopid} "
                f"up to {self.end}, from the ATOP exit dates (docs/library.md)."
            ),
            "as_of": self.end,
            "facts": self.facts,
        }


def _sourced(value: float, source: str) -> dict:
    return {"value": value, "source": source}


def dump(data: dict) -> str:
    """A case file's text: the header, then the YAML (keys in the order built)."""
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def write_library(library: Library, out: Path, experiment: Path | None = None) -> list[Path]:
    """Write every case (NAME.yaml, NAME.obs.yaml), the index and, if asked, the experiment;
    stale `atop_*.yaml` files in `out` are removed. Returns the files written."""
    texts = {}
    for case in library.cases:
        texts[out / f"{case.name}.yaml"] = dump(case.scenario)
        texts[out / f"{case.name}.obs.yaml"] = dump(case.observations)
    texts[out / "index.csv"] = index_table(library).to_csv(index=False, lineterminator="\n")
    if experiment is not None:
        texts[experiment] = experiment_text(library, out, experiment)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("atop_*.yaml"):
        if stale not in texts:
            stale.unlink()
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return list(texts)


def index_table(library: Library) -> pd.DataFrame:
    """One row per ATOP alliance: built (with its size) or left out (with the reason)."""
    rows = [
        {
            "atopid": c.atopid,
            "case": c.name,
            "start": c.scenario["calendar"]["start"],
            "end": c.scenario["calendar"]["end"],
            "patron": c.scenario["patron"]["name"],
            "members": len(c.scenario["members"]),
            "leavers": c.leavers,
            "events": len(c.scenario["events"]),
            "left_out": "; ".join(c.left_out),
        }
        for c in library.cases
    ]
    rows += [{"atopid": a, "case": "", "left_out": why} for a, why in library.skipped]
    return pd.DataFrame(rows).sort_values("atopid", kind="stable")


def experiment_text(library: Library, out: Path, experiment: Path) -> str:
    """The pooled calibration over the library's cases (`experiments/calibrate_atop.yaml`)."""
    import os

    rel = Path(os.path.relpath(out, experiment.parent))
    cases = [
        {"scenario": str(rel / f"{c.name}.yaml"), "observations": str(rel / f"{c.name}.obs.yaml")}
        for c in library.cases
    ]
    largest = max(library.cases, key=lambda c: (len(c.scenario["members"]), -c.atopid))
    first = str(rel / f"{largest.name}.yaml")
    spec = {
        "name": "calibrate_atop",
        "description": (
            "Fit the stage intercepts, the hazard slope, the trust lost on an unanswered request, "
            "contagion, the spread of the members' unobserved reasons and the weights of outside "
            "options and domestic pressure jointly to the withdrawal facts of every ATOP alliance "
            "with a clear patron (docs/library.md)."
        ),
        "scenario": first,
        "seed": 1815,
        "replications": 100,
        "parameters": {
            k: {}
            for k in (
                "disengage_intercept",
                "freeze_intercept",
                "withdraw_intercept",
                "hazard_slope",
                "trust_loss_unanswered",
                "contagion_weight",
                "unobserved_sd",
                "outside_weight",
                "domestic_weight",
            )
        },  # fmt: skip
        "fixed": {"witness_dilution": 1.0},
        "design": {"method": "lhs", "points": 128},
        "calibration": {
            "sampler": "importance",
            "batch": 256,
            "effective_samples": 200,
            "max_evaluations": 4096,
            "draws": 4000,
            "likelihood": "by_member",
            "floor": 0.25,
            "timing": "by",
        },  # fmt: skip
        "cases": cases,
        "outcomes": [{"kind": "any_exit", "by": largest.scenario["calendar"]["end"]}],
    }
    head = (
        "# Pooled calibration over the ATOP case library (scenarios/atop/), written by\n"
        "#   alliance library build --out scenarios/atop --experiment "
        "experiments/calibrate_atop.yaml\n"
        "# Run: alliance calibrate experiments/calibrate_atop.yaml --out out/calibrate_atop\n"
        "# Validate: alliance crossval experiments/calibrate_atop.yaml --folds 5 --out "
        "out/crossval_atop\n"
        "# The nine narrative cases keep experiments/calibrate_history.yaml.\n"
        "# Importance sampling in batches of 256 points: a case's months cost far more in Python\n"
        "# than in the kernels, so the more points one call simulates, the cheaper each point\n"
        '# (docs/calibration.md, "Cost"); emcee\'s half-ensembles gave 8 points a call.\n'
        "# timing: by: a leaver's fact holds for a run that had withdrawn by the month it left (a\n"
        "# current-status likelihood), the event the cross-validation scores; an exit within 6\n"
        "# months of it (window: 6) is too rare for 100 runs to see (docs/calibration.md).\n"
        "# max_evaluations: 4096: most parameters keep their prior's spread and 100 runs a point\n"
        "# make the surface rough, so the effective sample grows slowly (6 after 4,224\n"
        "# evaluations, about 8 minutes on 2 cores); the fit says so when it stops at its budget.\n"
        "# floor: 0.25: with 100 runs a point, (k + a)/(n + 2a) overstates the log-probability of\n"
        "# a fact at 0.3% by 0.81 with a = 0.5 and by 0.25 with a = 0.25 (at 3%: 0.00 and -0.12),\n"
        "# so at 0.5 the leavers the simulation puts deep in their alliances pull too weakly on\n"
        '# the fit (docs/calibration.md, "The likelihood\'s floor").\n'
        "# outside_weight and domestic_weight are fitted: the library's dated events move outside\n"
        "# options (new alliances) and domestic pressure (regime changes), which tell its leavers\n"
        '# from its stayers where the start values do not (docs/calibration.md, "What tells the\n'
        '# leavers apart" and "The weights of the events").\n'
        "# fixed: witness_dilution: 1: each of a member's K fellow members feels 1/K of the\n"
        "# spill-over of the trust it loses to an unanswered request, so that a member of twenty\n"
        "# does not lose trust to the others' requests nineteen times as fast as a member of two\n"
        '# (docs/model.md 7.5; docs/calibration.md, "The spill-over spread over the watchers").\n'
    )
    return head + yaml.safe_dump(spec, sort_keys=False, width=100)


def build(out: Path, experiment: Path | None = None, data: Path | None = None) -> Library:
    """Build the library from the shipped tables (or `data`) and write it to `out`."""
    tables = load_tables(data) if data is not None else load_tables()
    library = build_library(tables)
    if not library.cases:
        raise InputError(str(tables.folder), "", "no alliance with a clear patron in the tables")
    write_library(library, out, experiment)
    return library
