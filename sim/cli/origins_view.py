"""What `alliance backtest --origins ...` prints: every forecaster's scores at each forecast
origin, the model's skill against each reference, and where it is worse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console


def origins_command(
    console: Console,
    scenario: Path,
    observations: Path,
    out: Path,
    origins: list[str],
    **run: Any,
) -> None:
    """Run one conditioned backtest per origin; print the scores and skill by origin, as
    `alliance backtest` prints them for one."""
    from sim.batch.tasks import stops_resumably
    from sim.cli.scores_view import print_scores, print_verdicts
    from sim.experiments.origins import backtest_origins, origin_totals, unscored, versus_by_origin

    with stops_resumably(out):  # a stop in one origin's backtest: finish them all
        result = backtest_origins(scenario, observations, out, origins, **run)
    total = origin_totals(result.scores)
    print_scores(console, total, "origin", "Scores of the facts after each origin")
    empty = unscored(result.scores, origins)
    if empty:
        console.print(f"No fact after {', '.join(empty)}: not scored.", highlight=False)
    print_verdicts(console, {}, "", versus_by_origin(result.scores))
    console.print(f"tables: {out}/skill.csv, events.csv, scores.csv; figure: {result.figure}")
