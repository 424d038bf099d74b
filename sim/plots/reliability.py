"""The reliability diagram of scored forecasts: one panel per forecaster.

Takes an events table of `alliance backtest` or `alliance crossval` (one row per fact: `outcome`
0/1 and `p_<forecaster>` per forecaster). The facts are sorted by the forecaster's probability
and cut into bins of equal count (a cut never splits equal probabilities: it moves past them, so
a constant forecast is one bin); each bin is drawn at its mean forecast (x) against the share of
its facts that came true (y), with the exact binomial (Clopper-Pearson) 95% interval of that
share and the number of facts in the bin. A point above the diagonal is under-forecasting (the
events came true more often than forecast), below it over-forecasting; an interval that crosses
the diagonal is within what chance gives with so few facts.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.batch.intervals import proportion_interval
from sim.plots.style import RC, save_figure, series_style

FORECASTER_LABELS = {
    "model": "model",
    "base_rate": "base rate",
    "fifty_fifty": "50/50",
    "logit": "logit",
}
FACTS_PER_BIN = 10
MAX_BINS = 10


def equal_count_bins(p: np.ndarray, bins: int) -> list[np.ndarray]:
    """Indices of `p` in `bins` groups of about equal count by rising p; a cut that would split
    equal values moves up past them (so a group may be larger, and there may be fewer)."""
    order = np.argsort(p, kind="stable")
    ranked = np.asarray(p, float)[order]
    n = len(ranked)
    bins = max(1, min(bins, n))
    cuts = []
    for k in range(1, bins):
        cut = round(k * n / bins)
        while 0 < cut < n and ranked[cut - 1] == ranked[cut]:
            cut += 1
        if 0 < cut < n and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    return [g for g in np.split(order, cuts) if len(g)]


def reliability_table(events: pd.DataFrame, forecaster: str) -> pd.DataFrame:
    """Per bin: facts, mean forecast, observed share and its 95% Clopper-Pearson interval."""
    p = events[f"p_{forecaster}"].to_numpy(float)
    o = events["outcome"].to_numpy(float)
    bins = max(1, min(MAX_BINS, len(p) // FACTS_PER_BIN))
    rows = []
    for group in equal_count_bins(p, bins):
        hits, n = o[group].sum(), len(group)
        low, high = proportion_interval(np.array([hits]), np.array([n]))
        rows.append(
            {
                "facts": n,
                "forecast": p[group].mean(),
                "observed": hits / n,
                "low": float(low[0]),
                "high": float(high[0]),
            }
        )
    return pd.DataFrame(rows)


def reliability_figure(events: pd.DataFrame, path: Path, fmt: str) -> Path:
    """`reliability_chart` saved to `path`."""
    return save_figure(reliability_chart(events), path, fmt)


def reliability_chart(events: pd.DataFrame) -> Figure:
    """One panel per forecaster present (no missing probabilities): bins of equal count, each
    with its binomial interval and its count."""
    present = [
        f
        for f in FORECASTER_LABELS
        if f"p_{f}" in events and not events[f"p_{f}"].isna().any() and len(events)
    ]
    with mpl.rc_context(RC):
        columns = min(2, max(1, len(present)))
        rows = max(1, -(-len(present) // columns))
        fig = Figure(figsize=(4.2 * columns, 3.9 * rows), layout="constrained")
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        for i, (ax, forecaster) in enumerate(zip(axes, present, strict=False)):
            table = reliability_table(events, forecaster)
            ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":")
            style = series_style(i)
            ax.errorbar(
                table["forecast"],
                table["observed"],
                yerr=[table["observed"] - table["low"], table["high"] - table["observed"]],
                capsize=2,
                gid=f"reliability:{forecaster}",
                **style,
            )
            for row in table.itertuples():
                ax.annotate(
                    str(row.facts),
                    (row.forecast, row.observed),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=7,
                )
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(FORECASTER_LABELS[forecaster], loc="left")
            ax.set_xlabel("forecast probability (bin mean)")
            ax.set_ylabel("share that came true (95% CI)")
        for ax in axes[len(present) :]:
            ax.set_visible(False)
        fig.suptitle(
            f"Reliability of {len(events)} forecasts: bins of equal count (numbers: facts per "
            "bin); above the diagonal = under-forecast"
        )
    return fig
