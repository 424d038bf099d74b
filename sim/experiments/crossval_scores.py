"""The scores of a cross-validation: per held-out case, per era, per alliance size and in total.

`alliance crossval` (`sim.experiments.crossval`) hands over the held-out facts (`events`) and
each member's outcome at its case's common horizon (`horizon`); the scores themselves are those
of `sim.experiments.scoring`, so they mean the same as a backtest's. A case's era is the period
its start falls in (`ERAS`), its size the number of members besides the patron (`SIZES`); both
come from the scenario, so any case library gets them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.cases import Case
from sim.experiments.logit import Hazards, forecast
from sim.experiments.scoring import (
    FORECASTERS,
    add_skill,
    comparisons,
    score_rows,
)
from sim.model.stages import LATER_STAGES

ERAS = ((1815, "1815-1918"), (1919, "1919-1945"), (1946, "1946-1991"), (1992, "1992 on"))
SIZES = ((1, "1 member"), (2, "2-5 members"), (6, "6+ members"))
SCORE_KEYS = ["group", "case"]


def era_of(case: Case) -> str:
    """The era of the case's start year (`ERAS`: the first year of each)."""
    year = case.scenario.start[0]
    return (
        [label for first, label in ERAS if year >= first][-1] if year >= ERAS[0][0] else "pre-1815"
    )


def size_of(case: Case) -> str:
    """The size class of the alliance: members besides the patron (`SIZES`)."""
    n = len(case.scenario.members)
    return [label for least, label in SIZES if n >= least][-1]


def base_rate_forecast(base: pd.DataFrame, stage: str, month: int) -> float:
    """P(reached the stage by month M) under the training base rate: 1 - (1 - rate)^(M + 1)."""
    rate = float(base.set_index("stage").loc[stage, "rate"])
    return float(1.0 - (1.0 - rate) ** (month + 1))


def horizon_table(
    case: Case,
    outcomes: list[tuple[int, str, int, int, int]],
    p_model: np.ndarray,
    base: pd.DataFrame,
    references: dict[str, Hazards],
) -> pd.DataFrame:
    """One row per member and stage at the case's common horizon: the outcome and each
    forecaster's probability of the member having reached the stage by then (`references`:
    the fitted hazard models by forecaster name, the logit and its cure variant)."""
    queries = [(m, stage, month, -1) for m, _, stage, month, _ in outcomes]
    fitted = {name: forecast(fit, case.scenario, queries) for name, fit in references.items()}
    rows = []
    for j, (_, name, stage, month, outcome) in enumerate(outcomes):
        label = LATER_STAGES[stage - 1]
        rows.append(
            {
                "case": case.name,
                "member": name,
                "stage": label,
                "month": month,
                "date": case.scenario.month_label(month),
                "outcome": outcome,
                "p_model": float(p_model[j]),
                "p_base_rate": base_rate_forecast(base, label, month),
                "p_fifty_fifty": 0.5,
                **{f"p_{name}": float(p[j]) for name, p in fitted.items()},
            }
        )
    columns = ["case", "member", "stage", "month", "date", "outcome"]
    return pd.DataFrame(rows, columns=columns + [f"p_{f}" for f in FORECASTERS])


def score_cases(events: pd.DataFrame, horizon: pd.DataFrame, cases: list[Case]) -> pd.DataFrame:
    """Every forecaster's scores per held-out case, era, size and over all facts, with its skill
    against every reference of the same rows."""
    era = {c.name: era_of(c) for c in cases}
    size = {c.name: size_of(c) for c in cases}
    groups: list[tuple[str, str, pd.Series, pd.Series]] = []
    for case in dict.fromkeys(events["case"]):
        groups.append(("case", str(case), events["case"] == case, horizon["case"] == case))
    for name, label_of in (("era", era), ("size", size)):
        for label in dict.fromkeys(label_of[c] for c in events["case"].unique()):
            mine = [c for c in label_of if label_of[c] == label]
            groups.append(
                (name, f"{name}: {label}", events["case"].isin(mine), horizon["case"].isin(mine))
            )
    groups.append(("all", "all", events["case"].notna(), horizon["case"].notna()))
    rows = []
    for group, label, in_events, in_horizon in groups:
        rows += score_rows(events[in_events], horizon[in_horizon], {"group": group, "case": label})
    return add_skill(pd.DataFrame(rows), SCORE_KEYS)


def summarise(scores: pd.DataFrame, cases: list[Case], runs: int) -> dict[str, Any]:
    """Totals per forecaster and the model against every reference, in total and per case."""
    total = scores[scores["group"] == "all"]
    per_case = scores[scores["group"] == "case"]
    by_total = total.set_index("forecaster")
    versus = comparisons(total)
    return {
        "cases": [c.name for c in cases],
        "runs": runs,
        "events": int(by_total.loc["model", "events"]),
        "totals": {
            f: {
                k: _plain(by_total.loc[f, k])
                for k in (
                    "brier",
                    "log_score",
                    "auc_withdrawn",
                    "calibration_intercept",
                    "calibration_slope",
                )
            }
            for f in by_total.index
        },  # fmt: skip
        "versus": versus,
        "versus_per_case": {
            str(case): comparisons(g) for case, g in per_case.groupby("case", sort=False)
        },
        "beats_base_rate": all(
            versus.get("base_rate", {}).get(s, {}).get("verdict") == "better"
            for s in ("brier", "log_score")
        ),
    }


def _plain(value: float) -> float | None:
    return None if value != value else float(value)
