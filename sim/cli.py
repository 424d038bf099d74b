"""The `alliance` command line: one command per job; bad input gives one line and exit status 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer._click import exceptions as click_errors

from sim.errors import InputError

app = typer.Typer(
    help="Simulate members leaving an alliance whose patron is drained and stops answering.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file (see docs/scenarios.md).")]


@app.command()
def validate(scenario: ScenarioArg) -> None:
    """Check a scenario file and report every problem, one per line."""
    from sim.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
    except InputError as exc:
        for problem in exc.all():
            print(problem, file=sys.stderr)
        raise typer.Exit(2) from None
    print(
        f"{scenario}: ok ({len(sc.members)} members, {sc.months} months, "
        f"{len(sc.timeline)} events, history to {sc.month_label(sc.history_end)})"
    )


@app.command()
def run(
    scenario: ScenarioArg,
    out: Annotated[
        Path, typer.Option(help="Directory for monthly.{parquet,csv} and events.{parquet,csv}.")
    ],
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed; the same seed gives identical tables.")
    ] = 0,
) -> None:
    """Run one replication and write its monthly table per actor and its event log."""
    from sim.scenario import load_scenario

    sc = load_scenario(scenario)  # before the heavy imports, so bad input fails fast
    from sim.run import run_single, write_tables

    monthly, log, model = run_single(sc, seed)
    write_tables({"monthly": monthly, "events": log}, out)
    _print_run_summary(sc, model, log, out, seed)


def _print_run_summary(sc, model, log, out: Path, seed: int) -> None:
    from sim.schema import STAGES

    table = Table(
        title=f"{sc.name}, seed {seed}: {sc.month_label(0)} to {sc.month_label(sc.months - 1)}"
    )
    for col in ("member", "final trust", "final status", *[f"first {s}" for s in STAGES[1:]]):
        table.add_column(col)
    for m in model.members:
        firsts = [
            sc.month_label(int(x)) if x >= 0 else "-" for x in model.first_passage[0, m.index]
        ]
        table.add_row(m.name, f"{m.trust[0]:.2f}", STAGES[int(m.status[0])], *firsts)
    console.print(table)
    requests = log[log["event"] == "request"]
    console.print(
        f"{model.patron.name} capacity at the end: {model.patron.capacity[0]:.2f}; "
        f"requests: {len(requests)}, answered {int(requests['answered'].sum())}. "
        f"Tables written to {out}/"
    )


@app.command()
def batch(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option(help="Batch directory (see docs/batch.md for its files).")],
    runs: Annotated[int, typer.Option(min=1, help="Number of replications N.")] = 10_000,
    seed: Annotated[
        int, typer.Option(min=0, help="Batch seed; the same seed and N give identical results.")
    ] = 0,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Local worker processes.", show_default="all cores")
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            help="Runs per chunk, a multiple of 1000; results do not depend on it.",
            show_default="a few chunks per worker, at most 50,000",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Run chunks on a Dask cluster at tcp://HOST:PORT (ignores --workers)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish an interrupted batch in --out.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a batch or sweep already in --out.")
    ] = False,
    trajectories: Annotated[
        bool,
        typer.Option("--trajectories", help="Also keep every run's monthly path (N <= 10,000)."),
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Override a model parameter, NAME=VALUE (repeatable)."),
    ] = None,
    summary: Annotated[
        bool, typer.Option(help="Summarize when done (as `alliance summarize`).")
    ] = True,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw DIR/figures/defection-curves.png when done.")
    ] = False,
) -> None:
    """Run N replications of a scenario in chunks; resumable, identical for any workers."""
    from sim.engines import start_worker_server

    start_worker_server(workers, scheduler)  # workers import Mesa while this process starts up
    from sim.batch import parse_parameters
    from sim.batchview import batch_command

    status = batch_command(
        console, scenario, out, summary, plot, runs=runs, seed=seed, workers=workers,
        chunk_size=chunk_size, scheduler=scheduler, resume=resume, force=force,
        trajectories=trajectories, overrides=parse_parameters(param or []),
    )  # fmt: skip
    raise typer.Exit(status)


@app.command()
def summarize(
    directory: Annotated[Path, typer.Argument(help="A finished batch directory.")],
) -> None:
    """Print and write (DIR/summary/) each member's probability of each stage over time."""
    from sim.batchview import summarize_command

    summarize_command(console, directory)


