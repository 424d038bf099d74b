"""Posterior-predictive runs: each lane draws its own parameter values from calibration samples.

`alliance calibrate --out DIR` writes DIR/posterior.json and DIR/posterior.parquet (equally
weighted samples of the fitted parameters). A batch, sweep or backtest given `--posterior DIR`
groups its replications by parameter draw: replications r with the same `r // runs_per_draw`
(draw d, k = runs_per_draw runs each, a divisor of STREAM_BLOCK so that a draw never straddles
a stream block) share the parameters of sample `index(seed, d)`, drawn uniformly with
replacement from a random stream that depends only on the seed and d (block d // STREAM_BLOCK of
its own seed sequence), so the results are the same for any chunk size, worker count or engine.
The spread of the probability across draws is the parameter interval (`sim.batch.draws`); the
Monte Carlo interval is the binomial one of all runs together. Experiments that only need the
mixture (calibration's outcomes, cross-validation, backtests) keep one run per draw.
Parameters fitted for one case only (`NAME@CASE`) are carried only into that case's own
scenario; parameters the fit held fixed keep their values; parameters the run sets itself
(`--param`, a sweep's varied or fixed ones) are not drawn.

A forecast conditioned on a scenario's record (`alliance forecast --posterior DIR`) resamples each
lane with its draw, so the record updates the parameters too; it refuses a posterior fitted on
that scenario's own case (`own_cases`), whose facts the fit has counted already.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError

from sim.batch.manifests import Manifest, PosteriorRef
from sim.model.errors import InputError
from sim.model.parameters import BY_NAME
from sim.model.scenario import Scenario
from sim.model.schema import Strict
from sim.model.shipped import POSTERIORS as SHIPPED_FOLDER
from sim.model.shipped import shipped_root
from sim.model.streams import STREAM_BLOCK

POSTERIOR_MANIFEST = "posterior.json"
POSTERIOR_TABLE = "posterior.parquet"
CASE_SEP = "@"
DRAW_STREAM = 0x706F7374  # spawn-key tag: these draws never share the model's random numbers
CASE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # a case name is a folder name: no path, no @
BOOKKEEPING = ("draw", "step", "walker", "loglik")  # the samples' columns that are no parameter
EXPECTED = (
    "expected a calibration directory (alliance calibrate --out DIR) or the name of a shipped "
    "posterior (alliance posteriors)"
)
RUNS_PER_DRAW = 100  # k of a batch or forecast under a posterior: binomial noise <= 5 points


def check_runs_per_draw(runs_per_draw: int) -> None:
    """Refuse a k that would let a draw straddle a stream block (or no runs at all)."""
    if runs_per_draw < 1 or STREAM_BLOCK % runs_per_draw:
        divisors = [k for k in range(2, STREAM_BLOCK + 1) if STREAM_BLOCK % k == 0]
        raise InputError(
            "--runs-per-draw",
            str(runs_per_draw),
            f"expected a divisor of {STREAM_BLOCK} (runs per random-number block), such as "
            f"{', '.join(map(str, divisors[:12]))}",
        )


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
    runs_per_draw: int = 1  # k: consecutive replications sharing one parameter draw

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

    def grouped(self, runs_per_draw: int) -> PosteriorDraws:
        """The same draws with `runs_per_draw` consecutive replications sharing each one."""
        return replace(self, runs_per_draw=runs_per_draw)

    def draw_of(self, first: int, replications: int) -> np.ndarray:
        """The draw number d = r // runs_per_draw of replications first..first+replications-1."""
        return np.arange(first, first + replications, dtype=np.int64) // self.runs_per_draw

    def indices(self, seed: int, first: int, replications: int) -> np.ndarray:
        """The sample index of replications first..first+replications-1 (seed and draw only)."""
        draws = self.draw_of(first, replications)
        start = int(draws[0]) if replications else 0
        count = int(draws[-1]) - start + 1 if replications else 0
        out = np.empty(count, dtype=np.int64)
        d = start
        while d < start + count:
            block, offset = divmod(d, STREAM_BLOCK)
            rng = np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(DRAW_STREAM, block))
            )
            drawn = rng.integers(0, len(self.samples), STREAM_BLOCK)
            take = min(STREAM_BLOCK - offset, start + count - d)
            out[d - start : d - start + take] = drawn[offset : offset + take]
            d += take
        return out[draws - start]

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
            "runs_per_draw": self.runs_per_draw,
            "values": self.values_summary(),
        }

    def values_summary(self) -> dict[str, dict[str, Any]]:
        """Per parameter: drawn (its samples differ) or held by the fit, mean and 95% interval."""
        varied = set(self.varied())
        out = {}
        for j, name in enumerate(self.names):
            column = self.samples[:, j]
            low, high = np.quantile(column, (0.025, 0.975)) if len(column) else (np.nan, np.nan)
            out[name] = {
                "drawn": name in varied,
                "mean": float(column.mean()) if len(column) else float("nan"),
                "low": float(low),
                "high": float(high),
            }
        return out


