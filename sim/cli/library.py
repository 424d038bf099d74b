"""`alliance library build`: the ATOP case library, built from the shipped data tables."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from sim.cli import options as opt
from sim.cli.app import app, console

library_app = typer.Typer(
    help="The ATOP case library: every alliance with a clear patron as a scenario and its facts.",
    no_args_is_help=True,
)
app.add_typer(library_app, name="library")


@library_app.command("build")
def build(
    out: opt.out("Folder for NAME.yaml, NAME.obs.yaml and index.csv."),
    experiment: Annotated[
        Path | None,
        typer.Option(help="Also write the pooled calibration over the library to this file."),
    ] = None,
    data: opt.optional(Path, "Folder of the data tables.", "the shipped sim/library/data") = None,
) -> None:
    """Build a scenario and an observations file for every ATOP alliance with a clear patron."""
    from sim.library.build import build as run

    began = time.perf_counter()
    library = run(out, experiment, data)
    members = sum(len(c.scenario["members"]) for c in library.cases)
    leavers = sum(c.leavers for c in library.cases)
    late = sum(len(c.left_out) for c in library.cases)
    console.print(
        f"{len(library.cases)} alliances built ({members} founding members, {leavers} leavers; "
        f"{late} later joiners left out), {len(library.skipped)} left out (reasons in "
        f"{out}/index.csv), in {time.perf_counter() - began:.0f} s.",
        highlight=False,
        soft_wrap=True,
    )
