"""`alliance compare DIR_A DIR_B`: paired differences of two batches (common random numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli import options as opt
from sim.cli.app import app, console
from sim.cli.tables import fitted_tables, percent, points


@app.command()
def compare(
    dir_a: Annotated[Path, typer.Argument(help="A finished batch directory (A).")],
    dir_b: Annotated[
        Path, typer.Argument(help="A finished batch with the same seed and runs (B).")
    ],
    out: opt.optional(Path, "Folder for the tables.", "DIR_A/compare/<name of DIR_B>") = None,
) -> None:
    """Difference A - B of every probability, with paired and unpaired 95% intervals."""
    from sim.batch.compare import compare_batches, width_ratio
    from sim.model.run import write_tables

    tables = compare_batches(dir_a, dir_b)
    folder = out if out is not None else dir_a / "compare" / dir_b.resolve().name
    write_tables(tables, folder)
    a, b = directory_names(dir_a, dir_b)
    for table in fitted_tables(
        console,
        f"P(any formal exit): {a} against {b}, difference in percentage points with 95% intervals",
        "by end of",
        (a, b, f"{a} - {b}", "paired", "unpaired"),
        _alliance_rows(tables["alliance"], tables["by_date"]),
    ):
        console.print(table)
    ratio = width_ratio(tables["difference"])
    console.print(
        f"paired intervals are {ratio:.0%} as wide as unpaired ones (median over the members, "
        "stages and months where some runs differ): what common random numbers bought",
        highlight=False,
    )
    console.print(f"comparison tables: {folder}/", highlight=False)


def directory_names(dir_a: Path, dir_b: Path) -> tuple[str, str]:
    """The names the two batches go by in the table: their folders' names, or the paths as
    given where the names are the same."""
    if dir_a.name != dir_b.name:
        return dir_a.name, dir_b.name
    return str(dir_a), str(dir_b)


def _alliance_rows(alliance, by_date) -> list[list[str]]:
    """Any-exit probability in A and B (%) and their difference (percentage points) with both
    intervals, by year end."""
    months = set(by_date["month"])
    return [
        [
            row.date,
            percent(row.p_a),
            percent(row.p_b),
            points(row.difference),
            f"{points(row.paired_low)} to {points(row.paired_high)}",
            f"{points(row.unpaired_low)} to {points(row.unpaired_high)}",
        ]
        for row in alliance[alliance["month"].isin(months)].itertuples()
    ]
