"""One figure style for every plot: greyscale-readable series, calendar axes, event markers.

Series differ by line style and marker as well as colour (Okabe-Ito palette), so a figure printed
in black and white still tells its curves apart. Figures are built with `matplotlib.figure.Figure`
(no pyplot state), so plotting is safe inside servers and worker threads.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from sim.batch.store import write_bytes_atomic
from sim.model.months import month_label, parse_date, parse_month

FORMATS = ("png", "svg", "pdf")
PALETTE = (
    "#000000",
    "#E69F00",
    "#0072B2",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#999999",
)
LINESTYLES: tuple[Any, ...] = (
    "-",
    "--",
    "-.",
    ":",
    (0, (5, 1, 1, 1, 1, 1)),
    (0, (8, 2)),
    (0, (1, 3)),
    (0, (3, 1, 1, 1)),
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo", "+++", "---")
STAGE_LABELS = {
    "disengaged": "disengaged (boycotts)",
    "frozen": "frozen (suspends participation)",
    "withdrawn": "withdrawn (formal exit)",
}
EVENT_MARKER_GID = "event-marker"
HISTORY_GID = "history-span"
HISTORY_LABEL = "replayed history"
BAND_ALPHA = 0.18

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "svg.fonttype": "path",
    "svg.hashsalt": "alliance-defection",
    "pdf.fonttype": 42,
}


def series_style(i: int) -> dict[str, Any]:
    """Colour, line style and marker of the i-th series (distinct in greyscale too)."""
    return {
        "color": PALETTE[i % len(PALETTE)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
        "marker": MARKERS[i % len(MARKERS)],
    }


def new_figure(
    rows: int, cols: int, width: float = 10.0, panel_height: float = 2.6, key_lines: int = 0
) -> tuple[Figure, list[Axes], Axes | None]:
    """A figure with rows x cols panels and, if asked, a text strip below them for an event key."""
    with mpl.rc_context(RC):
        key_height = 0.16 * key_lines + 0.2 if key_lines else 0.0
        fig = Figure(figsize=(width, rows * panel_height + key_height + 0.6), layout="constrained")
        ratios = [panel_height] * rows + ([key_height] if key_lines else [])
        grid = fig.add_gridspec(len(ratios), cols, height_ratios=ratios)
        axes = [fig.add_subplot(grid[r, c]) for r in range(rows) for c in range(cols)]
        key_ax = None
        if key_lines:
            key_ax = fig.add_subplot(grid[rows, :])
            key_ax.axis("off")
    return fig, axes, key_ax


def heading(fig: Figure, title: str, legend_from: Axes | None = None, ncols: int = 6) -> None:
    """The figure's title, with the shared legend under it when `legend_from` has labelled series.

    (A figure legend placed outside the panels would overlap a suptitle under constrained layout,
    so the title becomes the legend's title.)
    """
    handles, labels = legend_from.get_legend_handles_labels() if legend_from else ([], [])
    if not handles:
        fig.suptitle(title)
        return
    fig.legend(
        handles,
        labels,
        loc="outside upper center",
        ncols=min(ncols, len(handles)),
        title=title,
        title_fontproperties={"size": RC["axes.titlesize"] + 1},
    )


def legend_outside(ax: Axes) -> None:
    """The panel's legend to the right of its plotting area, where it covers no data (the
    constrained layout makes room for it)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def month_end(dates: Iterable[str]) -> np.ndarray:
    """x positions of 'YYYY-MM' months: the end of each month (a value holds *by* month end)."""
    return _first_days(dates, 1)


def month_start(dates: Iterable[str]) -> np.ndarray:
    """x positions of the start of each 'YYYY-MM' month (where a series' first month begins)."""
    return _first_days(dates, 0)


def _first_days(dates: Iterable[str], later: int) -> np.ndarray:
    days = [f"{month_label(parse_month(text), later)}-01" for text in dates]
    return np.array(days, dtype="datetime64[D]")


