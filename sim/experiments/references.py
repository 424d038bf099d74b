"""The fitted reference forecasters, by name: the event-history logit and its cure variant.

`alliance crossval`, `alliance score` and `alliance backtest` fit both on the same training
member-months (`sim.experiments.logit.training_rows`, computed once) and write their
coefficients to one table, `logit.csv`, a block per forecaster.
"""

from __future__ import annotations

import pandas as pd

from sim.experiments.cases import Case
from sim.experiments.cure import fit_cure_rows
from sim.experiments.logit import Hazards, fit_rows, training_rows


def reference_fits(training: list[Case]) -> dict[str, Hazards]:
    """The logit and its cure variant fitted on the training cases' member-months, by name."""
    rows = training_rows(training)
    return {"logit": fit_rows(rows), "cure_logit": fit_cure_rows(rows)}


def reference_table(fits: dict[str, Hazards], **labels: str) -> pd.DataFrame:
    """The fitted references' coefficients, one block per forecaster, with `labels` as columns
    (a cross-validation's fold)."""
    return pd.concat(
        [fit.table().assign(forecaster=name, **labels) for name, fit in fits.items()],
        ignore_index=True,
    )
