"""`alliance forecast SCENARIO`: a batch conditioned on the known facts, the program's forecast."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from sim.cli import options as opt
from sim.cli.app import RunOptions, app, console, job_command
from sim.cli.tables import fitted_tables

if TYPE_CHECKING:
    from sim.batch.manifests import BatchManifest


@app.command()
@job_command
def forecast(
    scenario: opt.ScenarioArg,
    observations: opt.optional(
        Path,
        "Observations YAML file: dated facts with sources (docs/experiments.md).",
        "the scenario's record: its `observations` field or <stem>.obs.yaml",
    ) = None,
    out: opt.out(
        "Batch directory (docs/batch.md), with the record.", "out/<scenario>_forecast"
    ) = None,
    as_of: opt.optional(
        str, "Use the facts dated up to this month (YYYY-MM).", "the record's as_of"
    ) = None,
    runs: opt.count("Number of replications N.") = 10_000,
    seed: opt.count("Seed; the same inputs give identical results.", 0) = 0,
    reached_in: Annotated[
        str,
        typer.Option(
            help="A 'reached_in' fact: impose the stage in its month (its share of lanes is its "
            "likelihood) or condition on it like the others.",
        ),
    ] = "impose",
    chunk_size: opt.ChunkSizeOpt = None,
    param: opt.ParamOpt = None,
    posterior: Annotated[
        str,
        typer.Option(
            help="Calibration directory or shipped posterior name each run draws its parameters "
            "from (grouped by draw: each estimate gets a parameter interval beside its Monte "
            "Carlo one); `none` for the scenario's fixed parameters.",
            show_default="auto: the shipped posterior that never saw the scenario's record",
        ),
    ] = "auto",
    runs_per_draw: opt.RunsPerDrawOpt = 100,
    summary: opt.SummaryOpt = True,
    plot: opt.PlotOpt = False,
    *,
    options: RunOptions,
) -> None:
    """The program's forecast: runs that agree with every fact known by --as-of (sequential
    importance resampling), each drawing its parameters from a posterior fitted without that
    record, which the facts weigh too. A scenario that names its record needs nothing else."""
    from sim.batch.engines import start_worker_server

    start_worker_server(options.workers, options.scheduler)
    from sim.batch.progress import runs_progress
    from sim.batch.runner import parse_parameters
    from sim.cli.batch_view import after_runs, interrupted, show_after_runs
    from sim.experiments.forecast import forecast as run_forecast
    from sim.experiments.forecast import plan_forecast

    overrides = parse_parameters(param or [])
    plan = plan_forecast(
        scenario, observations, runs, seed, as_of, reached_in, overrides, posterior,
        runs_per_draw,
    )  # fmt: skip
    out = out or Path("out") / f"{plan.scenario.name}_forecast"
    if plan.posterior is None and posterior == "auto":
        console.print(
            f"every shipped posterior saw {plan.scenario.name}'s record (alliance posteriors): "
            "the parameters stay fixed at the scenario's values; give --posterior DIR to draw them",
            highlight=False,
            soft_wrap=True,
        )
    then, shown = after_runs(summary, plot)
    with runs_progress("runs", True) as update:
        outcome = run_forecast(
            scenario, observations, out, runs, seed, as_of, reached_in, options=options,
            chunk_size=chunk_size, overrides=overrides, on_progress=update, plan=plan,
            posterior=posterior, then=then,
        )  # fmt: skip
    batch = outcome.batch
    if batch.interrupted:
        raise typer.Exit(interrupted(batch))
    console.print(
        f"{batch.runs_done:,} runs conditioned on the record in {batch.seconds:.1f} s",
        highlight=False,
    )
    for table in record_tables(console, batch.manifest):
        console.print(table)
    show_after_runs(console, shown, summary, batch.manifest)


def record_tables(console: Console, manifest: BatchManifest) -> list[Table]:
    """Each fact's treatment and share of consistent lanes, the likelihood and the ESS."""
    record, conditioning = manifest.forecast or {}, manifest.conditioning or {}
    title = (
        f"conditioned on {len(record['facts'])} facts known by {record['as_of']}: "
        f"effective sample size {conditioning['ess']:,.0f} "
        f"({conditioning['ess_share']:.0%} of the runs), "
        f"log-likelihood of the record {conditioning['log_likelihood']:.2f}"
    )
    rows = [
        [fact["label"], fact["treatment"], f"{fact['met_share']:.1%}"]
        for fact in conditioning["facts"]
    ]
    headers = ("treatment", "share of lanes meeting it")
    tables = fitted_tables(console, title, "fact", headers, rows)
    update = conditioning.get("parameters") or []
    if update:
        rows = [
            [
                p["parameter"],
                f"{p['drawn_mean']:.3g} ({p['drawn_sd']:.2g})",
                f"{p['kept_mean']:.3g} ({p['kept_sd']:.2g})",
            ]
            for p in update
        ]
        title = "the posterior draws, before and after the record: mean (sd)"
        tables += fitted_tables(console, title, "parameter", ("drawn", "kept"), rows)
    return tables
