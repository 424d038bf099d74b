"""What `alliance backtest --origins ...` prints: the model's skill at each forecast origin."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console

from sim.cli.tables import fitted_tables


def origins_command(
    console: Console,
    scenario: Path,
    observations: Path,
    out: Path,
    origins: list[str],
    **run: Any,
) -> None:
    """Run one conditioned backtest per origin; print the scores and skill by origin."""
    from sim.batch.tasks import stops_resumably
    from sim.experiments.origins import backtest_origins

    with stops_resumably(out):  # a stop in one origin's backtest: finish them all
        result = backtest_origins(scenario, observations, out, origins, **run)
    rows = [
        [
            row.origin,
            str(row.events),
            _number(row.brier_model),
            _number(row.brier_base_rate),
            _number(row.brier_fifty_fifty),
            _number(row.brier_skill_vs_fifty_fifty),
        ]
        for row in result.skill.itertuples()
    ]
    headers = ("facts", "model", "base rate", "50/50", "skill vs 50/50")
    title = "Brier score of the facts after each origin (lower is better)"
    for table in fitted_tables(console, title, "origin", headers, rows):
        console.print(table)
    console.print(f"tables: {out}/skill.csv, events.csv, scores.csv; figure: {result.figure}")


def _number(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"
