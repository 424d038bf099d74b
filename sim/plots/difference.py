"""Difference curves: A - B of each member's probability of one stage, paired and unpaired bands.

Takes the tables of `sim.batch.compare.compare_batches`. The shaded band is the paired 95%
interval (common random numbers); the dotted lines are the unpaired interval that two
independent batches would give, so the figure shows what the pairing bought.
"""

from __future__ import annotations

import math

import matplotlib as mpl
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.model.stages import LATER_STAGES
from sim.plots.style import (
    BAND_ALPHA,
    RC,
    STAGE_LABELS,
    date_axis,
    heading,
    month_end,
    new_figure,
    series_style,
)

# The differences are stored as fractions; the axis reads them in percentage points (+2.5, not
# +2.5%, which would read as a relative change).
POINTS = FuncFormatter(lambda value, _: f"{100 * value:+.3g}" if abs(value) > 1e-12 else "0")


def difference_curves(
    difference: pd.DataFrame,
    alliance: pd.DataFrame,
    stage: str = "withdrawn",
    title: str | None = None,
) -> Figure:
    """One panel per member (the chosen stage) and one for any formal exit: A - B over time."""
    if stage not in LATER_STAGES:
        raise ValueError(f"stage must be one of {', '.join(LATER_STAGES)}")
    members = list(dict.fromkeys(difference["member"]))
    panels = len(members) + 1
    cols = min(2, panels)
    fig, axes, _ = new_figure(math.ceil(panels / cols), cols)
    chosen = difference[difference["stage"] == stage]
    with mpl.rc_context(RC):
        for ax, member in zip(axes, members, strict=False):
            _draw(ax, chosen[chosen["member"] == member], f"{member}:{stage}")
            ax.set_title(f"{member}: {STAGE_LABELS[stage]}", loc="left")
        _draw(axes[len(members)], alliance, "alliance:any_exit")
        axes[len(members)].set_title("Alliance: at least one formal exit", loc="left")
        for ax in axes[:panels]:
            ax.axhline(0.0, color="#777777", linewidth=0.8)
            ax.set_ylabel("A - B (percentage points)")
            ax.yaxis.set_major_formatter(POINTS)
            date_axis(ax)
        for ax in axes[panels:]:
            ax.set_visible(False)
        heading(
            fig,
            title or f"Difference A - B: {STAGE_LABELS[stage]} (paired and unpaired 95%)",
            axes[0],
        )
    return fig


def _draw(ax: Axes, rows: pd.DataFrame, key: str) -> None:
    rows = rows.sort_values("month")
    x = month_end(rows["date"])
    style = series_style(0)
    ax.fill_between(
        x,
        rows["paired_low"].to_numpy(float),
        rows["paired_high"].to_numpy(float),
        color=series_style(2)["color"],
        alpha=2 * BAND_ALPHA,
        linewidth=0,
        label="paired 95% interval",
        gid=f"band:paired:{key}",
    )
    for column, label in (("unpaired_low", "unpaired 95% interval"), ("unpaired_high", None)):
        ax.plot(
            x,
            rows[column].to_numpy(float),
            color=series_style(4)["color"],
            linestyle=":",
            linewidth=1.0,
            label=label,
            gid=f"band:unpaired:{key}",
        )
    ax.plot(
        x,
        rows["difference"].to_numpy(float),
        color=style["color"],
        linewidth=1.5,
        label="difference A - B",
        gid=f"curve:{key}",
    )
