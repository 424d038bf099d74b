"""The shipped data tables of the case library, read and checked (`sim/library/DATA.md`).

Each table is a small CSV under `sim/library/data/`, derived from the original files by
`python -m sim.library.build_tables RAW_DIR`. Reading checks every cell against the table's
column types, so a damaged file fails with one line naming the file, the line and the column.
Every row keeps its file line (`line`), which the events and facts built from it cite.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.model.errors import InputError

DATA = Path(__file__).resolve().parent / "data"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# Per table, its columns and each column's type: int, float, month (YYYY-MM), text; a trailing
# "?" allows an empty cell (a missing value, or an ongoing spell for a month).
COLUMNS: dict[str, dict[str, str]] = {
    "members": {
        "atopid": "int", "ccode": "int", "phase": "int", "entry": "month", "exit": "month?",
        "termmode": "int", "milaid": "int", "base": "int", "ecaid": "int",
    },
    "alliances": {"atopid": "int", "start": "month", "end": "month?"},
    "capabilities": {"ccode": "int", "year": "int", "cinc": "float?", "polity2": "float?"},
    "wars": {
        "war": "int", "name": "text", "ccode": "int", "principal": "int", "start": "month",
        "end": "month",
    },
    "disputes": {
        "dispute": "int", "ccode": "int", "opponent": "int", "side_a": "int", "start": "month",
        "hostlev": "int",
    },
    "majors": {"ccode": "int", "start": "month", "end": "month"},
    "states": {"ccode": "int", "name": "text"},
}  # fmt: skip


@dataclass(frozen=True)
class Tables:
    """The library's data: one checked data frame per table, each row with its file line."""

    members: pd.DataFrame
    alliances: pd.DataFrame
    capabilities: pd.DataFrame
    wars: pd.DataFrame
    disputes: pd.DataFrame
    majors: pd.DataFrame
    states: pd.DataFrame
    folder: Path


def _cell(value: str, kind: str) -> object:
    """One cell read as its column's type; ValueError with what was expected."""
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value == "":
        if optional:
            return None if kind == "month" else float("nan")
        raise ValueError(f"empty; expected {'a month YYYY-MM' if kind == 'month' else kind}")
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an integer") from None
    if kind == "float":
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if kind == "month":
        if not _MONTH.match(value):
            raise ValueError(f"{value!r} is not a month; expected YYYY-MM")
        return value
    return value


def read_table(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """One table, every cell checked; InputError naming the file, line and column if not."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputError(str(path), "line 1", "empty file; expected a header row")
        missing = [c for c in columns if c not in header]
        if missing:
            raise InputError(str(path), "line 1", f"missing column(s) {', '.join(missing)}")
        at = {c: header.index(c) for c in columns}
        rows = []
        for number, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise InputError(
                    str(path), f"line {number}", f"{len(row)} cells; expected {len(header)}"
                )
            record: dict[str, object] = {"line": number}
            for column, kind in columns.items():
                try:
                    record[column] = _cell(row[at[column]], kind)
                except ValueError as exc:
                    where = f"line {number}, column {column}"
                    raise InputError(str(path), where, str(exc)) from None
            rows.append(record)
    frame = pd.DataFrame(rows, columns=["line", *columns])
    for column, kind in columns.items():
        if kind == "month?":  # an open spell stays None (not NaN) so that `is None` tells it
            values = frame[column].astype(object)
            frame[column] = pd.Series(
                [v if isinstance(v, str) else None for v in values], dtype=object
            )
    return frame


def load_tables(folder: Path = DATA) -> Tables:
    """Every table of the library from `folder` (the shipped data by default), checked."""
    frames = {}
    for name, columns in COLUMNS.items():
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise InputError(str(path), "", "file not found; expected the library's data table")
        frames[name] = read_table(path, columns)
    return Tables(folder=folder, **frames)
