"""What the experiment commands (sweep, sensitivity, calibrate, backtest) print and draw.

Each `*_command` runs the job through its module and prints a short rich summary; the CLI in
`sim.cli.main` only parses options and calls these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table


def sweep_command(console: Console, experiment: Path, out: Path, plot: bool, **run: Any) -> None:
    """Run a sweep; print each outcome's range over the points; draw the heat map if asked."""
    from sim.experiments.sweep import sweep

    results = sweep(experiment, out, **run)
    table = Table(title=f"Sweep: {results['point'].nunique()} points, written to {out}/")
    for column in ("outcome", "lowest [95% CI], where", "highest [95% CI], where"):
        table.add_column(column)
    params = [c for c in results.columns if c not in _RESULT_COLUMNS]
    for outcome, rows in results.groupby("outcome", sort=False):
        low, high = rows.loc[rows["estimate"].idxmin()], rows.loc[rows["estimate"].idxmax()]
        table.add_row(str(outcome), _fmt(low, params), _fmt(high, params))
    console.print(table)
    if plot:
        _plot(console, out, "heatmap")


def sensitivity_command(
    console: Console, experiment: Path, out: Path, plot: bool, **run: Any
) -> None:
    """Run a sensitivity analysis; print the parameters ranked per outcome; draw bars if asked."""
    from sim.experiments.sensitivity import sensitivity

    indices = sensitivity(experiment, out, **run)
    for (outcome, method), rows in indices.groupby(["outcome", "method"], sort=False):
        key = "ST" if method == "sobol" else "mu_star"
        cols = ("S1", "S1_conf", "ST", "ST_conf") if method == "sobol" else _MORRIS
        shown = min(12, len(rows))
        table = Table(title=f"{outcome} ({method}): top {shown} of {len(rows)} by {key}")
        table.add_column("parameter")
        for col in cols:
            table.add_column(col, justify="right")
        for row in rows.sort_values(key, ascending=False).head(shown).itertuples():
            table.add_row(row.parameter, *(f"{getattr(row, c):.3f}" for c in cols))
        console.print(table)
    console.print(f"Indices written to {out}/indices.csv")
    if plot:
        _plot(console, out, "sobol")


_MORRIS = ("mu_star", "mu_star_conf", "sigma")
_RESULT_COLUMNS = ("point", "outcome", "estimate", "low", "high", "n")


def calibrate_command(
    console: Console, experiment: Path, observations: Path, out: Path, **run: Any
) -> None:
    """Run a calibration; print the fitted parameters and the posterior predictive outcomes."""
    from sim.experiments.calibrate import calibrate

    fit = calibrate(experiment, observations, out, **run)
    table = Table(title="Fitted parameters (posterior over a uniform prior)")
    for column in ("parameter", "mean", "sd", "2.5%", "median", "97.5%", "best", "prior"):
        table.add_column(column, justify="right")
    for r in fit.fitted.itertuples():
        table.add_row(
            r.parameter,
            *(f"{x:.3g}" for x in (r.mean, r.sd, r.low, r.median, r.high, r.best)),
            f"[{r.prior_low:g}, {r.prior_high:g}]",
        )
    console.print(table)
    outcomes = Table(title="Outcomes: prior mean, posterior mean and 95% interval")
    for column in ("outcome", "prior", "posterior", "2.5%", "97.5%"):
        outcomes.add_column(column, justify="right")
    for r in fit.outcomes.itertuples():
        outcomes.add_row(
            r.outcome, *(f"{x:.3g}" for x in (r.prior_mean, r.posterior_mean, r.low, r.high))
        )
    console.print(outcomes)
    ess = fit.summary["effective_sample_size"]
    console.print(
        f"Effective sample size {ess:.0f} of {fit.summary['candidates']} candidates"
        + (" (low: add rounds or candidates)" if ess < 50 else "")
        + f". Tables and scenario.calibrated.yaml written to {out}/"
    )


def backtest_command(
    console: Console, scenario: Path, observations: Path, out: Path, **run: Any
) -> None:
    """Run a backtest; print the total scores of the model and the two reference forecasts."""
    from sim.experiments.backtest import backtest

    result = backtest(scenario, observations, out, **run)
    scores = result.scores
    table = Table(title=f"Scores over {len(result.events)} events (lower is better)")
    for column in ("period", "forecaster", "events", "Brier", "log score"):
        table.add_column(column, justify="right")
    for r in scores[scores["member"] == "all"].itertuples():
        table.add_row(r.period, r.forecaster, str(r.events), f"{r.brier:.4f}", f"{r.log_score:.4f}")
    console.print(table)
    if scores["forecaster"].eq("base_rate").sum() == 0:
        console.print("No base rate given (--base-rate or base_rate in the file): not scored.")
    console.print(f"Per member and stage: {out}/scores.csv; reliability plot: {result.figure}")


def _fmt(row: pd.Series, params: list[str]) -> str:
    where = "\n".join(f"{p}={row[p]:.3g}" for p in params)
    return f"{row['estimate']:.3g} [{row['low']:.3g}, {row['high']:.3g}]\n{where}"


def _plot(console: Console, out: Path, kind: str) -> None:
    from sim.plots import plot

    console.print(f"Figure: {plot([out], kind)}")
