"""Scenario discovery: which box of the swept parameters makes an outcome likely (PRIM).

A sweep (or sensitivity) directory holds, for every design point, an estimate of each outcome.
A point is a case of interest when its estimate is above (or below) a threshold, for example
"North withdrawn by 2030-12" above 0.2. The Patient Rule Induction Method (Friedman and
Fisher 1999; Bryant and Lempert 2010), as implemented by the `prim` package (the standalone
version of `ema_workbench.analysis.prim`), peels the parameter space from its edges, a small
share of the points at a time, and records the trajectory: coverage (share of the cases of
interest inside the box) against density (share of the points inside the box that are cases of
interest). The chosen box is the densest one on the trajectory whose coverage is at least
`min_coverage`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from sim.batch.manifests import ExperimentManifest, read_manifest
from sim.batch.store import write_json_atomic
from sim.experiments.experiment import probability_labels
from sim.model.errors import InputError
from sim.model.run import write_tables
from sim.plots.discovery import discovery_figure
from sim.plots.style import save_figure

SWEEP_KINDS = ("sweep", "sensitivity")


@dataclass
class Discovery:
    """PRIM's peeling trajectory, the chosen box and the points, as tidy tables."""

    outcome: str
    rule: str
    trajectory: pd.DataFrame  # box, coverage, density, mass, restricted, chosen
    box: pd.DataFrame  # parameter, low, high, range_low, range_high, restricted, qp_value
    points: pd.DataFrame  # point, parameters..., estimate, of_interest, in_box
    chosen: int
    settings: dict[str, float]
    probability: bool | None = None  # the outcome is a probability (None: the sweep does not say)

    def shown_rule(self) -> str:
        """The rule as a reader meets it: a probability's threshold in % (files keep `rule`,
        the threshold as given, a fraction)."""
        if not self.probability:
            return self.rule
        sign, value = self.rule.removeprefix("estimate ").split(" ", 1)
        word = "above" if sign == ">" else "below"
        option = "--above" if sign == ">" else "--below"
        return f"estimate {word} {100 * float(value):g}% ({option} {value})"

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name, as written under the output folder."""
        return {"trajectory": self.trajectory, "box": self.box, "points": self.points}


def read_sweep(directory: Path) -> tuple[ExperimentManifest, pd.DataFrame]:
    """A finished sweep or sensitivity directory's manifest and results table."""
    directory = Path(directory)
    try:
        manifest = read_manifest(directory, "sweep", ExperimentManifest)
    except InputError:
        manifest = read_manifest(directory, "sensitivity", ExperimentManifest)
    if not manifest.finished:
        raise InputError(str(directory), "finished", "the sweep is unfinished; resume it first")
    parquet, csv = directory / "results.parquet", directory / "results.csv"
    path = parquet if parquet.is_file() else csv
    if not path.is_file():
        raise InputError(str(directory), "results", "no results.parquet or results.csv")
    try:
        results = pd.read_parquet(path) if path == parquet else pd.read_csv(path)
    except (OSError, ValueError, ArrowException) as exc:
        raise InputError(
            str(path),
            "",
            f"unreadable ({exc.__class__.__name__}); expected the table the sweep wrote",
        ) from None
    needed = ["point", "outcome", "estimate", *manifest.varied]
    missing = [c for c in needed if c not in results.columns]
    if missing:
        raise InputError(str(path), "", f"no column {missing[0]!r}; expected the sweep's results")
    return manifest, results


