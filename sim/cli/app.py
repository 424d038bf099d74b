"""The `alliance` Typer application, its console, and the options every job shares.

Commands live in `sim.cli.single`, `sim.cli.batch` and `sim.cli.experiments`, each registering
itself on `app`; `sim.cli.main` imports them all and runs the app.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from sim.cli import options as opt

app = typer.Typer(
    help="Simulate members leaving an alliance whose patron is drained and stops answering.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)

if TYPE_CHECKING:
    from sim.batch.jobs import RunOptions
else:  # the type of a job command's `options`: sim.batch is imported when a command runs
    RunOptions = "sim.batch.jobs.RunOptions"
SHARED_OPTIONS = (
    ("workers", opt.WorkersOpt, None),
    ("scheduler", opt.SchedulerOpt, None),
    ("resume", opt.ResumeOpt, False),
    ("force", opt.ForceOpt, False),
)


def job_command[**P, R](command: Callable[P, R]) -> Callable[..., R]:
    """A command that writes a result directory: give it the options every job shares
    (--workers, --scheduler, --resume, --force), handed to it as one `options: RunOptions`."""
    signature = inspect.signature(command)
    own = [  # `options` is left out before its annotation is read: sim.batch is not imported yet
        p.replace(annotation=eval(p.annotation, command.__globals__))  # noqa: S307
        if isinstance(p.annotation, str)
        else p
        for p in signature.parameters.values()
        if p.name != "options"
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, kind, default in SHARED_OPTIONS
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> R:
        from sim.batch.jobs import RunOptions

        chosen = {name: kwargs.pop(name) for name, _, _ in SHARED_OPTIONS if name in kwargs}
        return command(*args, options=RunOptions(**chosen), **kwargs)  # type: ignore[arg-type]

    run.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in [*own, *shared]}
    return run
