"""`alliance posteriors` and `alliance refit-posteriors`: the fits shipped with the program."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli import options as opt
from sim.cli.app import app, console


@app.command()
def posteriors() -> None:
    """List the shipped posteriors (`--posterior NAME`): cases, samples, command and commit."""
    from sim.experiments.shipped_fits import describe_shipped

    rows = describe_shipped()
    if not rows:
        console.print("no shipped posteriors (experiments/posteriors/)", highlight=False)
    for row in rows:
        console.print(
            f"{row['name']}: {len(row['cases'])} cases ({', '.join(row['cases'])}), "
            f"{row['samples']:,} samples of {', '.join(row['parameters'])}; made by "
            f"{row['command']} at commit {row['commit'][:12]}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("refit-posteriors")
def refit_posteriors(
    fits: opt.optional(Path, "Fits file.", "experiments/posteriors/fits.yaml") = None,
    out: opt.out("Folder of the posteriors.", "beside the fits file") = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Refit only this posterior (repeatable).")
    ] = None,
    workers: opt.WorkersOpt = None,
) -> None:
    """Rebuild the shipped posteriors from their experiments (after a change to the model)."""
    from sim.experiments.shipped_fits import refit

    for done in refit(fits, out, only=only, workers=workers):
        console.print(
            f"{done.name}: {done.samples:,} samples in {done.folder}/ ({done.seconds:.0f} s)",
            highlight=False,
            soft_wrap=True,
        )
