"""The `alliance` Typer application, its console, and the options several commands share.

Commands live in `sim.cli.single`, `sim.cli.batch` and `sim.cli.experiments`, each registering
itself on `app`; `sim.cli.main` imports them all and runs the app.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    str | None,
    typer.Option(help="Run chunks on a Dask cluster at tcp://HOST:PORT (ignores --workers)."),
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Finish an interrupted run in --out (same settings).")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace a run already in --out.")]
if TYPE_CHECKING:
    from sim.batch.jobs import RunOptions
else:  # the type of a job command's `options`: sim.batch is imported when a command runs
    RunOptions = "sim.batch.jobs.RunOptions"
SHARED_OPTIONS = (
    ("workers", WorkersOpt, None),
    ("scheduler", SchedulerOpt, None),
    ("resume", ResumeOpt, False),
    ("force", ForceOpt, False),
)


def job_command[**P, R](command: Callable[P, R]) -> Callable[..., R]:
    """A command that writes a result directory: give it the options every job shares
    (--workers, --scheduler, --resume, --force), handed to it as one `options: RunOptions`."""
    signature = inspect.signature(command)
    own = [  # `options` is left out before its annotation is read: sim.batch is not imported yet
        p.replace(annotation=eval(p.annotation, command.__globals__))  # noqa: S307
        if isinstance(p.annotation, str)
        else p
        for p in signature.parameters.values()
        if p.name != "options"
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, kind, default in SHARED_OPTIONS
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> R:
        from sim.batch.jobs import RunOptions

        chosen = {name: kwargs.pop(name) for name, _, _ in SHARED_OPTIONS if name in kwargs}
        return command(*args, options=RunOptions(**chosen), **kwargs)  # type: ignore[arg-type]

    run.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in [*own, *shared]}
    return run


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
