"""Defection curves: cumulative probability of each stage over calendar time, with 95% bands:
the Monte Carlo band, and under a posterior a wider, lighter band, the parameter interval.

Every function takes tidy frames in the batch results contract (`sim.batch.results`) and returns a
matplotlib Figure, so figures can be checked or restyled before they are saved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import matplotlib as mpl
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.model.stages import LATER_STAGES
from sim.plots.style import (
    BAND_ALPHA,
    RC,
    STAGE_LABELS,
    date_axis,
    event_groups,
    heading,
    key_line_count,
    legend_outside,
    mark_events,
    mark_history,
    month_end,
    month_start,
    new_figure,
    probability_axis,
    probability_top,
    series_style,
)

LAYOUTS = ("stage", "member")


def defection_curves(
    curves: pd.DataFrame,
    timeline: Sequence[dict[str, str]] = (),
    history_end: str | None = None,
    by: str = "stage",
    title: str | None = None,
    event_kinds: Iterable[str] | None = None,
) -> Figure:
    """Each member's cumulative probability of each stage, one panel per stage or per member."""
    if by not in LAYOUTS:
        raise ValueError(f"by must be one of {', '.join(LAYOUTS)}")
    members = list(dict.fromkeys(curves["member"]))
    stages = [s for s in LATER_STAGES if s in set(curves["stage"])]
    panels, series = (stages, members) if by == "stage" else (members, stages)
    cols = 1 if by == "stage" else min(2, len(panels))
    rows = math.ceil(len(panels) / cols)
    groups = event_groups(timeline, event_kinds)
    fig, axes, key_ax = new_figure(rows, cols, key_lines=key_line_count(groups))
    shared_top = probability_top(upper(curves))
    start = month_start(curves["date"].iloc[:1])[0] if len(curves) else None
    with mpl.rc_context(RC):
        for ax, panel in zip(axes, panels, strict=False):
            for i, name in enumerate(series):
                member, stage = (name, panel) if by == "stage" else (panel, name)
                rows_ = curves[(curves["member"] == member) & (curves["stage"] == stage)]
                label = name if by == "stage" else STAGE_LABELS[name]
                draw_curve(ax, rows_, i, label, f"{member}:{stage}")
            ax.set_title(STAGE_LABELS[panel] if by == "stage" else panel, loc="left")
            mark_history(ax, history_end, start)
            own = upper(curves[curves["stage" if by == "stage" else "member"] == panel])
            probability_axis(ax, top=probability_top(own) if by == "stage" else shared_top)
            date_axis(ax)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        mark_events(axes[: len(panels)], groups, key_ax, numbered_axes=axes[:cols])
        heading(fig, title or "Defection curves (95% bands)", axes[0])
    return fig


def upper(rows: pd.DataFrame) -> pd.Series:
    """The top of each row's widest band: the parameter interval where there is one."""
    if "param_high" not in rows:
        return rows["high"]
    return rows[["high", "param_high"]].max(axis=1)


def draw_curve(
    ax: Axes, rows: pd.DataFrame, i: int, label: str, key: str, value: str = "probability"
) -> None:
    """One probability curve with its 95% Monte Carlo band, and under a posterior its wider,
    lighter 95% parameter interval; gids 'curve:KEY', 'band:KEY' and 'param-band:KEY'."""
    rows = rows.sort_values("month")
    x = month_end(rows["date"])
    style = series_style(i)
    drawn = "param_low" in rows and rows["param_low"].notna().any()
    if drawn:
        ax.fill_between(
            x,
            rows["param_low"].to_numpy(float),
            rows["param_high"].to_numpy(float),
            color=style["color"],
            alpha=BAND_ALPHA / 2,
            linewidth=0,
            gid=f"param-band:{key}",
        )
    ax.fill_between(
        x,
        rows["low"].to_numpy(float),
        rows["high"].to_numpy(float),
        color=style["color"],
        alpha=min(1.0, 2.5 * BAND_ALPHA) if drawn else BAND_ALPHA,
        linewidth=0,
        gid=f"band:{key}",
    )
    ax.plot(
        x,
        rows[value].to_numpy(float),
        label=label,
        markevery=(2 * i % 12, 12),
        gid=f"curve:{key}",
        **style,
    )


