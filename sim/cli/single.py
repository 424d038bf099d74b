"""Commands on one scenario and one replication: validate, run, viz, scenarios."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.cli import options as opt
from sim.cli.app import app, console
from sim.cli.tables import fitted_tables
from sim.model.errors import InputError


@app.command()
def validate(scenario: opt.ScenarioArg) -> None:
    """Check a scenario file and report every problem, one per line."""
    from sim.model.scenario import load_scenario

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
    scenario: opt.ScenarioArg,
    out: opt.out("Directory for monthly.{parquet,csv} and events.{parquet,csv}."),
    seed: opt.count("Random seed; the same seed gives identical tables.", 0) = 0,
) -> None:
    """Run one replication and write its monthly table per actor and its event log."""
    from sim.model.scenario import load_scenario

    sc = load_scenario(scenario)  # before the heavy imports, so bad input fails fast
    from sim.model.run import run_single, write_tables

    monthly, log, model = run_single(sc, seed)
    write_tables({"monthly": monthly, "events": log}, out)
    _print_run_summary(sc, model, log, out, seed)


def _print_run_summary(sc, model, log, out: Path, seed: int) -> None:
    from sim.model.stages import STAGES

    rows = []
    for m in model.members:
        firsts = [
            sc.month_label(int(x)) if x >= 0 else "-" for x in model.first_passage[0, m.index]
        ]
        rows.append([m.name, f"{m.trust[0]:.2f}", STAGES[int(m.status[0])], *firsts])
    headers = ["final trust", "final status", *[f"first {s}" for s in STAGES[1:]]]
    title = f"{sc.name}, seed {seed}: {sc.month_label(0)} to {sc.month_label(sc.months - 1)}"
    for table in fitted_tables(console, title, "member", headers, rows):
        console.print(table)
    requests = log[log["event"] == "request"]
    console.print(
        f"{model.patron.name} capacity at the end: {model.patron.capacity[0]:.2f}; "
        f"requests: {len(requests)}, answered {int(requests['answered'].sum())}. "
        f"Tables written to {out}/"
    )


@app.command()
def viz(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario YAML file or shipped name (default: the first shipped scenario)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in a web browser.")
    ] = False,
) -> None:
    """Serve the interactive SolaraViz page of one replication until Ctrl-C."""
    from sim.model.shipped import default_scenario
    from sim.viz.serve import serve

    raise typer.Exit(serve(scenario or default_scenario(), host, port, open_browser))


@app.command()
def scenarios() -> None:
    """List the shipped scenarios (each usable by name: `alliance batch NAME`)."""
    from sim.model.shipped import shipped

    table = Table(title="Shipped scenarios", show_lines=False)
    table.add_column("name", no_wrap=True)
    table.add_column("description")
    for name, description in shipped("scenarios"):
        table.add_row(name, description)
    console.print(table)
