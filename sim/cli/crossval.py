"""`alliance crossval`: leave-one-case-out validation of a pooled calibration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sim.cli.app import ExperimentArg, app, console, job_command

if TYPE_CHECKING:
    from sim.batch.jobs import RunOptions


@app.command()
@job_command
def crossval(
    experiment: ExperimentArg,
    out: Annotated[
        Path, typer.Option(help="Cross-validation directory: events, scores, folds, figure.")
    ],
    runs: Annotated[
        int, typer.Option(min=1, help="Runs of each held-out case under its fold's posterior.")
    ] = 2000,
    fmt: Annotated[
        str, typer.Option("--format", help="Reliability figure format: png, svg or pdf.")
    ] = "png",
    *,
    options: RunOptions,
) -> None:
    """Leave each case out: fit the rest, forecast it, score it against a base rate and 50/50."""
    from sim.experiments.crossval import crossval as run

    result = run(experiment, out, runs=runs, fmt=fmt, options=options)
    table = Table(title="Held-out scores (lower is better); skill = 1 - score / base-rate score")
    for column in ("held-out case", "facts", "forecaster", "Brier", "log score", "skill B / log"):
        table.add_column(column, justify="right")
    for r in result.scores.itertuples():
        skill = (
            f"{r.brier_skill_vs_base_rate:+.2f} / {r.log_score_skill_vs_base_rate:+.2f}"
            if r.forecaster == "model"
            else ""
        )
        table.add_row(
            r.case, str(r.events), r.forecaster, f"{r.brier:.4f}", f"{r.log_score:.4f}", skill
        )
    console.print(table)
    verdict = "beats" if result.summary["beats_base_rate"] else "does not beat"
    console.print(
        f"Over all {result.summary['events']} held-out facts the model {verdict} the base rate "
        f"on both scores. Tables: {out}/scores.csv; reliability diagram: {result.figure}",
        highlight=False,
        soft_wrap=True,
    )