def shipped_posteriors() -> list[Path]:
    """The folders of the posteriors shipped with the program, sorted by name."""
    root = shipped_root("experiments")
    folder = root / SHIPPED_FOLDER if root is not None else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / POSTERIOR_MANIFEST).is_file())


def resolve_posterior(directory: str | Path) -> Path:
    """A --posterior argument: the directory itself if it exists, else a shipped posterior."""
    given = Path(directory)
    if given.exists():
        return given
    return next((p for p in shipped_posteriors() if p.name == str(directory)), given)


def shipped_name(directory: str | Path) -> str:
    """A shipped posterior's name (what --posterior accepts anywhere), else the directory."""
    folder = Path(directory).resolve()
    return next((p.name for p in shipped_posteriors() if p.resolve() == folder), str(directory))


def never_saw(scenario: Scenario) -> Path | None:
    """The shipped posterior with the most cases none of which is of `scenario` (so its record
    was not fitted), or None if every shipped one has seen it."""
    candidates = []
    for folder in shipped_posteriors():
        cases = read_posterior_manifest(folder).cases
        if not any(_is_of(case, scenario) for case in cases):
            candidates.append((-len(cases), folder.name, folder))
    return min(candidates)[2] if candidates else None


class PosteriorParameter(Strict):
    """One fitted column of the samples: the model parameter, its case (or shared), its prior."""

    parameter: str
    case: str | None = None
    prior_low: float
    prior_high: float


class PosteriorCase(Strict):
    """One case the fit used: its name, its scenario's name and record, its number of facts."""

    name: str = Field(pattern=CASE_NAME)
    scenario: str
    facts: int = Field(ge=1)
    record: str | None = None  # `record_id` of its scenario; absent in older fits


class PosteriorManifest(Strict):
    """posterior.json: the samples' table and hash, the fit's cases, columns and held values."""

    kind: str = Field(pattern="^posterior$")
    table: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.parquet$")
    hash: str
    manifest_hash: str
    samples: int = Field(ge=1)
    experiment: dict[str, str]
    cases: list[PosteriorCase]
    parameters: dict[str, PosteriorParameter]
    fixed: dict[str, float]
    created: str | None = None


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The hash of posterior.json's content (all but this hash itself), so an edit is seen."""
    rest = {k: v for k, v in manifest.items() if k != "manifest_hash"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=float)
    return hashlib.sha256(text.encode()).hexdigest()


def record_id(scenario: Scenario) -> str:
    """What identifies a scenario's record whatever the file is named: its start and members."""
    key = json.dumps([scenario.month_label(0), sorted(scenario.members)])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def load_posterior(
    directory: str | Path, scenario: Scenario | None = None, exclude: set[str] | None = None
) -> PosteriorDraws:
    """The posterior samples of a calibration directory (or a shipped posterior's name), as a
    run of `scenario` uses them."""
    folder = resolve_posterior(directory)
    manifest = read_posterior_manifest(folder)
    table = _read_samples(folder, manifest)
    own_cases = {c.name for c in manifest.cases if scenario is not None and _is_of(c, scenario)}
    columns, names = [], []
    for column, info in manifest.parameters.items():
        if (info.case is not None and info.case not in own_cases) or info.parameter in (
            exclude or set()
        ):
            continue
        columns.append(column)
        names.append(info.parameter)
    samples = table[columns].to_numpy(float) if columns else np.zeros((len(table), 0))
    held = {
        k: v for k, v in manifest.fixed.items() if k not in (exclude or set()) and k not in names
    }
    if held:  # the fit assumed these values: a run under its posterior keeps them
        samples = np.hstack([samples, np.tile(list(held.values()), (len(samples), 1))])
        names += list(held)
    return PosteriorDraws(
        str(folder),
        manifest.hash,
        str(manifest.experiment.get("name", "")),
        tuple(c.name for c in manifest.cases),
        tuple(names),
        samples,
        tuple(sorted(own_cases)),
    )


