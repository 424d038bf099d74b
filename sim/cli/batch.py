"""Commands on batches: batch, summarize, plot, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli import options as opt
from sim.cli.app import RunOptions, app, console, job_command


@app.command()
@job_command
def batch(
    scenario: opt.ScenarioArg,
    out: opt.out("Batch directory (see docs/batch.md for its files)."),
    runs: opt.count("Number of replications N.") = 10_000,
    seed: opt.count("Batch seed; the same seed and N give identical results.", 0) = 0,
    chunk_size: opt.ChunkSizeOpt = None,
    trajectories: Annotated[
        bool,
        typer.Option("--trajectories", help="Also keep every run's monthly path (N <= 10,000)."),
    ] = False,
    param: opt.ParamOpt = None,
    posterior: opt.PosteriorOpt = None,
    runs_per_draw: opt.RunsPerDrawOpt = 100,
    summary: opt.SummaryOpt = True,
    plot: opt.PlotOpt = False,
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
    out: opt.optional(Path, "Figure file or folder.", "DIR/figures/KIND.FORMAT") = None,
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
    out: opt.out("HTML file to write.", "DIR/report.html") = None,
    scores: opt.optional(
        Path,
        "Of a batch or forecast under a posterior: an `alliance score` or `alliance "
        "backtest` directory run under the same posterior, shown as its out-of-sample record.",
        "a crossval fold's own record where the posterior is one, else none",
    ) = None,
) -> None:
    """Write one self-contained HTML report. Of a batch or forecast: scenario, estimates with
    their intervals, how the parameters were fitted and scored out of sample, figures and
    provenance. Of a calibration: the posterior against the prior and how it scored out of
    sample. Of a backtest, crossval or score run: every forecaster's scores (base rate, 50/50,
    logit) and the model's skill against each, per case and in total, and the reliability
    diagram."""
    from sim.report.html import write_report

    with console.status("writing the report"):
        path = write_report(directory, out, scores)
    print(f"report: {path}")
