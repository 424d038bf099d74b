"""Posterior-predictive runs: each lane draws its own parameter values from calibration samples.

`alliance calibrate --out DIR` writes DIR/posterior.json and DIR/posterior.parquet (equally
weighted samples of the fitted parameters). A batch, sweep or backtest given `--posterior DIR`
runs replication r with the parameters of sample `index(seed, r)`, drawn uniformly with
replacement from a random stream that depends only on the seed and r (block r // STREAM_BLOCK
of its own seed sequence), so the results are the same for any chunk size, worker count or
engine. The bands then carry parameter uncertainty as well as chance. Parameters fitted for one
case only (`NAME@CASE`) are carried only into that case's own scenario; parameters the fit held
fixed keep their values; parameters the run sets itself (`--param`, a sweep's varied or fixed
ones) are not drawn.

A forecast conditioned on a scenario's record (`alliance forecast --posterior DIR`) resamples each
lane with its draw, so the record updates the parameters too; it refuses a posterior fitted on
that scenario's own case (`own_cases`), whose facts the fit has counted already.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.manifests import Manifest, PosteriorRef
from sim.model.errors import InputError
from sim.model.parameters import BY_NAME
from sim.model.streams import STREAM_BLOCK

POSTERIOR_MANIFEST = "posterior.json"
POSTERIOR_TABLE = "posterior.parquet"
CASE_SEP = "@"
DRAW_STREAM = 0x706F7374  # spawn-key tag: these draws never share the model's random numbers


@dataclass(frozen=True)
class PosteriorDraws:
    """Samples of the parameters a run draws per lane, and where they came from."""

    directory: str
    content_hash: str
    experiment: str
    cases: tuple[str, ...]
    names: tuple[str, ...]  # model parameter names, one column of `samples` each
    samples: np.ndarray  # (samples, names)
    own_cases: tuple[str, ...] = ()  # the fit's cases of the scenario the run is of

    def varied(self) -> tuple[str, ...]:
        """The parameters whose samples differ (the fit's held values are the same in all)."""
        return tuple(n for j, n in enumerate(self.names) if np.ptp(self.samples[:, j]) > 0)

    def refuse_double_counting(self, where: str) -> None:
        """Refuse to condition the run's scenario on its record again where the fit used it."""
        if self.own_cases:
            case = self.own_cases[0]
            raise InputError(
                where,
                self.directory,
                f"was fitted on case {case!r} of this scenario, so its facts would count twice; "
                f"expected a fit without it, such as the cross-validation fold "
                f"(alliance crossval ... --out DIR: DIR/folds/{case})",
            )

    def indices(self, seed: int, first: int, replications: int) -> np.ndarray:
        """The sample index of replications first..first+replications-1 (seed and r only)."""
        out = np.empty(replications, dtype=np.int64)
        r = first
        while r < first + replications:
            block, offset = divmod(r, STREAM_BLOCK)
            rng = np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(DRAW_STREAM, block))
            )
            drawn = rng.integers(0, len(self.samples), STREAM_BLOCK)
            take = min(STREAM_BLOCK - offset, first + replications - r)
            out[r - first : r - first + take] = drawn[offset : offset + take]
            r += take
        return out

    def lane_values(
        self, seed: int, first: int, replications: int, points: int = 1
    ) -> dict[str, np.ndarray]:
        """Per-lane parameter arrays for lanes p * replications + r (the same draw at every p)."""
        values = self.samples[self.indices(seed, first, replications)]
        return {n: np.tile(values[:, j], points) for j, n in enumerate(self.names)}

    def describe(self) -> dict[str, Any]:
        """What a manifest records about the draws."""
        return {
            "directory": self.directory,
            "hash": self.content_hash,
            "experiment": self.experiment,
            "cases": list(self.cases),
            "samples": len(self.samples),
            "parameters": list(self.names),
        }


def load_posterior(
    directory: str | Path, scenario_name: str | None = None, exclude: set[str] | None = None
) -> PosteriorDraws:
    """The posterior samples of a calibration directory, as a run of `scenario_name` uses them."""
    folder = Path(directory)
    manifest_path = folder / POSTERIOR_MANIFEST
    expected = "expected a calibration directory (alliance calibrate --out DIR)"
    if not manifest_path.is_file():
        raise InputError("--posterior", str(folder), f"no {POSTERIOR_MANIFEST}; {expected}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        data = (folder / manifest["table"]).read_bytes()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            "--posterior", str(manifest_path), f"unreadable ({exc.__class__.__name__}); {expected}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.get("hash"):
        raise InputError(
            "--posterior",
            str(folder / manifest["table"]),
            "does not match the hash in posterior.json; expected the file calibrate wrote",
        )
    table = pd.read_parquet(folder / manifest["table"])
    own_cases = {c["name"] for c in manifest.get("cases", []) if c.get("scenario") == scenario_name}
    columns, names = [], []
    for column, info in manifest["parameters"].items():
        name, case = info["parameter"], info.get("case")
        if name not in BY_NAME or column not in table:
            raise InputError(
                "--posterior", str(manifest_path), f"unknown parameter {column!r}; {expected}"
            )
        if (case is not None and case not in own_cases) or name in (exclude or set()):
            continue
        columns.append(column)
        names.append(name)
    samples = table[columns].to_numpy(float) if columns else np.zeros((len(table), 0))
    fixed = {k: float(v) for k, v in manifest.get("fixed", {}).items() if k in BY_NAME}
    held = {k: v for k, v in fixed.items() if k not in (exclude or set()) and k not in names}
    if held:  # the fit assumed these values: a run under its posterior keeps them
        samples = np.hstack([samples, np.tile(list(held.values()), (len(samples), 1))])
        names += list(held)
    return PosteriorDraws(
        str(folder),
        digest,
        str(manifest.get("experiment", {}).get("name", "")),
        tuple(c["name"] for c in manifest.get("cases", [])),
        tuple(names),
        samples,
        tuple(sorted(own_cases)),
    )


def uncertainty_note(manifest: Manifest) -> str:
    """What a run's bands carry, in words: chance only, or parameter uncertainty too."""
    posterior = getattr(manifest, "posterior", None)
    if not isinstance(posterior, PosteriorRef):
        return "bands: Monte Carlo uncertainty at fixed parameters"
    forecast = getattr(manifest, "forecast", None) is not None
    weighed = "; the record conditioned on weighs the draws too" if forecast else ""
    return (
        f"bands carry parameter uncertainty: each run draws {len(posterior.parameters)} "
        f"parameters from the posterior of {posterior.experiment} ({len(posterior.cases)} case(s), "
        f"{posterior.samples:,} samples, {posterior.directory}){weighed}"
    )
