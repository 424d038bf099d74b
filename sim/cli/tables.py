"""Summary tables that fit the terminal: numbers are never wrapped or cut with an ellipsis.

A table is a label column (dates, members, outcomes: text that may wrap at its spaces) and value
columns as wide as their widest value (only their headers may wrap). When the value columns do not
fit the console's width side by side, they are split over as few tables as fit, each repeating
the label column, in groups of balanced size. Column widths are set here rather than left to
rich, whose shrinking of a too-wide table may crop a value column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

Justify = Literal["left", "center", "right"]


def fitted_tables(
    console: Console,
    title: str,
    label: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    label_justify: Justify = "left",
    justify: Justify = "right",
) -> list[Table]:
    """`rows` (label, then one cell per header) as the fewest tables that fit `console.width`."""
    count = len(headers)
    for parts in range(1, max(count, 1) + 1):
        groups = _balanced(count, parts)
        widths = [_widths(label, rows, headers, group, console.width) for group in groups]
        if all(w is not None for w in widths) or parts == max(count, 1):
            break
    tables = []
    for n, (group, width) in enumerate(zip(groups, widths, strict=True), start=1):
        sizes = width or [None] * (len(group) + 1)  # nothing fits: rich does what it can
        heading = title if parts == 1 else f"{title} ({n} of {parts})"
        table = Table(title=heading, title_justify="left")
        table.add_column(label, justify=label_justify, width=sizes[0])
        for j, size in zip(group, sizes[1:], strict=True):
            table.add_column(headers[j], justify=justify, width=size)
        for row in rows:
            table.add_row(row[0], *(row[1 + j] for j in group))
        tables.append(table)
    return tables


def _widths(
    label: str, rows: Sequence[Sequence[str]], headers: Sequence[str], group: range, room: int
) -> list[int] | None:
    """Widths of the label and value columns that fit `room`, or None where none do.

    Each value column gets its widest value and longest header word at least, the label column
    its longest word; what room is left widens the label column, then the value columns (those
    that need least first, so that most headers stay on one line), up to their natural widths."""
    labels = [label, *(row[0] for row in rows)]
    least = [max(_longest_word(text) for text in labels)]
    natural = [max(_widest_line(text) for text in labels)]
    for j in group:
        cells = [row[1 + j] for row in rows]
        widest = max((_widest_line(cell) for cell in cells), default=0)
        least.append(max(widest, _longest_word(headers[j])))
        natural.append(max(widest, _widest_line(headers[j])))
    spare = room - (sum(least) + 3 * len(least) + 1)
    if spare < 0:
        return None
    widths = list(least)
    value_columns = sorted(range(1, len(widths)), key=lambda i: natural[i] - least[i])
    for i in (0, *value_columns):  # the label first, then the headers that need least room
        grow = min(spare, natural[i] - widths[i])
        widths[i] += grow
        spare -= grow
    return widths


def _longest_word(cell: str) -> int:
    return max((len(word) for word in Text.from_markup(cell).plain.split()), default=0)


def _widest_line(cell: str) -> int:
    return max((line.cell_len for line in Text.from_markup(cell).split()), default=0)


def _balanced(count: int, parts: int) -> list[range]:
    """0..count-1 cut into `parts` consecutive groups whose sizes differ by at most one."""
    size, extra = divmod(count, parts)
    groups, start = [], 0
    for n in range(parts):
        stop = start + size + (1 if n < extra else 0)
        groups.append(range(start, stop))
        start = stop
    return groups


def percent(p: float, sign: bool = True) -> str:
    """A probability as a percentage with sensible precision for small values (the console shows
    probabilities in %; files keep fractions)."""
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


def percent_interval(p: float, low: float, high: float) -> str:
    """A probability and its interval on one line: `16.4% (14.8-18.0)`."""
    return f"{percent(p)} ({percent(low, sign=False)}-{percent(high, sign=False)})"


def points(difference: float) -> str:
    """A difference of two probabilities in percentage points, signed: `+2.31 pp`."""
    return f"{100 * difference:+.2f} pp"