def alliance_chart(
    alliance: pd.DataFrame,
    members: int,
    timeline: Sequence[dict[str, str]] = (),
    history_end: str | None = None,
    title: str | None = None,
    event_kinds: Iterable[str] | None = None,
) -> Figure:
    """Probability of at least one formal exit, and the expected number of members still active."""
    groups = event_groups(timeline, event_kinds)
    fig, axes, key_ax = new_figure(2, 1, key_lines=key_line_count(groups))
    rows = alliance.sort_values("month")
    x = month_end(rows["date"])
    start = month_start(rows["date"].iloc[:1])[0] if len(rows) else None
    with mpl.rc_context(RC):
        exit_ax, active_ax = axes
        draw_curve(exit_ax, rows, 0, "at least one formal exit", "alliance:any_exit", "p_any_exit")
        exit_ax.set_title("Probability that at least one member has withdrawn", loc="left")
        probability_axis(exit_ax, top=probability_top(upper(rows)))
        active_ax.plot(
            x,
            rows["expected_active"].to_numpy(float),
            gid="curve:alliance:expected_active",
            label="expected members active",
            markevery=12,
            **series_style(1),
        )
        active_ax.set_title("Expected number of members still active", loc="left")
        active_ax.set_ylabel("members active (count)")
        active_ax.set_ylim(0, members + 0.2)
        for ax in axes:
            mark_history(ax, history_end, start)
            date_axis(ax)
            legend_outside(ax)
        mark_events(axes, groups, key_ax)
        fig.suptitle(title or "The alliance as a whole")
    return fig


BANDS_DRAWN = "light band 95% parameter interval, dark band 95% Monte Carlo"
BANDS_FIXED = "95% Monte Carlo bands"  # the parameters are fixed: chance is all a band carries


def compare_curves(
    runs: Sequence[tuple[str, pd.DataFrame, pd.DataFrame | None]],
    stage: str = "withdrawn",
    title: str | None = None,
) -> Figure:
    """Several scenarios' curves of one stage on the same axes: one panel per member.

    `runs` holds (label, curves, alliance) per scenario; an alliance frame adds a last panel with
    the probability of at least one formal exit.
    """
    if stage not in LATER_STAGES:
        raise ValueError(f"stage must be one of {', '.join(LATER_STAGES)}")
    members = list(dict.fromkeys(m for _, curves, _ in runs for m in curves["member"]))
    with_alliance = all(alliance is not None for _, _, alliance in runs)
    panels = len(members) + int(with_alliance)
    cols = min(2, panels)
    rows = math.ceil(panels / cols)
    fig, axes, _ = new_figure(rows, cols)
    chosen = [curves[curves["stage"] == stage] for _, curves, _ in runs]
    highs = [v for c in chosen for v in c["high"]]
    if with_alliance:
        highs += [v for _, _, alliance in runs for v in alliance["high"]]
    top = probability_top(highs)
    with mpl.rc_context(RC):
        for ax, member in zip(axes, members, strict=False):
            for i, (label, curves, _) in enumerate(runs):
                mine = curves[(curves["member"] == member) & (curves["stage"] == stage)]
                if len(mine):
                    draw_curve(ax, mine, i, label, f"{label}:{member}:{stage}")
            ax.set_title(f"{member}: {STAGE_LABELS[stage]}", loc="left")
        if with_alliance:
            ax = axes[len(members)]
            for i, (label, _, alliance) in enumerate(runs):
                draw_curve(ax, alliance, i, label, f"{label}:alliance:any_exit", "p_any_exit")
            ax.set_title("Alliance: at least one formal exit", loc="left")
        for ax in axes[:panels]:
            probability_axis(ax, top=top)
            date_axis(ax)
        for ax in axes[panels:]:
            ax.set_visible(False)
        drawn = any(c["param_low"].notna().any() for c in chosen if "param_low" in c)
        bands = f"{BANDS_DRAWN} where drawn" if drawn else BANDS_FIXED
        heading(fig, title or f"Scenarios compared: {STAGE_LABELS[stage]} ({bands})", axes[0])
    return fig
