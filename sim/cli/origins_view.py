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
    from sim.experiments.origins import backtest_origins
    from sim.experiments.scoring import comparisons

    with stops_resumably(out):  # a stop in one origin's backtest: finish them all
        result = backtest_origins(scenario, observations, out, origins, **run)
    scores = result.scores
    total = scores[(scores["member"] == "all") & (scores["period"] == "all")]
    title = "Scores of the facts after each origin"
    print_scores(console, total, "origin", title)
    empty = [o for o in origins if o not in set(total["origin"].astype(str))]
    if empty:
        console.print(f"No fact after {', '.join(empty)}: not scored.", highlight=False)
    per_origin = {
        f"From {origin}": comparisons(group)
        for origin, group in total.groupby("origin", sort=False)
    }
    print_verdicts(console, {}, "", per_origin)
    console.print(f"tables: {out}/skill.csv, events.csv, scores.csv; figure: {result.figure}")
