"""`alliance discover SWEEP_DIR --outcome ...`: PRIM scenario discovery over a sweep's points."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli import options as opt
from sim.cli.app import app, console
from sim.cli.tables import fitted_tables


@app.command()
def discover(
    sweep_dir: Annotated[Path, typer.Argument(help="A finished sweep (or sensitivity) directory.")],
    outcome: Annotated[
        str,
        typer.Option(help="The outcome's label in the sweep, e.g. 'MEMBER withdrawn by 2030-12'."),
    ],
    above: Annotated[
        float | None,
        typer.Option(
            help="A point is of interest when its estimate is above this (a probability as a "
            "fraction, 0.2 for 20%, as the sweep's files hold it; the console shows it in %)."
        ),
    ] = None,
    below: Annotated[
        float | None, typer.Option(help="... or below this (give one of --above, --below).")
    ] = None,
    min_coverage: Annotated[
        float, typer.Option(help="The chosen box is the densest with at least this coverage.")
    ] = 0.8,
    peel_alpha: Annotated[
        float, typer.Option(help="Share of the box's points peeled off at each step.")
    ] = 0.05,
    mass_min: Annotated[
        float, typer.Option(help="Peeling stops when the box holds this share of the points.")
    ] = 0.05,
    out: opt.optional(Path, "Folder for the tables and figure.", "SWEEP_DIR/discover") = None,
) -> None:
    """Which box of the swept parameters makes an outcome likely (PRIM): trajectory, box, figure."""
    from sim.experiments.discover import discover as run_discovery
    from sim.experiments.discover import write_discovery

    found = run_discovery(
        sweep_dir, outcome, above=above, below=below, min_coverage=min_coverage,
        peel_alpha=peel_alpha, mass_min=mass_min,
    )  # fmt: skip
    folder = out if out is not None else sweep_dir / "discover"
    figure = write_discovery(found, folder)
    step = found.trajectory.iloc[found.chosen]
    cases = int(found.points["of_interest"].sum())
    console.print(
        f"{outcome}: {cases} of {len(found.points)} points have {found.shown_rule()}; "
        f"box {found.chosen} of {len(found.trajectory)} covers {step.coverage:.0%} of them "
        f"at density {step.density:.0%} ({step.mass:.0%} of the points)",
        highlight=False,
    )
    rows = [
        [
            row.parameter if row.restricted else f"{row.parameter} (free)",
            f"{row.low:.4g}",
            f"{row.high:.4g}",
            f"{row.range_low:.4g} to {row.range_high:.4g}",
            "" if row.qp_value != row.qp_value else f"{row.qp_value:.2g}",
        ]
        for row in found.box.itertuples()
    ]
    headers = ("low", "high", "swept range", "quasi-p")
    for table in fitted_tables(console, "chosen box", "parameter", headers, rows):
        console.print(table)
    console.print(f"tables: {folder}/\nfigure: {figure}", highlight=False)