def discover(
    directory: Path,
    outcome: str,
    above: float | None = None,
    below: float | None = None,
    min_coverage: float = 0.8,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> Discovery:
    """Run PRIM on a sweep's points, a case of interest being an estimate above or below a value."""
    if (above is None) == (below is None):
        raise InputError("--above/--below", "", "give exactly one threshold")
    option, threshold = ("--above", above) if above is not None else ("--below", below)
    if not np.isfinite(threshold):
        raise InputError(option, "", f"expected a finite number (got {threshold})")
    _check_share("--min-coverage", min_coverage, "[0, 1]", 0.0 <= min_coverage <= 1.0)
    _check_share("--peel-alpha", peel_alpha, "(0, 0.5]", 0.0 < peel_alpha <= 0.5)
    _check_share("--mass-min", mass_min, "(0, 1)", 0.0 < mass_min < 1.0)
    manifest, results = read_sweep(directory)
    names = list(manifest.varied)
    labels = list(dict.fromkeys(results["outcome"]))
    if outcome not in labels:
        raise InputError(
            "--outcome", "", f"unknown outcome {outcome!r}; the sweep has: {', '.join(labels)}"
        )
    rows = results[results["outcome"] == outcome].sort_values("point").reset_index(drop=True)
    x = rows[names].astype(float)
    estimate = rows["estimate"].to_numpy(float)
    rule = f"estimate > {above}" if above is not None else f"estimate < {below}"
    of_interest = estimate > above if above is not None else estimate < below
    cases = int(of_interest.sum())
    probability = is_probability(Path(directory), outcome)
    if cases == 0 or cases == len(rows):
        which = "no" if cases == 0 else "every"
        low, high = estimate.min(), estimate.max()
        shown = f" ({100 * low:.3g}% to {100 * high:.3g}%)" if probability else ""
        raise InputError(
            option,
            "",
            f"{which} point of the sweep has {outcome!r} {rule[9:]}; nothing to discover; "
            f"expected a threshold within the estimates' range {low:.3g} to {high:.3g}{shown}",
        )
    box = _peel(x, of_interest, peel_alpha, mass_min)
    trajectory = _trajectory(box)
    chosen = _choose(trajectory, min_coverage)
    trajectory["chosen"] = trajectory["box"] == chosen
    limits = _limits(box, chosen, x)
    inside = np.ones(len(rows), dtype=bool)
    for row in limits.itertuples():
        inside &= (x[row.parameter] >= row.low).to_numpy() & (x[row.parameter] <= row.high)
    points = rows[["point", *names, "estimate"]].copy()
    points["of_interest"] = of_interest
    points["in_box"] = inside
    settings = {"min_coverage": min_coverage, "peel_alpha": peel_alpha, "mass_min": mass_min}
    return Discovery(outcome, rule, trajectory, limits, points, chosen, settings, probability)


def is_probability(directory: Path, outcome: str) -> bool | None:
    """Whether the sweep's outcome is a probability, from the copy of its experiment file the
    sweep keeps (`experiment.yaml`); None where that copy is missing or unreadable."""
    try:
        return outcome in probability_labels(directory / "experiment.yaml")
    except (InputError, OSError):
        return None


def _check_share(option: str, value: float, bounds: str, inside: bool) -> None:
    """Refuse a PRIM setting outside its bounds (NaN is never inside), naming the option."""
    if not inside:
        raise InputError(option, "", f"expected a share in {bounds} (got {value})")


def _peel(x: pd.DataFrame, of_interest: np.ndarray, peel_alpha: float, mass_min: float) -> Any:
    """PRIM's first box, peeled down to `mass_min` of the points."""
    import prim  # the `prim` package: imports matplotlib.pyplot, so only when discovering

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecation notes from inside the package
        finder = prim.Prim(
            x.reset_index(drop=True),
            of_interest,
            threshold=0.5,
            threshold_type=">",
            peel_alpha=peel_alpha,
            mass_min=mass_min,
        )
        return finder.find_box()


def _trajectory(box: Any) -> pd.DataFrame:
    """Coverage, density, mass and restricted dimensions of each box of the peeling."""
    steps = box.peeling_trajectory.reset_index(drop=True)
    return pd.DataFrame(
        {
            "box": np.arange(len(steps)),
            "coverage": steps["coverage"].astype(float),
            "density": steps["density"].astype(float),
            "mass": steps["mass"].astype(float),
            "restricted": steps["res dim"].astype(int),
        }
    )


def _choose(trajectory: pd.DataFrame, min_coverage: float) -> int:
    """The densest box with at least `min_coverage` (the first such on ties, the larger box)."""
    eligible = trajectory[trajectory["coverage"] >= min_coverage - 1e-12]
    best = eligible["density"].max()
    return int(eligible.loc[eligible["density"] >= best - 1e-12, "box"].iloc[0])


def _limits(box: Any, chosen: int, x: pd.DataFrame) -> pd.DataFrame:
    """Each parameter's limits in the chosen box beside its range over the sweep."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box.select(chosen)
        restricted = box.limits  # restricted parameters only: min, max, qp values
    rows = []
    for name in x.columns:
        range_low, range_high = float(x[name].min()), float(x[name].max())
        held = name in restricted.index
        rows.append(
            {
                "parameter": name,
                "low": float(restricted.loc[name, "min"]) if held else range_low,
                "high": float(restricted.loc[name, "max"]) if held else range_high,
                "range_low": range_low,
                "range_high": range_high,
                "restricted": held,
                "qp_value": float(restricted.loc[name, "qp values"]) if held else np.nan,
            }
        )
    return pd.DataFrame(rows)


def write_discovery(found: Discovery, folder: Path) -> Path:
    """Write the tables (CSV and Parquet), discovery.json and figures/discovery.png; return it."""
    folder = Path(folder)
    write_tables(found.tables(), folder)
    step = found.trajectory.iloc[found.chosen]
    write_json_atomic(
        folder / "discovery.json",
        {
            "outcome": found.outcome,
            "rule": found.rule,
            "points": len(found.points),
            "cases_of_interest": int(found.points["of_interest"].sum()),
            "chosen_box": found.chosen,
            "coverage": float(step["coverage"]),
            "density": float(step["density"]),
            "mass": float(step["mass"]),
            "limits": found.box.astype(object).where(found.box.notna(), None).to_dict("records"),
            "settings": found.settings,
        },
    )
    title = f"Scenario discovery (PRIM): {found.outcome}, {found.shown_rule()}"
    fig = discovery_figure(found.trajectory, found.box, title)
    return save_figure(fig, folder / "figures" / "discovery.png", "png")
