"""The reference forecasters alone, out of sample: base rate, logit and cure logit, no simulation.

Each case of the experiment is held out in turn (or, with a fold count, each grouped fold); the
base rate, the logit and the cure logit are fitted on the other cases exactly as `alliance
crossval` fits them (`sim.experiments.references.reference_fits`), and scored on the held-out
facts and horizons by the same code (`sim.experiments.crossval_scores.score_cases`). It prints the
scores per case and in total, and each fold's fit methods and cured share (docs/calibration.md,
"The cure logit"). Minutes of CPU on the nine narrative cases.

    .venv/bin/python benchmarks/reference_forecasters.py experiments/calibrate_history.yaml
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from sim.experiments.cases import load_cases
from sim.experiments.crossval import base_rates, events_table
from sim.experiments.crossval_scores import horizon_table, score_cases
from sim.experiments.experiment import load_experiment
from sim.experiments.folds import group_folds, leave_one_out
from sim.experiments.references import reference_fits
from sim.experiments.scoring import horizon_outcomes

COLUMNS = [
    "group", "case", "forecaster", "events", "brier", "log_score", "auc_withdrawn", "leavers",
    "stayers", "calibration_intercept", "calibration_slope",
]  # fmt: skip


def main(path: str, folds: int | None = None) -> None:
    """Fit and score the references on every fold of the experiment's cases; print the tables."""
    cases = load_cases(load_experiment(path), None)
    split = group_folds(cases, folds) if folds else leave_one_out(cases)
    events, horizons, fits_seen = [], [], []
    start = time.process_time()
    for k, held in enumerate(split):
        training = [c for i, c in enumerate(cases) if i not in held]
        fits, base = reference_fits(training), base_rates(training)
        cure = fits["cure_logit"]
        fits_seen.append((k + 1, fits["logit"].method, cure.method, round(cure.cured_share, 3)))
        for case in (cases[i] for i in held):
            none = np.full(case.facts, np.nan)  # no simulation: the model is not scored
            events.append(events_table(case, none, base, 1, fits))
            outcomes = horizon_outcomes(case.observations.facts)
            horizons.append(
                horizon_table(case, outcomes, np.full(len(outcomes), np.nan), base, fits)
            )
    cpu = time.process_time() - start
    scores = score_cases(pd.concat(events), pd.concat(horizons), cases)
    with pd.option_context("display.width", 250, "display.max_rows", 500):
        print(scores[scores["group"].isin(["case", "all"])][COLUMNS].round(3).to_string())
    print("fold, logit method, cure logit method, cured share:", *fits_seen, sep="\n")
    print(f"fitting and forecasting: {cpu:.0f} s of CPU")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
