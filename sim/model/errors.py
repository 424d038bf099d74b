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
