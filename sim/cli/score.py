"""`alliance score`: every case of an experiment forecast under a posterior fitted elsewhere.

Its own command rather than an option of `alliance crossval`: crossval fits the simulation on
each fold, score fits nothing of the simulation (only the references are fitted per fold), so
its result directory says which posterior it ran under and which cases it left out.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sim.cli import options as opt
from sim.cli.app import RunOptions, app, console, job_command


@app.command()
@job_command
def score(
    experiment: opt.ExperimentArg,
    posterior: Annotated[
        str,
        typer.Option(
            help="Calibration directory (alliance calibrate --out DIR) or a shipped posterior's "
            "name (alliance posteriors), fitted on none of the experiment's cases."
        ),
    ],
    out: opt.out("Result directory: events, scores, folds, figure."),
    runs: opt.count("Runs of each case under the posterior.") = 2000,
    folds: opt.folds(
        "K folds of whole case groups (alliances) for fitting the base rate and logits."
    ) = None,
    leave_out: Annotated[
        list[str] | None,
        typer.Option(
            help="A case not to score (repeatable): one the posterior's training overlaps, such "
            "as an ATOP alliance that is also a narrative case (docs/library.md)."
        ),
    ] = None,
    fmt: opt.FormatOpt = "png",
    *,
    options: RunOptions,
) -> None:
    """Score every case under a posterior fitted elsewhere, without refitting, against the base
    rate, the event-history logit and its cure variant fitted on the other cases' folds, and
    50/50."""
    from sim.batch.tasks import stops_resumably
    from sim.cli.scores_view import print_scores, print_verdicts
    from sim.experiments.score import score as run
    from sim.experiments.scoring import worse_counts

    with stops_resumably(out):
        result = run(
            experiment, posterior, out, runs=runs, fmt=fmt, options=options, folds=folds,
            leave_out=leave_out,
        )  # fmt: skip
    scores = result.scores
    summary = result.summary
    grouped = scores[scores["group"].isin(["era", "size", "all"])]
    print_scores(
        console, grouped, "case",
        f"Scores of {summary['events']} facts of {len(summary['cases'])} cases under "
        f"{summary['posterior']} (fitted on {', '.join(summary['posterior_cases'])})",
    )  # fmt: skip
    print_verdicts(console, summary["versus"], f"Over all {summary['events']} facts")
    console.print(worse_counts(summary["versus_per_case"]), highlight=False, soft_wrap=True)
    left = ", ".join(summary["left_out"]) or "none"
    console.print(
        f"Left out: {left}. Per case: {out}/scores.csv (and alliance report {out}); AUC "
        f"leave: leavers against stayers at each case's common horizon ({out}/horizon.csv); "
        f"reliability diagram: {result.figure}",
        highlight=False,
        soft_wrap=True,
    )
