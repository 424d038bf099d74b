"""The progress bar of every long run: runs done, runs/s and time left over this session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class RunsPerSecond(ProgressColumn):
    """Runs per second over this session (runs finished before a resume are not counted)."""

    def render(self, task: Task) -> Text:
        rate = _session_rate(task)
        return Text("" if rate is None else f"{rate:,.0f} runs/s", style="progress.data.speed")


class TimeLeft(ProgressColumn):
    """Time left at this session's average rate (steadier than rich's recent-speed estimate,
    since progress arrives a whole chunk at a time)."""

    def render(self, task: Task) -> Text:
        rate = _session_rate(task)
        if task.finished:
            return Text("done", style="progress.remaining")
        if not rate:
            return Text("left -:--:--", style="progress.remaining")
        seconds = int((task.total or 0) - task.completed) / rate
        minutes, sec = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"left {hours}:{minutes:02d}:{sec:02d}", style="progress.remaining")


def _session_rate(task: Task) -> float | None:
    new = task.completed - task.fields.get("at_start", 0)
    elapsed = task.elapsed
    return new / elapsed if elapsed and new > 0 else None


@contextmanager
def runs_progress(description: str, show: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields `update(done, total, at_start)`."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RunsPerSecond(),
        TimeElapsedColumn(),
        TimeLeft(),
        console=Console(stderr=True),
        disable=not show,
    )
    task_id = None

    def update(done: int, total: int, at_start: int) -> None:
        nonlocal task_id
        if task_id is None:
            task_id = progress.add_task(
                description, total=total, completed=at_start, at_start=at_start
            )
        progress.update(task_id, completed=done)

    with progress:
        yield update
