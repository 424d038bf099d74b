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
    from sim.experiments.scoring import LABELS, REFERENCES

    with stops_resumably(out):  # a stop in one origin's backtest: finish them all
        result = backtest_origins(scenario, observations, out, origins, **run)
    refs = [r for r in REFERENCES if f"brier_{r}" in result.skill]
    rows = [
        [
            row["origin"],
            str(row["events"]),
            *[_number(row[f"brier_{f}"]) for f in ("model", *refs)],
            *[_number(row[f"brier_skill_vs_{r}"], "{:+.2f}") for r in refs],
        ]
        for row in result.skill.to_dict(orient="records")
    ]
    headers = (
        "facts",
        *[LABELS[f] for f in ("model", *refs)],
        *[f"skill vs {LABELS[r]}" for r in refs],
    )
    title = "Brier score of the facts after each origin (lower is better; skill above 0 beats it)"
    for table in fitted_tables(console, title, "origin", headers, rows):
        console.print(table)
    console.print(f"tables: {out}/skill.csv, events.csv, scores.csv; figure: {result.figure}")


def _number(value: float, form: str = "{:.4f}") -> str:
    return "" if value is None or math.isnan(value) else form.format(value)