def fitted_cases_of(cases: list[PosteriorCase], scenario: Scenario) -> list[str]:
    """The names of the fit's cases that are of `scenario` (its facts were fitted)."""
    return [c.name for c in cases if _is_of(c, scenario)]


def _is_of(case: PosteriorCase, scenario: Scenario) -> bool:
    """Is this case of the run's scenario? By its record where the fit noted it, else by name."""
    return case.record == record_id(scenario) if case.record else case.scenario == scenario.name


def read_posterior_manifest(folder: Path) -> PosteriorManifest:
    """posterior.json, checked: its own hash, its fields, every column's parameter and range."""
    path = folder / POSTERIOR_MANIFEST
    if not path.is_file():
        raise InputError("--posterior", str(folder), f"no {POSTERIOR_MANIFEST}; {EXPECTED}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            "--posterior", str(path), f"unreadable ({exc.__class__.__name__}); {EXPECTED}"
        ) from None
    if not isinstance(data, dict) or data.get("manifest_hash") != manifest_digest(data):
        raise InputError(
            "--posterior",
            str(path),
            "does not match its own hash (manifest_hash): edited or damaged since calibrate "
            f"wrote it; {EXPECTED}",
        )
    try:
        manifest = PosteriorManifest.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(map(str, problem["loc"]))
        raise InputError("--posterior", str(path), f"{field}: {problem['msg']}") from None
    _check_columns(manifest, str(path))
    return manifest


def _check_columns(manifest: PosteriorManifest, path: str) -> None:
    """Each column a known parameter with a prior inside its documented range, tagged with a
    case of the fit; each held value a known parameter inside its range."""
    cases = {c.name for c in manifest.cases}
    for column, info in manifest.parameters.items():
        where = f"parameters.{column}"
        expected = info.parameter + (f"{CASE_SEP}{info.case}" if info.case is not None else "")
        if info.parameter not in BY_NAME:
            raise InputError("--posterior", path, f"{where}: unknown parameter {info.parameter!r}")
        if column != expected or (info.case is not None and info.case not in cases):
            raise InputError(
                "--posterior", path, f"{where}: expected the column {expected!r} of a fitted case"
            )
        p = BY_NAME[info.parameter]
        if not p.low <= info.prior_low < info.prior_high <= p.high:
            raise InputError(
                "--posterior",
                path,
                f"{where}: prior [{info.prior_low}, {info.prior_high}] outside the documented "
                f"range [{p.low}, {p.high}]",
            )
    for name, value in manifest.fixed.items():
        if name not in BY_NAME:
            raise InputError("--posterior", path, f"fixed.{name}: unknown parameter")
        p = BY_NAME[name]
        if not p.low <= value <= p.high:
            raise InputError(
                "--posterior", path, f"fixed.{name}: {value} outside [{p.low}, {p.high}]"
            )


