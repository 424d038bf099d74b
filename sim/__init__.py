"""alliance-defection: an agent-based model (Mesa) of members leaving an alliance.

The package is cut along the pipeline, each stage importing only those before it:
`sim.model` (scenarios, agents, model) -> `sim.batch` (lanes, engines, chunk store, estimands,
results) -> `sim.plots` -> `sim.experiments` (sweeps, sensitivity, calibration, backtests) ->
`sim.report` -> `sim.viz` -> `sim.cli`. `docs/architecture.md` is the map.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.experiments.loading import Result

__all__ = ["compare", "load"]


def load(directory: str | Path) -> Result:
    """Any result directory (batch, forecast, sweep, sensitivity, calibrate, crossval, backtest)
    as a typed result with pandas tables, dates as datetimes; see `sim.experiments.loading`."""
    from sim.experiments.loading import load as load_result

    return load_result(directory)


def compare(dir_a: str | Path, dir_b: str | Path) -> dict[str, pd.DataFrame]:
    """Paired differences A - B of two batches with the same seed and runs, with paired and
    unpaired 95% intervals, dates as datetimes; see `sim.experiments.loading.compare`."""
    from sim.experiments.loading import compare as compare_results

    return compare_results(dir_a, dir_b)