def date_axis(ax: Axes, label: str = "calendar date (end of month)") -> None:
    """Years as major ticks, readable at any span."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(label)


def probability_axis(ax: Axes, label: str = "cumulative probability", top: float | None = None):
    """A y axis in percent starting at 0; `top` fixes the upper limit."""
    top = top if top is not None else ax.get_ylim()[1]
    ax.yaxis.set_major_locator(MaxNLocator(steps=[1, 2, 5, 10]))  # ticks the labels show exactly
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if top >= 0.1 else 1))
    ax.set_ylabel(f"{label} (%)")
    ax.set_ylim(0.0, top)


def probability_top(values: Iterable[float]) -> float:
    """A shared upper y limit for probability panels: 10% headroom, at most 100%."""
    peak = max((float(v) for v in values if np.isfinite(v)), default=0.0)
    return min(1.0, max(0.02, peak * 1.1))


def event_groups(
    timeline: Sequence[dict[str, str]], kinds: Iterable[str] | None = None
) -> list[tuple[dt.date, list[dict[str, str]]]]:
    """Events grouped by calendar month, earliest first; one marker per group keeps it legible."""
    wanted = None if kinds is None else set(kinds)
    groups: dict[tuple[int, int], list[dict[str, str]]] = {}
    for event in sorted(timeline, key=lambda e: parse_date(e["date"])):
        if wanted is not None and event["kind"] not in wanted:
            continue
        day = parse_date(event["date"])
        groups.setdefault((day.year, day.month), []).append(event)
    return [(parse_date(evs[0]["date"]), evs) for evs in groups.values()]


def mark_events(
    axes: Sequence[Axes],
    groups: list[tuple[dt.date, list[dict[str, str]]]],
    key_ax: Axes | None,
    numbered_axes: Sequence[Axes] | None = None,
) -> None:
    """Dotted vertical lines at each event group, numbered on top, explained in the key strip."""
    numbered = set(map(id, numbered_axes if numbered_axes is not None else axes[:1]))
    for ax in axes:
        for n, (day, _) in enumerate(groups, start=1):
            ax.axvline(day, color="#555555", linestyle=":", linewidth=0.8, gid=EVENT_MARKER_GID)
            if id(ax) in numbered:
                ax.annotate(
                    str(n),
                    xy=(mdates.date2num(day), 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, -2 - 8 * ((n - 1) % 3)),
                    textcoords="offset points",
                    ha="center",
                    va="top",
                    fontsize=7,
                    color="#333333",
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
                )
    if key_ax is not None and groups:
        key_ax.text(
            0.0,
            1.0,
            "\n".join(event_key(groups)),
            transform=key_ax.transAxes,
            va="top",
            ha="left",
            fontsize=7,
            family="monospace",
        )


def event_key(groups: list[tuple[dt.date, list[dict[str, str]]]]) -> list[str]:
    """One line per event: group number, date, what happened."""
    lines = []
    for n, (_, events) in enumerate(groups, start=1):
        for j, event in enumerate(events):
            number = f"{n:>2}" if j == 0 else "  "
            lines.append(f"{number}  {event['date']:<10}  {event['what']}")
    return lines


def key_line_count(groups: list[tuple[dt.date, list[dict[str, str]]]]) -> int:
    """Lines the event key needs."""
    return sum(len(events) for _, events in groups)


def mark_history(ax: Axes, history_end: str | None, start: np.datetime64 | None) -> None:
    """Shade the replayed-history period so the projection is told apart from history."""
    if history_end is None or start is None:
        return
    end = month_end([history_end])[0]
    ax.axvspan(
        start, end, color="#eeeeee", zorder=0, linewidth=0, gid=HISTORY_GID, label=HISTORY_LABEL
    )


def save_figure(fig: Figure, path: Path, fmt: str) -> Path:
    """Write the figure atomically (temporary file, then rename) with reproducible metadata."""
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    buffer = io.BytesIO()
    with mpl.rc_context(RC):
        fig.savefig(buffer, format=fmt, metadata=metadata)
    write_bytes_atomic(path, buffer.getvalue())
    return path
