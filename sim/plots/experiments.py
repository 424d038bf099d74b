"""Figures of sweeps and sensitivity analyses: heat maps of outcomes and ranked index bars.

Inputs follow the experiments contract: a sweep's tidy results table (point, one column per varied
parameter, outcome, estimate, low, high, n) and a sensitivity run's indices table (outcome,
parameter, method, S1, S1_conf, ST, ST_conf, mu_star, mu_star_conf, sigma).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from sim.plots.style import (
    BAND_ALPHA,
    HATCHES,
    PALETTE,
    RC,
    heading,
    probability_top,
    series_style,
)

SWEEP_COLUMNS = ("point", "outcome", "estimate", "low", "high", "n")
ANNOTATE_MAX_CELLS = 144
SOBOL_MARGIN = 0.5  # how far past [0, 1] a Sobol panel's axis reaches (estimates' noise)
TOP_PARAMETERS = 12  # parameters shown per outcome, on the console and in the figure
COLORMAP = "viridis"  # luminance rises monotonically: readable in greyscale


def varied_parameters(results: pd.DataFrame) -> list[str]:
    """The sweep's parameter columns: every column that is not part of the fixed contract."""
    return [c for c in results.columns if c not in SWEEP_COLUMNS]


def sweep_heatmap(
    results: pd.DataFrame,
    parameters: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per outcome: a heat map over two parameters (grid) or scatter (sampled design).

    With one varied parameter the panel is a curve with its 95% band; with more than two, the
    estimate is averaged over the others (said in the panel title).
    """
    params = list(parameters or varied_parameters(results))
    if not params:
        raise ValueError("the sweep results have no parameter columns")
    outcomes = list(dict.fromkeys(results["outcome"]))
    cols = min(2, len(outcomes))
    rows = math.ceil(len(outcomes) / cols)
    with mpl.rc_context(RC):
        fig = Figure(figsize=(5.2 * cols, 4.2 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
        for ax, outcome in zip(axes, outcomes, strict=False):
            mine = results[results["outcome"] == outcome]
            if len(params) == 1:
                _sweep_curve(ax, mine, params[0])
            else:
                _heat_panel(fig, ax, mine, params[0], params[1], params[2:])
            ax.set_title(_outcome_title(outcome, params[2:]), loc="left")
        for ax in axes[len(outcomes) :]:
            ax.set_visible(False)
        fig.suptitle(title or "Parameter sweep")
    return fig


def _outcome_title(outcome: str, averaged: Sequence[str]) -> str:
    return outcome + (f"\n(mean over {', '.join(averaged)})" if averaged else "")


def _is_probability(values: pd.Series) -> bool:
    return bool(values.between(0.0, 1.0).all())


def _sweep_curve(ax: Axes, rows: pd.DataFrame, param: str) -> None:
    rows = rows.groupby(param, as_index=False)[["estimate", "low", "high"]].mean()
    style = series_style(0)
    x = rows[param].to_numpy(float)
    ax.fill_between(x, rows["low"], rows["high"], color=style["color"], alpha=BAND_ALPHA, lw=0)
    ax.plot(x, rows["estimate"], gid="sweep-curve", **style)
    ax.set_xlabel(param)
    if _is_probability(rows["high"]):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel("probability (%)")
    else:
        ax.set_ylabel("estimate")


def _heat_panel(
    fig: Figure, ax: Axes, rows: pd.DataFrame, x: str, y: str, others: Sequence[str]
) -> None:
    cells = rows.groupby([x, y], as_index=False)["estimate"].mean()
    xs, ys = np.sort(cells[x].unique()), np.sort(cells[y].unique())
    probability = _is_probability(cells["estimate"])
    norm = mpl.colors.Normalize(0.0, probability_top(cells["estimate"])) if probability else None
    if len(cells) == len(xs) * len(ys) and len(xs) > 1 and len(ys) > 1:
        grid = cells.pivot(index=y, columns=x, values="estimate").loc[ys, xs].to_numpy()
        mesh = ax.pcolormesh(_edges(xs), _edges(ys), grid, cmap=COLORMAP, norm=norm, gid="heatmap")
        if grid.size <= ANNOTATE_MAX_CELLS:
            _annotate(ax, xs, ys, grid, probability, mesh)
    else:
        mesh = ax.scatter(
            cells[x], cells[y], c=cells["estimate"], cmap=COLORMAP, norm=norm, s=28, gid="heatmap"
        )
    bar = fig.colorbar(mesh, ax=ax)
    if probability:
        bar.formatter = PercentFormatter(1.0)
        bar.update_ticks()
        bar.set_label("probability (%)")
    else:
        bar.set_label("estimate")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(False)


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges half-way between grid values (so each cell is centred on its point)."""
    mids = (values[1:] + values[:-1]) / 2
    return np.concatenate(
        [[values[0] - (mids[0] - values[0])], mids, [values[-1] + (values[-1] - mids[-1])]]
    )


def _annotate(ax: Axes, xs, ys, grid: np.ndarray, probability: bool, mesh) -> None:
    for j, yv in enumerate(ys):
        for i, xv in enumerate(xs):
            value = grid[j, i]
            if not np.isfinite(value):
                continue
            shade = mesh.cmap(mesh.norm(value))
            light = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] > 0.5
            text = f"{100 * value:.0f}" if probability else f"{value:.2g}"
            ax.text(
                xv,
                yv,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="black" if light else "white",
            )


