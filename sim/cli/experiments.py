"""Commands over many parameter points: sweep, sensitivity, calibrate, backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli import options as opt
from sim.cli.app import RunOptions, app, console, job_command
from sim.model.errors import InputError


@app.command()
@job_command
def sweep(
    experiment: opt.ExperimentArg,
    out: opt.out("Sweep directory: results.csv/.parquet, manifest."),
    plot: opt.plot("DIR/figures/heatmap.png") = False,
    posterior: opt.PosteriorOpt = None,
    *,
    options: RunOptions,
) -> None:
    """Outcomes with 95% intervals at every point of a grid or Latin-hypercube design."""
    from sim.cli.experiments_view import sweep_command

    sweep_command(console, experiment, out, plot, options=options, posterior=posterior)


@app.command()
@job_command
def sensitivity(
    experiment: opt.ExperimentArg,
    out: opt.out("Sensitivity directory: indices.csv, results, manifest."),
    plot: opt.plot("the ranked bar chart DIR/figures/sobol.png") = False,
    *,
    options: RunOptions,
) -> None:
    """Global sensitivity: Sobol S1/ST or Morris mu*/sigma of each outcome (SALib)."""
    from sim.cli.experiments_view import sensitivity_command

    sensitivity_command(console, experiment, out, plot, options=options)


@app.command()
@job_command
def calibrate(
    experiment: opt.ExperimentArg,
    out: opt.out("Calibration directory: fitted.csv, posterior, calibrated scenario."),
    observations: opt.optional(
        Path,
        "Observations YAML file for the experiment's scenario (docs/experiments.md).",
        "the experiment's `cases`",
    ) = None,
    *,
    options: RunOptions,
) -> None:
    """Fit shared parameters jointly to the facts of one or more cases (simulated likelihood)."""
    from sim.cli.experiments_view import calibrate_command

    calibrate_command(console, experiment, observations, out, options=options)


@app.command()
@job_command
def backtest(
    scenario: opt.ScenarioArg,
    observations: opt.ObservationsOpt,
    out: opt.out(
        "Backtest directory: events, scores, reliability figure.",
        "out/backtests/SCENARIO--OBSERVATIONS",
    ) = None,
    runs: opt.count("Replications behind each forecast.") = 10_000,
    seed: opt.count("Random seed of the forecast runs.", 0) = 0,
    base_rate: Annotated[
        float | None,
        typer.Option(help="Constant reference forecast (overrides base_rate in the file)."),
    ] = None,
    origin: opt.optional(
        str,
        "Forecast as of this month (YYYY-MM): drop the scenario's later events.",
        "the scenario's history_end",
    ) = None,
    origins: Annotated[
        str | None,
        typer.Option(help="Several origins, comma-separated (YYYY-MM,...): skill by origin."),
    ] = None,
    condition: Annotated[
        bool,
        typer.Option(help="Condition the runs on the facts up to the origin; score the rest."),
    ] = True,
    reached_in: Annotated[
        str, typer.Option(help="With --condition, a reached_in fact: impose or condition.")
    ] = "impose",
    fmt: opt.FormatOpt = "png",
    posterior: opt.PosteriorOpt = None,
    logit_cases: Annotated[
        str,
        typer.Option(
            help="Experiment whose cases the event-history logit and cure logit references "
            "are fitted on (cases on this scenario left out)."
        ),
    ] = "calibrate_history",
    *,
    options: RunOptions,
) -> None:
    """Brier and log scores of the scenario's forecasts against facts, vs base rate, 50/50, the
    event-history logit and its cure variant."""
    from sim.cli.experiments_view import backtest_command

    out = out or Path("out") / "backtests" / f"{scenario.stem}--{observations.stem}"
    run = dict(
        runs=runs, seed=seed, base_rate=base_rate, fmt=fmt, condition=condition,
        reached_in=reached_in, posterior=posterior, logit_cases=logit_cases, options=options,
    )  # fmt: skip
    if origins is not None:
        from sim.cli.origins_view import origins_command

        if origin is not None:
            raise InputError(
                "--origin", origin, "given with --origins; give one (--origins takes several)"
            )

        picked = [o.strip() for o in origins.split(",") if o.strip()]
        origins_command(console, scenario, observations, out, picked, **run)
        return
    backtest_command(console, scenario, observations, out, origin=origin, **run)
