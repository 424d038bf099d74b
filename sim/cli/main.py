"""The `alliance` command line: one command per job; bad input gives one line and exit status 2."""

from __future__ import annotations

import errno
import gc
import sys

import typer
from typer._click import exceptions as click_errors

import sim.cli.batch
import sim.cli.compare
import sim.cli.crossval
import sim.cli.discover
import sim.cli.experiments
import sim.cli.forecast
import sim.cli.library
import sim.cli.posteriors
import sim.cli.score
import sim.cli.single  # noqa: F401  (each command module registers its commands on `app`)
from sim.cli.app import app
from sim.model.errors import InputError, RunStopped

# Errors of a path the user gave (exit status 2, like any bad input); other OS errors (a full
# disk, a failing device) exit with status 1.
BAD_PATH = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS}


def main() -> None:
    """Entry point: turn every bad input into one line on stderr and exit status 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="alliance", standalone_mode=False)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except RunStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.status)
    except OSError as exc:
        where = exc.filename or "alliance"
        print(f"error: {where}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(2 if exc.errno in BAD_PATH else 1)
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        sys.exit(0)
    except click_errors.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx else "alliance: "
        print(f"error: {where}{exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    gc.freeze()  # the collection at exit would walk every object of Mesa, numba, pandas: ~0.2 s
    sys.exit(code if isinstance(code, int) else 0)
