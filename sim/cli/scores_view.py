"""Score tables as the console prints them: every forecaster, skill against every reference.

`alliance backtest` and `alliance crossval` both print through these, so a reader meets the same
columns and the same verdict sentences in both (docs/calibration.md, "What each score means").
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from sim.cli.tables import fitted_tables
from sim.experiments.scoring import LABELS, REFERENCES, verdict_lines


def print_scores(console: Console, scores: pd.DataFrame, label: str, title: str) -> None:
    """Every forecaster's Brier and log scores, calibration, AUC, and its skill against each
    reference (B / log: 1 - score / reference score; n/a: undefined, the reference scores
    0), one row per `label` value and forecaster."""
    refs = [r for r in REFERENCES if r in set(scores["forecaster"])]
    auc = "auc_withdrawn" in scores
    rows = [
        [
            str(getattr(r, label)),
            LABELS[r.forecaster],
            str(r.events),
            f"{r.brier:.4f}",
            f"{r.log_score:.4f}",
            _number(r.calibration_intercept, "{:+.2f}"),
            _number(r.calibration_slope, "{:.2f}"),
            *([_number(r.auc_withdrawn, "{:.2f}")] if auc else []),
            *[
                ""
                if r.forecaster == ref
                else f"{_number(getattr(r, f'brier_skill_vs_{ref}'), '{:+.2f}')} / "
                f"{_number(getattr(r, f'log_score_skill_vs_{ref}'), '{:+.2f}')}"
                for ref in refs
            ],
        ]
        for r in scores.itertuples()
    ]
    headers = [
        "forecaster", "facts", "Brier", "log score", "cal. int.", "cal. slope",
        *(["AUC leave"] if auc else []),
        *[f"skill vs {LABELS[ref]} B / log" for ref in refs],
    ]  # fmt: skip
    title = (
        f"{title} (Brier, log: lower is better; calibration intercept 0 and slope 1 ideal; "
        "AUC leave: leavers ranked above stayers, 0.5 is chance; skill above 0 beats the "
        "reference)"
    )
    for table in fitted_tables(console, title, label, headers, rows, label_justify="right"):
        console.print(table)


def _number(value: float, form: str) -> str:
    return "n/a" if value is None or value != value else form.format(value)


def print_verdicts(console: Console, versus: dict, where: str) -> None:
    """One line per reference: does the model beat it, or is it worse (said in capitals)."""
    for line in verdict_lines(versus, where):
        console.print(line, highlight=False, soft_wrap=True)
