"""The arguments and options several commands share, as types for their signatures.

A command writes `out: opt.out("What the directory holds.")` or `runs: opt.count("...") = 2000`:
one line per option, the same wording and bounds wherever the option means the same thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
FormatOpt = Annotated[
    str, typer.Option("--format", help="Reliability figure format: png, svg or pdf.")
]
ChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        help="Runs per chunk, a multiple of 1000; results do not depend on it.",
        show_default="a few chunks per worker, at most 50,000",
    ),
]
ParamOpt = Annotated[
    list[str] | None, typer.Option(help="Override a model parameter, NAME=VALUE (repeatable).")
]


def optional(kind: Any, help: str, default: str) -> Any:
    """An option that may be left out (None); `default` says what stands in for it."""
    return Annotated[kind | None, typer.Option(help=help, show_default=default)]


def out(help: str, default: str | None = None) -> Any:
    """A command's --out (what it writes): required, or where it goes when left out."""
    if default is None:
        return Annotated[Path, typer.Option(help=help)]
    return optional(Path, help, default)


def count(help: str, minimum: int = 1) -> Any:
    """An integer option with a lower bound (--runs, --seed)."""
    return Annotated[int, typer.Option(min=minimum, help=help)]


def folds(help: str) -> Any:
    """--folds K: whole case groups (alliances) per fold, never split."""
    return Annotated[int | None, typer.Option(min=2, help=help, show_default="one fold per case")]


def plot(figure: str) -> Any:
    """A command's --plot flag, which draws `figure` when the job is done."""
    return Annotated[bool, typer.Option("--plot", help=f"Draw {figure} when done.")]


PlotOpt = plot("DIR/figures/defection-curves.png")
