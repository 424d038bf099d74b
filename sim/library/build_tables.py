"""Rebuild the shipped data tables (`sim/library/data/*.csv`) from the original public files.

Run once by a maintainer, never at run time (the program downloads nothing):

    python -m sim.library.build_tables RAW_DIR

RAW_DIR holds the original files named in `sim/library/DATA.md` (ATOP 4.01 member and alliance
level, COW capabilities with Polity, COW inter-state wars, the GML dyadic disputes, and the COW
major powers and state names as `.rda` files of peacesciencer, read with the `rdata` package).
Each table keeps only the rows and columns the library builder uses. The Rio Treaty (ATOP 3075)
is reserved as an external test of the program: its rows are dropped as each ATOP file is read,
before anything else looks at them, and are written nowhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data"
RESERVED_ATOP_IDS = frozenset({3075})  # the Rio Treaty (TIAR): an external test, never built
RAW_FILES = {
    "members": "atop-member-level.csv",
    "alliances": "atop-alliance-level.csv",
    "capabilities": "cinc-polity.csv",
    "wars": "interstate-war-rev.csv",
    "disputes": "gml-ddy-disputes-2.03.csv",
    "majors": "cow_majors.rda",
    "states": "cow_states.rda",
}


def month_of(year: int, month: int) -> str:
    """`YYYY-MM`, a missing month (0) read as January; '' for a missing year (0: ongoing)."""
    if int(year) <= 0:
        return ""
    return f"{int(year):04d}-{max(1, int(month)):02d}"


def read_atop(path: Path) -> pd.DataFrame:
    """An ATOP file without the reserved alliances (dropped before any other use)."""
    frame = pd.read_csv(path, low_memory=False)
    return frame[~frame["atopid"].isin(RESERVED_ATOP_IDS)].reset_index(drop=True)


def members_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per ATOP member phase: alliance, state, entry and exit months, provisions used."""
    out = pd.DataFrame(
        {
            "atopid": raw["atopid"].astype(int),
            "ccode": raw["member"].astype(int),
            "phase": raw["phase"].astype(int),
            "entry": [month_of(y, m) for y, m in zip(raw["yrent"], raw["moent"], strict=True)],
            "exit": [month_of(y, m) for y, m in zip(raw["yrexit"], raw["moexit"], strict=True)],
            "termmode": raw["termmode"].astype(int),
            "milaid": (raw["milaid"] > 0).astype(int),
            "base": (raw["base"] > 0).astype(int),
            "ecaid": (raw["ecaid"] > 0).astype(int),
        }
    )
    return out.sort_values(["atopid", "ccode", "entry", "phase"], kind="stable")


def alliances_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per ATOP alliance: its first and last month ('' while in effect)."""
    out = pd.DataFrame(
        {
            "atopid": raw["atopid"].astype(int),
            "start": [month_of(y, m) for y, m in zip(raw["begyr"], raw["begmo"], strict=True)],
            "end": [month_of(y, m) for y, m in zip(raw["endyr"], raw["endmo"], strict=True)],
        }
    )
    return out.sort_values("atopid", kind="stable")


def capabilities_table(raw: pd.DataFrame, states: set[int]) -> pd.DataFrame:
    """CINC and Polity2 by state-year, for the states that are ATOP members."""
    keep = raw[raw["ccode"].isin(states)]
    out = pd.DataFrame(
        {
            "ccode": keep["ccode"].astype(int),
            "year": keep["year"].astype(int),
            "cinc": keep["cinc"].round(6),
            "polity2": keep["polity2"],
        }
    )
    return out.sort_values(["ccode", "year"], kind="stable")


def wars_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per state and inter-state war: first and last month, and whether a principal."""
    ccode_columns = [c for c in raw.columns if c.endswith("ccode")]
    rows = []
    for war, group in raw.groupby("larger_war_id", sort=True):
        for ccode in sorted({int(c) for c in group[ccode_columns].stack().dropna() if c > 0}):
            mine = group[(group[ccode_columns] == ccode).any(axis=1)]
            sides = (mine["init_ccode"] == ccode) | (mine["target_ccode"] == ccode)
            principal = bool(sides.any())
            first = mine.sort_values(["year", "month_entry"]).iloc[0]
            last = mine.sort_values(["year", "month_exit"]).iloc[-1]
            rows.append(
                {
                    "war": int(war),
                    "name": str(first["larger_war_name"]),
                    "ccode": ccode,
                    "principal": int(principal),
                    "start": month_of(first["year"], first["month_entry"]),
                    "end": month_of(last["year"], last["month_exit"]),
                }
            )
    return pd.DataFrame(rows)


