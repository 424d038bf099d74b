"""Rolling-origin backtests: scores and skill of each forecast origin's forecasts.

Takes the `skill` table of `sim.experiments.origins.backtest_origins` (one row per origin).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.plots.reliability import FORECASTER_LABELS as FORECASTERS
from sim.plots.style import RC, legend_outside, new_figure, series_style


def skill_by_origin(skill: pd.DataFrame, title: str) -> Figure:
    """Top: each forecaster's Brier score of the facts after each origin; bottom: the model's
    Brier skill against every reference (above 0: better than the reference)."""
    fig, (score_ax, skill_ax), _ = new_figure(2, 1, width=7.0, panel_height=2.6)
    x = np.arange(len(skill))
    labels = [f"{o}\n({n} facts)" for o, n in zip(skill["origin"], skill["events"], strict=True)]
    with mpl.rc_context(RC):
        for i, (name, label) in enumerate(FORECASTERS.items()):
            column = f"brier_{name}"
            values = skill[column].to_numpy(float) if column in skill else np.array([np.nan])
            if np.isnan(values).all():
                continue
            score_ax.plot(x, values, label=label, gid=f"brier:{name}", **series_style(i))
        score_ax.set_ylabel("Brier score (lower is better)")
        score_ax.set_title("Brier score of the facts after the origin", loc="left")
        legend_outside(score_ax)
        for i, ref in enumerate(r for r in FORECASTERS if r != "model"):
            column = f"brier_skill_vs_{ref}"
            values = skill[column].to_numpy(float) if column in skill else np.array([np.nan])
            if np.isnan(values).all():
                continue
            skill_ax.plot(
                x, values, label=f"vs {FORECASTERS[ref]}", gid=f"skill:{ref}", **series_style(i + 1)
            )
        skill_ax.axhline(0.0, color="#777777", linewidth=0.8)
        skill_ax.set_ylabel("Brier skill of the model")
        skill_ax.set_title("Model's skill: 1 - Brier / reference Brier", loc="left")
        legend_outside(skill_ax)
        for ax in (score_ax, skill_ax):
            ax.set_xticks(x, labels)
            ax.set_xlabel("forecast origin (facts up to it conditioned on)")
        fig.suptitle(title)
    return fig
