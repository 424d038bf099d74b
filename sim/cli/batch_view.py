"""What `alliance batch` and `alliance summarize` show: a progress bar, the interruption notice,
and the table of probabilities by year end with their 95% intervals: the Monte Carlo one, and
under a posterior the parameter interval in [brackets]."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sim.batch.posterior import uncertainty_note
from sim.batch.progress import runs_progress
from sim.batch.runner import BatchOutcome, resume_hint, run_batch
from sim.cli.tables import fitted_tables
from sim.model.stages import LATER_STAGES

INTERRUPTED = 130


def batch_command(
    console: Console,
    scenario: Path,
    out: Path,
    summary: bool,
    plot: bool,
    progress: bool = True,
    **options: Any,
) -> int:
    """Run or resume a batch with a progress bar, then summarize and plot; return exit status."""
    with runs_progress("runs", progress) as update:
        outcome = run_batch(scenario, out, on_progress=update, **options)
    err = Console(stderr=True)
    if outcome.interrupted:
        err.print(
            f"interrupted: {outcome.chunks_done} of {outcome.chunks_total} chunks "
            f"({outcome.runs_done:,} runs) kept in {out}; finish with:\n"
            f"  {resume_hint(out, outcome.manifest)}",
            highlight=False,
            soft_wrap=True,
        )
        return INTERRUPTED
    console.print(_done_line(outcome), highlight=False)
    if summary or plot:
        summarize_command(console, out, show_table=summary)
    if plot:
        from sim.plots import plot as draw

        console.print(f"figure: {draw([out], 'defection-curves')}", highlight=False, soft_wrap=True)
    return 0


def _done_line(outcome: BatchOutcome) -> str:
    new = outcome.runs_done - outcome.runs_at_start
    rate = f", {new / outcome.seconds:,.0f} runs/s" if outcome.seconds > 0 and new else ""
    before = f"; {outcome.runs_at_start:,} were done before" if outcome.runs_at_start else ""
    return (
        f"{outcome.runs_done:,} runs of {outcome.manifest['scenario']['name']} in {outcome.out}/ "
        f"({outcome.chunks_total} chunks{before}; {new:,} ran in {outcome.seconds:.1f} s{rate})"
    )


def summarize_command(console: Console, directory: Path, show_table: bool = True) -> Path:
    """Compute and write a batch's summaries, print the table; return the summary folder."""
    from sim.batch.results import summarize

    with Progress(
        TextColumn("[bold]summarizing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("summarizing", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        results, folder = summarize(directory, on_chunk=advance)
    if show_table:
        for table in summary_tables(console, results.by_date, results.alliance, results.scenario):
            console.print(table)
    console.print(uncertainty_note(results.manifest), highlight=False, soft_wrap=True)
    console.print(f"summary tables: {folder}/", highlight=False)
    return folder


def summary_tables(
    console: Console, by_date: pd.DataFrame, alliance: pd.DataFrame, scenario: Any
) -> list[Table]:
    """Per stage, each member's probability of having reached it by each year end (95% band
    below); then the alliance: probability of any formal exit and expected members active.
    Members are spread over several tables where one would not fit the terminal."""
    runs = int(by_date["n"].iloc[0]) if len(by_date) else 0
    members = list(scenario.members)
    drawn = "param_low" in by_date and by_date["param_low"].notna().any()
    bands = (
        "95% Monte Carlo interval below, [95% parameter interval] under it"
        if drawn
        else "95% Monte Carlo interval below (parameters fixed)"
    )
    columns = ["probability", "low", "high", "param_low", "param_high"]
    tables = []
    for stage in LATER_STAGES:
        cells = by_date[by_date["stage"] == stage].set_index(["date", "member"])
        rows = [
            [date, *(_cell(*cells.loc[(date, m), columns]) for m in members)]
            for date in dict.fromkeys(by_date["date"])
        ]
        title = f"{scenario.name}: P({stage} by date) %, {bands}, {runs:,} runs"
        tables += fitted_tables(console, title, "by end of", members, rows)
    from sim.batch.estimands import report_months  # scipy.stats: only when a summary is shown

    at = alliance[alliance["month"].isin(report_months(scenario))]
    rows = [
        [
            r.date,
            _cell(r.p_any_exit, r.low, r.high, r.param_low, r.param_high),
            f"{r.expected_active:.2f}",
        ]
        for r in at.itertuples()
    ]
    headers = ["P(any formal exit)", "expected members active"]
    title = f"{scenario.name}: the alliance, {runs:,} runs"
    return tables + fitted_tables(console, title, "by end of", headers, rows)


def _cell(
    p: float, low: float, high: float, param_low: float = math.nan, param_high: float = math.nan
) -> str:
    """A probability, its Monte Carlo interval below, and its parameter interval (if any)."""
    text = f"{_percent(p)}\n[dim]{_percent(low, sign=False)}-{_percent(high, sign=False)}[/dim]"
    if math.isnan(param_low):
        return text
    return f"{text}\n\\[{_percent(param_low, sign=False)}-{_percent(param_high, sign=False)}]"


def _percent(p: float, sign: bool = True) -> str:
    """A probability as a percentage with sensible precision for small values."""
    unit = "%" if sign else ""
    if p == 0:
        return f"0{unit}"
    if p >= 0.1:
        return f"{100 * p:.1f}{unit}"
    if p >= 0.001:
        return f"{100 * p:.2f}{unit}"
    if p >= 0.00001:
        return f"{100 * p:.3f}{unit}"
    return f"<0.001{unit}"