def disputes_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per directed dispute dyad: its first month, the state's side, the highest level."""
    raw = raw.sort_values(["dispnum", "ccode1", "ccode2", "year"], kind="stable")
    first = raw.groupby(["dispnum", "ccode1", "ccode2"], sort=True).first().reset_index()
    onset = raw.groupby("dispnum")["year"].min()
    months = [
        month_of(y, m if y == onset[d] else 1)
        for d, y, m in zip(first["dispnum"], first["year"], first["stmon"], strict=True)
    ]
    return pd.DataFrame(
        {
            "dispute": first["dispnum"].astype(int),
            "ccode": first["ccode1"].astype(int),
            "opponent": first["ccode2"].astype(int),
            "side_a": first["sidea1"].astype(int),
            "start": months,
            "hostlev": first["hostlev"].astype(int),
        }
    )


def read_rda(path: Path, name: str) -> pd.DataFrame:
    """A data frame from an R `.rda` file (the `rdata` package; only this build needs it)."""
    import warnings

    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tibble classes read as plain data frames
        return rdata.read_rda(str(path))[name]


def majors_table(raw: pd.DataFrame) -> pd.DataFrame:
    """COW major-power spells: state, first and last month."""
    return pd.DataFrame(
        {
            "ccode": raw["ccode"].astype(int),
            "start": [month_of(y, m) for y, m in zip(raw["styear"], raw["stmonth"], strict=True)],
            "end": [month_of(y, m) for y, m in zip(raw["endyear"], raw["endmonth"], strict=True)],
        }
    ).sort_values(["ccode", "start"], kind="stable")


def states_table(raw: pd.DataFrame, states: set[int]) -> pd.DataFrame:
    """COW state names of the ATOP members (the name of the state's first spell)."""
    first = raw.sort_values(["ccode", "styear"]).groupby("ccode").first().reset_index()
    first = first[first["ccode"].astype(int).isin(states)]
    names = first["statenme"].str.strip()
    return pd.DataFrame({"ccode": first["ccode"].astype(int), "name": names})


def build_tables(raw_dir: Path, out: Path = DATA) -> dict[str, int]:
    """Read the original files in `raw_dir`, write the compact tables to `out`; rows written."""
    missing = [f for f in RAW_FILES.values() if not (raw_dir / f).is_file()]
    if missing:
        raise SystemExit(f"{raw_dir}: missing {', '.join(missing)} (see sim/library/DATA.md)")
    members = members_table(read_atop(raw_dir / RAW_FILES["members"]))
    states = set(members["ccode"])
    tables = {
        "members": members,
        "alliances": alliances_table(read_atop(raw_dir / RAW_FILES["alliances"])),
        "capabilities": capabilities_table(
            pd.read_csv(raw_dir / RAW_FILES["capabilities"]), states
        ),
        "wars": wars_table(pd.read_csv(raw_dir / RAW_FILES["wars"])),
        "disputes": disputes_table(pd.read_csv(raw_dir / RAW_FILES["disputes"])),
        "majors": majors_table(read_rda(raw_dir / RAW_FILES["majors"], "cow_majors")),
        "states": states_table(read_rda(raw_dir / RAW_FILES["states"], "cow_states"), states),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
    return {name: len(table) for name, table in tables.items()}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m sim.library.build_tables RAW_DIR")
    for table, rows in build_tables(Path(sys.argv[1])).items():
        print(f"{table}: {rows} rows")
