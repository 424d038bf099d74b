"""`alliance crossval`: leave-one-case-out validation of a pooled calibration."""

from __future__ import annotations

from sim.cli import options as opt
from sim.cli.app import RunOptions, app, console, job_command


@app.command()
@job_command
def crossval(
    experiment: opt.ExperimentArg,
    out: opt.out("Cross-validation directory: events, scores, folds, figure."),
    runs: opt.count("Runs of each held-out case under its fold's posterior.") = 2000,
    fmt: opt.FormatOpt = "png",
    folds: opt.folds(
        "K folds of whole case groups (alliances) instead of one fold per case."
    ) = None,
    only_fold: opt.optional(
        str,
        "Run one fold only: its number (1 to the number of folds) or a case it holds "
        "out; its scores are that fold's (for timing a fold, or checking one case).",
        "every fold",
    ) = None,
    *,
    options: RunOptions,
) -> None:
    """Leave each case (or with --folds K, each fold of whole alliances) out: fit the rest,
    forecast it, score it against a base rate, 50/50, the event-history logit and its cure
    variant fitted on the same training cases."""
    from sim.batch.tasks import stops_resumably
    from sim.cli.scores_view import print_scores, print_verdicts
    from sim.experiments.crossval import crossval as run

    with stops_resumably(out):
        result = run(
            experiment, out, runs=runs, fmt=fmt, options=options, folds=folds, only_fold=only_fold
        )
    scores = result.scores
    print_scores(console, scores, "case", f"Held-out scores of {len(result.events)} facts")
    summary = result.summary
    print_verdicts(
        console, summary["versus"], f"Over all {summary['events']} held-out facts",
        summary["versus_per_case"],
    )  # fmt: skip
    console.print(
        f"AUC leave: leavers against stayers at each case's common horizon ({out}/horizon.csv); "
        f"cal. slope: 1 is ideal. Tables: {out}/scores.csv, {out}/logit.csv; reliability "
        f"diagram: {result.figure}",
        highlight=False,
        soft_wrap=True,
    )