def _read_samples(folder: Path, manifest: PosteriorManifest) -> pd.DataFrame:
    """The samples' table, checked: its hash, Parquet, one column per fitted parameter and no
    other, as many rows as posterior.json says, every value finite and inside its prior."""
    path = folder / manifest.table
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            "--posterior", str(path), f"unreadable ({exc.strerror}); {EXPECTED}"
        ) from None
    if hashlib.sha256(data).hexdigest() != manifest.hash:
        raise InputError(
            "--posterior",
            str(path),
            f"does not match the hash in {POSTERIOR_MANIFEST}; expected the file calibrate wrote",
        )
    try:
        table = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise InputError(
            "--posterior", str(path), f"not a Parquet table ({exc.__class__.__name__}); {EXPECTED}"
        ) from None
    unmapped = [c for c in table.columns if c not in manifest.parameters and c not in BOOKKEEPING]
    missing = [c for c in manifest.parameters if c not in table.columns]
    if unmapped or missing or len(table) != manifest.samples:
        what = (
            f"column {unmapped[0]!r} is not in {POSTERIOR_MANIFEST}"
            if unmapped
            else f"no column {missing[0]!r}"
            if missing
            else f"{len(table)} rows, but {POSTERIOR_MANIFEST} says {manifest.samples}"
        )
        raise InputError("--posterior", str(path), f"{what}; {EXPECTED}")
    for column, info in manifest.parameters.items():
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values) | (values < info.prior_low) | (values > info.prior_high)
        if bad.any():
            raise InputError(
                "--posterior",
                str(path),
                f"column {column!r}: {int(bad.sum())} sample(s) not finite or outside the prior "
                f"[{info.prior_low}, {info.prior_high}] (first: row {int(np.argmax(bad))}, "
                f"{table[column].iloc[int(np.argmax(bad))]!r})",
            )
    return table


def uncertainty_note(manifest: Manifest) -> str:
    """What a run's parameters and bands are, in words: fixed parameters and Monte Carlo error
    only, or draws from a posterior with a parameter interval beside the Monte Carlo one."""
    posterior = getattr(manifest, "posterior", None)
    held = getattr(manifest, "forecast", None) is not None
    if not isinstance(posterior, PosteriorRef):
        record = "held to the record" if held else "uncalibrated, not held to the record"
        return (
            f"parameters fixed at the scenario's values ({record}); the 95% band is the Monte "
            "Carlo error only (Clopper-Pearson)"
        )
    k = posterior.runs_per_draw
    draws = -(-int(getattr(manifest, "runs", 0)) // k)
    weighed = "; the record conditioned on weighs the draws too" if held else ""
    source = (
        f"{len(posterior.parameters)} parameters drawn from the posterior of "
        f"{posterior.experiment} ({len(posterior.cases)} case(s), {posterior.samples:,} samples, "
        f"{shipped_name(posterior.directory)}){weighed}"
    )
    if k < 2:
        return f"bands carry parameter uncertainty mixed with chance: each run draws {source}"
    return (
        f"bands carry parameter uncertainty: {draws:,} draws x {k} runs, {source}. Two 95% "
        "intervals: the parameter interval (light band; in square brackets) is the spread of "
        "the probability across the draws, what the fitted history leaves open; the Monte "
        "Carlo interval (dark band; plain) is the error of the estimate from this many draws "
        "and runs"
    )


def runs_per_draw(manifest: Manifest) -> int:
    """k of a run under a posterior (1: every run its own draw, or fixed parameters)."""
    posterior = getattr(manifest, "posterior", None)
    return posterior.runs_per_draw if isinstance(posterior, PosteriorRef) else 1


def interval_notes(manifest: Manifest) -> dict[str, str]:
    """What each interval column of a summary covers (summary.json's `intervals`)."""
    notes = {
        "low/high": "95% Clopper-Pearson interval of the Monte Carlo error (all runs together)"
    }
    k = runs_per_draw(manifest)
    if k > 1:
        notes["low/high"] = (
            "95% interval of the Monte Carlo error, the draws as clusters (normal, ratio "
            "estimator: sim.batch.intervals.clustered_proportion_interval)"
        )
        notes["param_low/param_high"] = (
            f"95% credible interval of the probability across the posterior's parameter draws "
            f"({k} runs each, weighted by the runs each kept, less their binomial noise: "
            "sim.batch.draws)"
        )
    else:
        notes["param_low/param_high"] = "empty: the parameters are fixed (or one run per draw)"
    return notes


def run_label(manifest: Manifest) -> str:
    """A short label of what a run is, for figure titles and report headers."""
    posterior = getattr(manifest, "posterior", None)
    record = getattr(manifest, "forecast", None)
    held = f"held to the record as of {record['as_of']}" if isinstance(record, dict) else ""
    if not isinstance(posterior, PosteriorRef):
        return (
            f"fixed parameters, {held}"
            if held
            else "uncalibrated: fixed parameters, not held to the record"
        )
    fitted = f"parameters from {posterior.experiment}"
    return f"{fitted}, {held}" if held else f"{fitted}, not held to the record"
