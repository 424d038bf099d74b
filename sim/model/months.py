"""Calendar months: reading `YYYY-MM` and `YYYY-MM-DD` text, and counting months between dates.

One step of the model is one month, so every file format and table names months the same way:
`YYYY-MM` (a day, where given, is kept only for the record). This module is the one place that
parses such text and does month arithmetic.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

Month = tuple[int, int]  # (year, month 1..12)

_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def parse_date(value: object) -> dt.date:
    """Read `YYYY-MM-DD`, or `YYYY-MM` as its first day (string or YAML date), as a date."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and (m := _MONTH.match(value.strip())):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
        try:
            return dt.date(year, month, day)
        except ValueError:
            if 1 <= month <= 12:  # files load with dates as text (yamlio): the day is judged here
                raise ValueError(
                    f"no such day: {value.strip()}; expected a real date as YYYY-MM-DD"
                ) from None
    raise ValueError("expected a date as YYYY-MM or YYYY-MM-DD")


def parse_month(value: object) -> Month:
    """Read `YYYY-MM` or `YYYY-MM-DD` (string or YAML date) as (year, month)."""
    date = parse_date(value)
    return date.year, date.month


def date_text(value: object) -> str:
    """A checked date as written (`YYYY-MM` or `YYYY-MM-DD`); a pydantic `before` validator."""
    parse_month(value)
    return value.isoformat() if isinstance(value, dt.date) else str(value).strip()


def month_text(value: object) -> str:
    """A checked date as its month, `YYYY-MM`; a pydantic `before` validator."""
    return month_label(parse_month(value), 0)


def optional(validator: Callable[[object], str]) -> Callable[[object], str | None]:
    """The validator, letting None through (for optional date fields)."""
    return lambda value: None if value is None else validator(value)


def months_from(start: Month, date: object) -> int:
    """How many months `date` (text, YAML date or (year, month)) is after `start`."""
    year, month = date if isinstance(date, tuple) else parse_month(date)
    return (year - start[0]) * 12 + month - start[1]


def month_label(start: Month, t: int) -> str:
    """The `YYYY-MM` label of the month `t` months after `start` (t may be negative)."""
    year, month = divmod(start[0] * 12 + start[1] - 1 + t, 12)
    return f"{year:04d}-{month + 1:02d}"
