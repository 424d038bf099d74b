"""What the experiment commands (sweep, sensitivity, calibrate, backtest) print and draw.

Each `*_command` runs the job through its module and prints a short rich summary; the CLI in
`sim.cli.main` only parses options and calls these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from sim.cli.tables import fitted_tables, percent


def sweep_command(console: Console, experiment: Path, out: Path, plot: bool, **run: Any) -> None:
    """Run a sweep; print each outcome's range over the points; draw the heat map if asked."""
    from sim.experiments.experiment import load_experiment
    from sim.experiments.sweep import sweep

    results = sweep(experiment, out, **run)
    binary = {o.label: o.binary for o in load_experiment(experiment).outcomes}
    params = [c for c in results.columns if c not in _RESULT_COLUMNS]
    rows = []
    for outcome, group in results.groupby("outcome", sort=False):
        low, high = group.loc[group["estimate"].idxmin()], group.loc[group["estimate"].idxmax()]
        rows.append([str(outcome), *(_fmt(r, params, binary[outcome]) for r in (low, high))])
    title = f"Sweep: {results['point'].nunique()} points, written to {out}/"
    headers = ["lowest [95% CI], where", "highest [95% CI], where"]
    for table in fitted_tables(console, title, "outcome", headers, rows, justify="left"):
        console.print(table)
    if plot:
        _plot(console, out, "heatmap")


def sensitivity_command(
    console: Console, experiment: Path, out: Path, plot: bool, **run: Any
) -> None:
    """Run a sensitivity analysis; print the parameters ranked per outcome; draw bars if asked."""
    from sim.experiments.sensitivity import sensitivity
    from sim.plots.experiments import TOP_PARAMETERS

    indices = sensitivity(experiment, out, **run)
    for (outcome, method), rows in indices.groupby(["outcome", "method"], sort=False):
        key = "ST" if method == "sobol" else "mu_star"
        cols = ("S1", "S1_conf", "ST", "ST_conf") if method == "sobol" else _MORRIS
        shown = min(TOP_PARAMETERS, len(rows))
        title = f"{outcome} ({method}): top {shown} of {len(rows)} by {key}"
        top = rows.sort_values(key, ascending=False).head(shown)
        cells = [[r.parameter, *(f"{getattr(r, c):.3f}" for c in cols)] for r in top.itertuples()]
        for table in fitted_tables(console, title, "parameter", cols, cells):
            console.print(table)
    console.print(f"Indices written to {out}/indices.csv")
    if plot:
        _plot(console, out, "sobol")


_MORRIS = ("mu_star", "mu_star_conf", "sigma")
_RESULT_COLUMNS = ("point", "outcome", "estimate", "low", "high", "n")


def calibrate_command(
    console: Console, experiment: Path, observations: Path | None, out: Path, **run: Any
) -> None:
    """Run a calibration; print each parameter's posterior against its prior, and the outcomes."""
    from sim.batch.tasks import stops_resumably
    from sim.experiments.calibrate import calibrate
    from sim.experiments.experiment import load_experiment
    from sim.experiments.fit_report import POSTERIOR_HEADERS, posterior_rows

    with stops_resumably(out):
        fit = calibrate(experiment, observations, out, **run)
    s = fit.summary
    headers, rows = POSTERIOR_HEADERS, posterior_rows(fit.fitted)
    title = f"Posterior against the uniform prior ({s['facts']} facts, {len(s['cases'])} case(s))"
    tables = fitted_tables(console, title, "parameter", headers, rows, label_justify="right")
    binary = {o.label: o.binary for o in load_experiment(experiment).outcomes}
    rows = [
        [
            r.outcome,
            *(
                _value(x, binary[r.outcome])
                for x in (r.prior_mean, r.posterior_mean, r.low, r.high)
            ),
        ]
        for r in fit.outcomes.itertuples()
    ]
    title = "Outcomes: prior and posterior mean, posterior 95% interval"
    headers = ["prior", "posterior", "2.5%", "97.5%"]
    tables += fitted_tables(console, title, "outcome", headers, rows, label_justify="right")
    for table in tables:
        console.print(table)
    for pair in s["confounded"]:
        first, second = pair["parameters"]
        console.print(
            f"[bold]{first} and {second} are not told apart[/bold] (posterior correlation "
            f"{pair['correlation']:+.2f}): the facts fix a combination; hold one in `fixed:` "
            "and fit again before reading either interval."
        )
    ess = s["effective_sample_size"]
    if s.get("sampler") == "importance":
        how = (
            f"{s['samples']} posterior samples (resampled from {s['evaluations']} weighted "
            f"points in {s['batches']} batches), effective sample size {ess:.0f} (Kish), "
            f"largest weight {s['max_weight']:.3f}"
        )
        low = " (low: raise calibration.max_evaluations)"
    else:
        how = (
            f"{s['samples']} posterior samples ({s['walkers']} walkers x "
            f"{s['steps'] - s['burn']} steps after burn-in), effective sample size {ess:.0f}, "
            f"acceptance {s['acceptance_fraction']:.2f}"
        )
        low = " (low: run more steps)"
    console.print(
        how
        + (low if not ess >= 50 else "")
        + f". Tables, posterior.parquet and scenario.calibrated.yaml written to {out}/"
    )


def backtest_command(
    console: Console, scenario: Path, observations: Path, out: Path, **run: Any
) -> None:
    """Run a backtest; print every forecaster's scores, the model's skill against each
    reference, and a verdict line per reference (worse included)."""
    from sim.batch.tasks import stops_resumably
    from sim.cli.scores_view import print_scores, print_verdicts
    from sim.experiments.backtest import backtest

    with stops_resumably(out):  # a stop in the inner forecast: finish the backtest, not it
        result = backtest(scenario, observations, out, **run)
    scores = result.scores
    total = scores[scores["member"] == "all"]
    print_scores(console, total, "period", f"Scores over {len(result.events)} events")
    if scores["forecaster"].eq("base_rate").sum() == 0:
        console.print("No base rate given (--base-rate or base_rate in the file): not scored.")
    summary = result.summary
    print_verdicts(console, summary["versus"], f"Over all {summary['events']} facts")
    logit = summary["logit"]
    console.print(
        f"logit: the event-history logit fitted ({logit['method']}) on "
        f"{', '.join(logit['cases'])}; coefficients in {out}/logit.csv",
        highlight=False,
        soft_wrap=True,
    )
    if result.in_sample:
        console.print(f"[bold]{result.in_sample}[/bold]", highlight=False)
    console.print(f"Per member and stage: {out}/scores.csv; reliability plot: {result.figure}")


def _value(x: float, binary: bool) -> str:
    """A probability in % (binary outcomes), an expected number otherwise."""
    return percent(x) if binary else f"{x:.3g}"


def _fmt(row: pd.Series, params: list[str], binary: bool) -> str:
    where = "\n".join(f"{p}={row[p]:.3g}" for p in params)
    low, high = (_value(row[c], binary) for c in ("low", "high"))
    return f"{_value(row['estimate'], binary)} [{low}, {high}]\n{where}"


def _plot(console: Console, out: Path, kind: str) -> None:
    from sim.plots import plot

    console.print(f"Figure: {plot([out], kind)}")
