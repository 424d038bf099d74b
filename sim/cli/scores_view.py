"""Score tables as the console prints them: every forecaster, skill against every reference.

`alliance backtest`, `alliance crossval` and `alliance score` print through these, and the report
of their directories lays out the same `sim.experiments.scoring.score_table`, so a reader meets the
same columns and the same verdict sentences everywhere (docs/calibration.md, "What each score
means").
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from sim.cli.tables import fitted_tables
from sim.experiments.scoring import SCORE_TABLE_NOTE, score_table, verdict_lines, worse_per_case


def print_scores(console: Console, scores: pd.DataFrame, label: str, title: str) -> None:
    """`score_table` of `scores` by `label`, split to fit the terminal."""
    table = score_table(scores, label)
    title = f"{title} ({SCORE_TABLE_NOTE})"
    for shown in fitted_tables(
        console, title, label, table.headers, table.rows, label_justify="right"
    ):
        console.print(shown)


def print_verdicts(
    console: Console, versus: dict, where: str, per_case: dict | None = None
) -> None:
    """One line per reference: does the model beat it, or is it worse (said in capitals); then,
    given `per_case`, one line per case where it is worse than a reference."""
    for line in verdict_lines(versus, where) + worse_per_case(per_case or {}):
        console.print(line, highlight=False, soft_wrap=True)