@app.command()
def plot(
    directories: Annotated[
        list[Path],
        typer.Argument(
            help="Result directory: a batch (a sweep for heatmap, a sensitivity run for sobol); "
            "two or more batches for compare."
        ),
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="defection-curves, alliance, trust, capacity, compare, heatmap or sobol."
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
        str, typer.Option(help="compare: the stage compared (disengaged, frozen, withdrawn).")
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
    directory: Annotated[Path, typer.Argument(help="A finished batch directory.")],
    out: Annotated[
        Path | None, typer.Option(help="HTML file to write.", show_default="DIR/report.html")
    ] = None,
) -> None:
    """Write one self-contained HTML report: scenario, estimates, figures and provenance."""
    from sim.report import write_report

    with console.status("writing the report"):
        path = write_report(directory, out)
    print(f"report: {path}")


@app.command()
def viz(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario YAML file (see docs/scenarios.md).")
    ] = Path("scenarios/csto_2022.yaml"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in a web browser.")
    ] = False,
) -> None:
    """Serve the interactive SolaraViz page of one replication until Ctrl-C."""
    from sim.viz import serve

    raise typer.Exit(serve(scenario, host, port, open_browser))


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


@app.command()
def sweep(
    experiment: ExperimentArg,
    out: Annotated[Path, typer.Option(help="Sweep directory: results.csv/.parquet, manifest.")],
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw DIR/figures/heatmap.png when done.")
    ] = False,
) -> None:
    """Outcomes with 95% intervals at every point of a grid or Latin-hypercube design."""
    from sim.experimentview import sweep_command

    sweep_command(
        console, experiment, out, plot,
        workers=workers, scheduler=scheduler, resume=resume, force=force,
    )  # fmt: skip


@app.command()
def sensitivity(
    experiment: ExperimentArg,
    out: Annotated[
        Path, typer.Option(help="Sensitivity directory: indices.csv, results, manifest.")
    ],
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw the ranked bar chart DIR/figures/sobol.png.")
    ] = False,
) -> None:
    """Global sensitivity: Sobol S1/ST or Morris mu*/sigma of each outcome (SALib)."""
    from sim.experimentview import sensitivity_command

    sensitivity_command(
        console, experiment, out, plot,
        workers=workers, scheduler=scheduler, resume=resume, force=force,
    )  # fmt: skip


@app.command()
def calibrate(
    experiment: ExperimentArg,
    observations: ObservationsOpt,
    out: Annotated[
        Path,
        typer.Option(help="Calibration directory: fitted.csv, posterior, calibrated scenario."),
    ],
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Fit the experiment's varied parameters to observed facts (simulated likelihood)."""
    from sim.experimentview import calibrate_command

    calibrate_command(
        console, experiment, observations, out,
        workers=workers, scheduler=scheduler, resume=resume, force=force,
    )  # fmt: skip


@app.command()
def backtest(
    scenario: ScenarioArg,
    observations: ObservationsOpt,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Backtest directory: events, scores, reliability figure.",
            show_default="out/backtests/SCENARIO--OBSERVATIONS",
        ),
    ] = None,
    runs: Annotated[int, typer.Option(min=1, help="Replications behind each forecast.")] = 10_000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the forecast runs.")] = 0,
    base_rate: Annotated[
        float | None,
        typer.Option(help="Constant reference forecast (overrides base_rate in the file)."),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            help="Forecast as of this month (YYYY-MM): drop the scenario's later events.",
            show_default="the scenario's history_end",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Reliability figure format: png, svg or pdf.")
    ] = "png",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Brier and log scores of the scenario's forecasts against facts, vs base rate and 50/50."""
    from sim.experimentview import backtest_command

    out = out or Path("out") / "backtests" / f"{scenario.stem}--{observations.stem}"
    backtest_command(
        console, scenario, observations, out,
        runs=runs, seed=seed, base_rate=base_rate, origin=origin, fmt=fmt,
        workers=workers, scheduler=scheduler, resume=resume, force=force,
    )  # fmt: skip


def main() -> None:
    """Entry point: turn every bad input into one line on stderr and exit status 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="alliance", standalone_mode=False)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        sys.exit(0)
    except click_errors.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx else "alliance: "
        print(f"error: {where}{exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
