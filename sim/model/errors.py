"""One error type for bad input, printed as one line: file, where, what was expected."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from a file or the command line; the CLI prints it and exits with status 2."""

    def __init__(self, file: str, where: str, message: str, more: list[InputError] | None = None):
        self.file = file
        self.where = where
        self.message = message
        self.more = more or []
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f": {self.where}" if self.where else ""
        return f"{self.file}{where}: {self.message}"

    def all(self) -> list[InputError]:
        """This error and every further problem found in the same file."""
        return [self, *self.more]


class RunStopped(Exception):
    """A long run stopped by its surroundings (a full disk, a lost cluster), not by bad input.

    Everything written before stays; the CLI prints one line with the cause and the command that
    finishes the run, and exits with status 1.
    """

    status = 1  # the exit status

    def __init__(self, where: str, cause: str, hint: str = ""):
        self.where = where
        self.cause = cause
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        finish = f"; finish with: {self.hint}" if self.hint else ""
        return f"{self.where}: {self.cause}{finish}"


class Interrupted(RunStopped):
    """A long run stopped by Ctrl-C: what is done stays; exit status 130, as for any Ctrl-C."""

    status = 130

    def __init__(self, where: str, hint: str = ""):
        super().__init__(where, "interrupted", hint)
