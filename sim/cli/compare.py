"""`alliance compare DIR_A DIR_B`: paired differences of two batches (common random numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.app import app, console
from sim.cli.tables import fitted_tables


@app.command()
def compare(
    dir_a: Annotated[Path, typer.Argument(help="A finished batch directory (A).")],
    dir_b: Annotated[
        Path, typer.Argument(help="A finished batch with the same seed and runs (B).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the tables.", show_default="DIR_A/compare/<name of DIR_B>"),
    ] = None,
) -> None:
    """Difference A - B of every probability, with paired and unpaired 95% intervals."""
    from sim.batch.compare import compare_batches, width_ratio
    from sim.model.run import write_tables

    tables = compare_batches(dir_a, dir_b)
    folder = out if out is not None else dir_a / "compare" / dir_b.resolve().name
    write_tables(tables, folder)
    for table in fitted_tables(
        console,
        "P(any formal exit), A - B, 95% intervals",
        "by end of",
        ("A", "B", "A - B", "paired", "unpaired"),
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


def _alliance_rows(alliance, by_date) -> list[list[str]]:
    """Any-exit probability in A and B and their difference with both intervals, by year end."""
    months = set(by_date["month"])
    return [
        [
            row.date,
            f"{row.p_a:.2%}",
            f"{row.p_b:.2%}",
            f"{row.difference:+.2%}",
            f"{row.paired_low:+.2%} to {row.paired_high:+.2%}",
            f"{row.unpaired_low:+.2%} to {row.unpaired_high:+.2%}",
        ]
        for row in alliance[alliance["month"].isin(months)].itertuples()
    ]
