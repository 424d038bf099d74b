"""Fan charts: median and 50%/90% bands of members' trust and of the patron's free capacity."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from sim.plots.style import (
    RC,
    date_axis,
    event_groups,
    heading,
    key_line_count,
    mark_events,
    mark_history,
    month_end,
    month_start,
    new_figure,
    series_style,
)

VARIABLES = {
    "trust": "trust in the patron's guarantee (0-1)",
    "capacity": "free capacity (share of strength, 0-1)",
}
BANDS = (("q05", "q95", 0.15, "90% of runs"), ("q25", "q75", 0.35, "50% of runs"))


def fan_chart(
    monthly: pd.DataFrame,
    variable: str,
    timeline: Sequence[dict[str, str]] = (),
    history_end: str | None = None,
    title: str | None = None,
    event_kinds: Iterable[str] | None = None,
) -> Figure:
    """One panel per actor carrying `variable`: median line, mean dashed, 50% and 90% bands."""
    if variable not in VARIABLES:
        raise ValueError(f"variable must be one of {', '.join(VARIABLES)}")
    rows = monthly[monthly["variable"] == variable]
    actors = list(dict.fromkeys(rows["actor"]))
    if not actors:
        raise ValueError(f"no monthly {variable} in the results")
    cols = min(2, len(actors))
    panel_rows = math.ceil(len(actors) / cols)
    groups = event_groups(timeline, event_kinds)
    fig, axes, key_ax = new_figure(panel_rows, cols, key_lines=key_line_count(groups))
    with mpl.rc_context(RC):
        for i, (ax, actor) in enumerate(zip(axes, actors, strict=False)):
            mine = rows[rows["actor"] == actor].sort_values("month")
            x = month_end(mine["date"])
            color = series_style(i)["color"]
            for low, high, alpha, label in BANDS:
                ax.fill_between(
                    x,
                    mine[low].to_numpy(float),
                    mine[high].to_numpy(float),
                    color=color,
                    alpha=alpha,
                    linewidth=0,
                    label=label,
                    gid=f"band:{actor}:{low}-{high}",
                )
            ax.plot(
                x, mine["q50"].to_numpy(float), color=color, label="median", gid=f"median:{actor}"
            )
            ax.plot(
                x,
                mine["mean"].to_numpy(float),
                color="#000000",
                linestyle="--",
                linewidth=0.9,
                label="mean",
                gid=f"mean:{actor}",
            )
            ax.set_title(actor, loc="left")
            ax.set_ylim(0.0, 1.0)
            ax.set_ylabel(VARIABLES[variable])
            mark_history(ax, history_end, month_start(mine["date"].iloc[:1])[0])
            date_axis(ax)
        for ax in axes[len(actors) :]:
            ax.set_visible(False)
        mark_events(axes[: len(actors)], groups, key_ax, numbered_axes=axes[:cols])
        default = "Trust per member" if variable == "trust" else "Patron's free capacity"
        heading(fig, title or f"{default}: median, 50% and 90% of runs", axes[0])
    return fig
