"""What `alliance batch` and `alliance summarize` show: a progress bar, the interruption notice,
and the table of probabilities by year end with their 95% intervals: the Monte Carlo one, and
under a posterior the parameter interval in [brackets]."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sim.batch.posterior import uncertainty_note
from sim.batch.progress import runs_progress
from sim.batch.runner import BatchOutcome, Finished, run_batch
from sim.cli.tables import fitted_tables
from sim.cli.tables import percent as _percent
from sim.model.stages import LATER_STAGES

if TYPE_CHECKING:
    from sim.batch.jobs import RunDir
    from sim.batch.manifests import BatchManifest
    from sim.batch.results import BatchResults

INTERRUPTED = 130


def batch_command(
    console: Console,
    scenario: Path,
    out: Path,
    summary: bool,
    plot: bool,
    progress: bool = True,
    **settings: Any,
) -> int:
    """Run or resume a batch with a progress bar, then summarize and plot while the directory
    is still held; print what was done; return the exit status."""
    then, shown = after_runs(summary, plot)
    with runs_progress("runs", progress) as update:
        outcome = run_batch(scenario, out, on_progress=update, then=then, **settings)
    if outcome.interrupted:
        return interrupted(outcome)
    console.print(_done_line(outcome), highlight=False)
    show_after_runs(console, shown, summary, outcome.manifest)
    return 0


def interrupted(outcome: BatchOutcome) -> int:
    """Say what an interrupted batch kept and how to finish it; the exit status."""
    Console(stderr=True).print(
        f"interrupted: {outcome.chunks_done} of {outcome.chunks_total} chunks "
        f"({outcome.runs_done:,} runs) kept in {outcome.out}; finish with:\n"
        f"  {outcome.manifest.resume_command(outcome.out)}",
        highlight=False,
        soft_wrap=True,
    )
    return INTERRUPTED


def after_runs(summary: bool, plot: bool) -> tuple[Finished, dict[str, Any]]:
    """What runs when every chunk is done, the directory still held: the summary (with a
    progress bar over the chunks) and the figure; and where it leaves them to be shown."""
    shown: dict[str, Any] = {}

    def then(run: RunDir, outcome: BatchOutcome) -> None:
        if summary or plot:
            shown["results"], shown["folder"] = summarize_with_progress(run.out)
        if plot:
            from sim.plots import plot as draw

            shown["figure"] = draw([run.out], "defection-curves")

    return then, shown


def show_after_runs(
    console: Console, shown: dict[str, Any], summary: bool, manifest: BatchManifest
) -> None:
    """Print what `after_runs` made: the summary table, the bands' note, the figure; without a
    summary, the note still says what the parameters are (fixed, or drawn from a posterior)."""
    if "results" in shown:
        show_summary(console, shown["results"], shown["folder"], summary)
    else:
        console.print(uncertainty_note(manifest), highlight=False)
    if "figure" in shown:
        console.print(f"figure: {shown['figure']}", highlight=False, soft_wrap=True)


def _done_line(outcome: BatchOutcome) -> str:
    new = outcome.runs_done - outcome.runs_at_start
    rate = f", {new / outcome.seconds:,.0f} runs/s" if outcome.seconds > 0 and new else ""
    before = f"; {outcome.runs_at_start:,} were done before" if outcome.runs_at_start else ""
    return (
        f"{outcome.runs_done:,} runs of {outcome.manifest.scenario.name} in {outcome.out}/ "
        f"({outcome.chunks_total} chunks{before}; {new:,} ran in {outcome.seconds:.1f} s{rate})"
    )


def summarize_command(console: Console, directory: Path, show_table: bool = True) -> Path:
    """Compute and write a batch's summaries, print the table; return the summary folder."""
    results, folder = summarize_with_progress(directory)
    show_summary(console, results, folder, show_table)
    return folder


def summarize_with_progress(directory: Path) -> tuple[BatchResults, Path]:
    """Compute and write a batch's summaries with a progress bar over its chunks."""
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

        return summarize(directory, on_chunk=advance)


def show_summary(console: Console, results: BatchResults, folder: Path, table: bool) -> None:
    """Print a batch's summary table (if `table`), what its bands carry, how its posterior
    scored out of sample (under a posterior), and where it went."""
    if table:
        for shown in summary_tables(console, results.by_date, results.alliance, results.scenario):
            console.print(shown)
    console.print(uncertainty_note(results.manifest), highlight=False)  # wrapped to the terminal
    if results.manifest.posterior is not None:
        from sim.report.scores import out_of_sample

        record = out_of_sample(results.manifest.posterior)
        for line in [record["short"], *record.get("verdicts", [])]:
            console.print(f"Out of sample: {line}", highlight=False)
    console.print(f"summary tables: {folder}/", highlight=False)


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
