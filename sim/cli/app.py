"""The `alliance` Typer application, its console, and the options several commands share.

Commands live in `sim.cli.single`, `sim.cli.batch` and `sim.cli.experiments`, each registering
itself on `app`; `sim.cli.main` imports them all and runs the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Simulate members leaving an alliance whose patron is drained and stops answering.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file (see docs/scenarios.md).")]

ExperimentArg = Annotated[
    Path, typer.Argument(help="Experiment YAML file (see docs/experiments.md).")
]
ObservationsOpt = Annotated[
    Path,
    typer.Option(help="Observations YAML file: dated facts with sources (docs/experiments.md)."),
]
WorkersOpt = Annotated[
    int | None, typer.Option(min=1, help="Local worker processes.", show_default="all cores")
]
SchedulerOpt = Annotated[
    str | None, typer.Option(help="Run chunks on a Dask cluster at tcp://HOST:PORT.")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Finish an interrupted run in --out (same settings).")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace a run already in --out.")]
PosteriorOpt = Annotated[
    Path | None,
    typer.Option(
        help="Calibration directory (alliance calibrate --out DIR) or the name of a shipped "
        "posterior (docs/calibration.md): runs are grouped by parameter draw from it, and each "
        "estimate gets a parameter interval (spread across draws) beside its Monte Carlo one."
    ),
]
RunsPerDrawOpt = Annotated[
    int,
    typer.Option(
        help="With --posterior: runs per parameter draw (k, a divisor of 1000); the draws are "
        "runs / k. Results do not depend on chunking or workers.",
    ),
]
SummaryOpt = Annotated[bool, typer.Option(help="Summarize when done (as `alliance summarize`).")]
PlotOpt = Annotated[
    bool, typer.Option("--plot", help="Draw DIR/figures/defection-curves.png when done.")
]