def sensitivity_bars(
    indices: pd.DataFrame, title: str | None = None, top: int = TOP_PARAMETERS
) -> Figure:
    """Ranked bars per outcome, the `top` most influential parameters of each (the console
    prints the same top rows; indices.csv has all): Sobol total (hatched) and first-order
    indices with 95% intervals, or Morris mu* with its interval and sigma as a marker. Up to
    three panels a row, so that the figure fits a screen."""
    panels = list(dict.fromkeys(zip(indices["outcome"], indices["method"], strict=True)))
    if not panels:
        raise ValueError("the sensitivity indices table is empty")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    shown = min(top, indices["parameter"].nunique())
    with mpl.rc_context(RC):
        size = (4.6 * cols, (0.22 * shown + 1.1) * rows + 0.8)
        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
        for ax, (outcome, method) in zip(axes, panels, strict=False):
            mine = indices[(indices["outcome"] == outcome) & (indices["method"] == method)]
            key = "ST" if method == "sobol" else "mu_star"
            best = mine.nlargest(shown, key)
            if method == "sobol":
                _sobol_panel(ax, best)
            else:
                _morris_panel(ax, best)
            of = f", top {len(best)} of {len(mine)} by {key}" if len(best) < len(mine) else ""
            ax.set_title(f"{outcome}\n({method}{of})", loc="left")
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        heading(fig, title or "Global sensitivity, parameters ranked by influence", axes[0])
    return fig


def _sobol_panel(ax: Axes, rows: pd.DataFrame) -> None:
    rows = rows.sort_values("ST", ascending=True)
    y = np.arange(len(rows))
    height = 0.4
    _bars(ax, y + height / 2, rows, "ST", height, "total effect ST", "white", HATCHES[1])
    _bars(ax, y - height / 2, rows, "S1", height, "first order S1", PALETTE[2])
    ax.set_yticks(y, rows["parameter"])
    ax.set_xlabel("Sobol index (share of output variance)")
    ax.axvline(0, color="black", linewidth=0.6)
    left, right = ax.get_xlim()  # indices live in [0, 1]: wider intervals run off the panel
    ax.set_xlim(max(left, -SOBOL_MARGIN), min(right, 1 + SOBOL_MARGIN))
    ax.grid(axis="y", visible=False)


def _bars(
    ax: Axes,
    y: np.ndarray,
    rows: pd.DataFrame,
    index: str,
    height: float,
    label: str,
    color: str,
    hatch: str | None = None,
) -> None:
    """One index per parameter as horizontal bars with its confidence (`<index>_conf`) as error
    bars; gid `bars:<index>` names them."""
    ax.barh(
        y,
        rows[index],
        height,
        xerr=rows[f"{index}_conf"],
        color=color,
        edgecolor=PALETTE[0],
        hatch=hatch,
        label=label,
        gid=f"bars:{index}",
        error_kw={"elinewidth": 0.8},
    )


def _morris_panel(ax: Axes, rows: pd.DataFrame) -> None:
    rows = rows.sort_values("mu_star", ascending=True)
    y = np.arange(len(rows))
    _bars(ax, y, rows, "mu_star", 0.6, "mu* (mean absolute elementary effect)", PALETTE[2])
    ax.plot(rows["sigma"], y, "kD", markersize=4, linestyle="none", label="sigma (interactions)")
    ax.set_yticks(y, rows["parameter"])
    ax.set_xlabel("Morris elementary effect (outcome units)")
    ax.grid(axis="y", visible=False)
