"""Scenario discovery figure: PRIM's peeling trajectory and the chosen box's limits.

Takes the tables of `sim.experiments.discover` (trajectory: box, coverage, density, restricted,
chosen; box: parameter, low, high, range_low, range_high, restricted).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from sim.plots.style import RC, legend_outside, new_figure, series_style

RESTRICTED = series_style(2)["color"]  # blue: the box narrows this parameter's range
FREE = "#cccccc"  # grey: the box keeps the parameter's whole swept range


def discovery_figure(trajectory: pd.DataFrame, box: pd.DataFrame, title: str) -> Figure:
    """Left: coverage against density of every box peeled; right: the chosen box's limits."""
    fig, (trade_ax, limits_ax), _ = new_figure(1, 2, panel_height=3.6)
    with mpl.rc_context(RC):
        trade_ax.plot(
            trajectory["coverage"],
            trajectory["density"],
            color="#999999",
            linewidth=0.8,
            zorder=1,
        )
        dots = trade_ax.scatter(
            trajectory["coverage"],
            trajectory["density"],
            c=trajectory["restricted"],
            cmap="viridis",
            s=16,
            zorder=2,
            gid="trajectory",
        )
        chosen = trajectory[trajectory["chosen"]]
        trade_ax.scatter(
            chosen["coverage"],
            chosen["density"],
            s=90,
            facecolors="none",
            edgecolors=series_style(4)["color"],
            linewidths=1.6,
            zorder=3,
            label=f"chosen box ({int(chosen['box'].iloc[0])})",
            gid="chosen-box",
        )
        colorbar = fig.colorbar(dots, ax=trade_ax)
        colorbar.set_label("parameters restricted")
        colorbar.locator = mpl.ticker.MaxNLocator(integer=True)
        colorbar.update_ticks()
        trade_ax.set_xlabel("coverage (share of the cases of interest in the box)")
        trade_ax.set_ylabel("density (share of the box's points of interest)")
        for axis in (trade_ax.xaxis, trade_ax.yaxis):
            axis.set_major_formatter(PercentFormatter(1.0))
        trade_ax.set_xlim(0, 1.02)
        trade_ax.set_ylim(0, 1.02)
        trade_ax.set_title("Peeling trajectory", loc="left")
        legend_outside(trade_ax)
        _limits_panel(limits_ax, box)
        fig.suptitle(title)
    return fig


def _limits_panel(ax, box: pd.DataFrame) -> None:
    """Each parameter's box as a bar over its swept range scaled to [0, 1]."""
    span = (box["range_high"] - box["range_low"]).replace(0, 1.0)
    low = (box["low"] - box["range_low"]) / span
    high = (box["high"] - box["range_low"]) / span
    y = np.arange(len(box))[::-1]
    colors = [RESTRICTED if r else FREE for r in box["restricted"]]
    ax.barh(y, high - low, left=low, color=colors, height=0.5, gid="box-limits")
    for yi, row in zip(y, box.itertuples(), strict=True):
        ax.text(
            1.02,
            yi,
            f"{row.low:.3g} to {row.high:.3g}",
            va="center",
            fontsize=8,
            transform=ax.get_yaxis_transform(),
        )
    ax.set_yticks(y, box["parameter"])
    ax.set_xlim(0, 1)
    ax.set_xlabel("position within the swept range (0 = low end, 1 = high end)")
    held = int(box["restricted"].sum())
    what = (
        f"{held} restricted (blue), the others free (grey)"
        if held
        else "no parameter restricted (all free, in grey)"
    )
    ax.set_title(f"Chosen box: {what}", loc="left", wrap=True)
