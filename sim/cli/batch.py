"""Commands on batches: batch, summarize, plot, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.app import (
    PlotOpt,
    PosteriorOpt,
    RunOptions,
    RunsPerDrawOpt,
    ScenarioArg,
    SummaryOpt,
    app,
    console,
    job_command,
)


@app.command()
@job_command
def batch(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option(help="Batch directory (see docs/batch.md for its files).")],
    runs: Annotated[int, typer.Option(min=1, help="Number of replications N.")] = 10_000,
    seed: Annotated[
        int, typer.Option(min=0, help="Batch seed; the same seed and N give identical results.")
    ] = 0,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            help="Runs per chunk, a multiple of 1000; results do not depend on it.",
            show_default="a few chunks per worker, at most 50,000",
        ),
    ] = None,
    trajectories: Annotated[
        bool,
        typer.Option("--trajectories", help="Also keep every run's monthly path (N <= 10,000)."),
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Override a model parameter, NAME=VALUE (repeatable)."),
    ] = None,
    posterior: PosteriorOpt = None,
    runs_per_draw: RunsPerDrawOpt = 100,
    summary: SummaryOpt = True,
    plot: PlotOpt = False,
    *,
    options: RunOptions,
) -> None:
    """Run N replications of a scenario in chunks; resumable, identical for any workers.
    Without --posterior the parameters are fixed at the scenario's values: uncalibrated, and
    not held to the record (`alliance forecast` gives the program's forecast)."""
    from sim.batch.engines import start_worker_server

    start_worker_server(options.workers, options.scheduler, runs)  # workers import Mesa meanwhile
    from sim.batch.runner import parse_parameters
    from sim.cli.batch_view import batch_command

    status = batch_command(
        console, scenario, out, summary, plot, runs=runs, seed=seed, options=options,
        chunk_size=chunk_size, trajectories=trajectories, overrides=parse_parameters(param or []),
        posterior=posterior, runs_per_draw=runs_per_draw,
    )  # fmt: skip
    raise typer.Exit(status)


@app.command()
def summarize(
    directory: Annotated[Path, typer.Argument(help="A finished batch directory.")],
) -> None:
    """Print and write (DIR/summary/) each member's probability of each stage over time."""
    from sim.cli.batch_view import summarize_command

    summarize_command(console, directory)


@app.command()
def plot(
    directories: Annotated[
        list[Path],
        typer.Argument(
            help="Result directory: a batch (a sweep for heatmap, a sensitivity run for sobol); "
            "two or more batches for compare, two (A, B) for difference."
        ),
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="defection-curves, alliance, trust, capacity, compare, difference, heatmap, "
            "or sobol."
        ),
    ] = "defection-curves",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="png, svg or pdf.", show_default="--out's suffix, else png"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Figure file or folder.", show_default="DIR/figures/KIND.FORMAT"),
    ] = None,
    by: Annotated[
        str, typer.Option(help="defection-curves: one panel per 'stage' or per 'member'.")
    ] = "stage",
    stage: Annotated[
        str, typer.Option(help="compare, difference: the stage (disengaged, frozen, withdrawn).")
    ] = "withdrawn",
    events: Annotated[
        str,
        typer.Option(
            help="Event markers: all, none, or comma-separated kinds (crisis,drain,rebuke,...)."
        ),
    ] = "all",
) -> None:
    """Draw a figure (PNG, SVG or PDF) from batch, sweep or sensitivity results."""
    from sim.plots import plot as draw
    from sim.plots import resolve_format

    with console.status(f"drawing {kind}"):
        path = draw(
            directories, kind, out, resolve_format(out, fmt), by=by, stage=stage, events=events
        )
    print(f"figure: {path}")


@app.command()
def report(
    directory: Annotated[
        Path,
        typer.Argument(
            help="A finished batch, forecast, calibrate, backtest, crossval or score directory."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="HTML file to write.", show_default="DIR/report.html")
    ] = None,
) -> None:
    """Write one self-contained HTML report. Of a batch or forecast: scenario, estimates with
    their intervals, how the parameters were fitted and scored out of sample, figures and
    provenance. Of a calibration: the posterior against the prior and how it scored out of
    sample. Of a backtest, crossval or score run: every forecaster's scores (base rate, 50/50,
    logit) and the model's skill against each, per case and in total, and the reliability
    diagram."""
    from sim.report.html import write_report

    with console.status("writing the report"):
        path = write_report(directory, out)
    print(f"report: {path}")
