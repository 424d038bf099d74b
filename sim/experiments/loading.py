"""`sim.load(DIR)`: any result directory as a typed result, ready for a notebook.

One loader for every kind of output (batch, forecast, sweep, sensitivity, calibrate, crossval,
backtest, backtest over several origins). The manifest says which kind a directory holds; it is
read by `sim.batch.manifests.read_manifest`, the one reader of manifests, and kept typed. Every
table is a pandas DataFrame whose calendar columns (`date`, `median_date`, `origin`, `as_of`,
...) are datetimes (a month as its first day, so `table[table.date == "2030-12"]` picks that
month) and whose censored first passages are missing values, not -1. The files on disk are not
changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from sim.batch import store
from sim.batch.manifests import (
    MANIFEST,
    BacktestManifest,
    BatchManifest,
    CalibrateManifest,
    CrossvalManifest,
    ExperimentManifest,
    Manifest,
    OriginsManifest,
    read_manifest,
)
from sim.batch.results import BatchResults
from sim.batch.results import load as load_batch_results
from sim.model.errors import InputError
from sim.model.scenario import Scenario

# Columns holding a calendar month or day as text (YYYY-MM or YYYY-MM-DD) in the files.
DATE_COLUMNS = ("date", "median_date", "origin", "as_of", "reached_in", "by")


CALENDAR_TEXT = r"^\d{4}-\d{2}(-\d{2})?$"  # YYYY-MM or YYYY-MM-DD


def as_datetimes(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of `table` with its calendar columns as datetimes (missing stays missing); a
    column of that name holding anything but calendar text is left as it is."""
    table = table.copy()
    for column in table.columns:
        if column in DATE_COLUMNS or str(column).endswith("_date"):
            values = table[column].astype("string")
            given = values.dropna()
            if given.str.fullmatch(CALENDAR_TEXT).all():
                table[column] = pd.to_datetime(values, format="ISO8601")
    return table


def _table(directory: Path, name: str, required: bool = True) -> pd.DataFrame | None:
    """A table a run wrote as Parquet (else CSV), calendar columns as datetimes."""
    parquet, csv = directory / f"{name}.parquet", directory / f"{name}.csv"
    if parquet.is_file():
        return as_datetimes(pd.read_parquet(parquet))
    if csv.is_file():
        return as_datetimes(pd.read_csv(csv))
    if required:
        raise InputError(str(parquet), "", "file not found; was the run finished?")
    return None


def _summary(directory: Path) -> dict[str, Any]:
    path = directory / "summary.json"
    return store.read_json(path) if path.is_file() else {}


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


@dataclass(repr=False)
class Result:
    """What every loaded result has: its directory, its manifest and its tables by name."""

    directory: Path
    manifest: Manifest

    @property
    def kind(self) -> str:
        """The kind of run, as its manifest records it (batch, sweep, calibrate, ...)."""
        return self.manifest.kind

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result by name (missing optional tables left out)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), pd.DataFrame)
        }

    def describe(self) -> str:
        """One line on what the result holds (the body of its repr)."""
        runs = getattr(self.manifest, "runs", None)
        return _plural(runs, "run") if isinstance(runs, int) else ""

    def __repr__(self) -> str:
        name = type(self).__name__
        tables = ", ".join(self.tables())
        return f"<{name} {str(self.directory)!r}: {self.describe()}; tables: {tables}>"


@dataclass(repr=False)
class Batch(Result):
    """A Monte Carlo batch: probabilities over time with 95% bands (docs/batch.md, "Outputs").

    curves: per member, stage and month, P(reached the stage by then) with its interval;
    alliance: P(any formal exit) and the expected number of active members per month;
    by_date: `curves` at each year end; median_time: the median month of each first passage;
    monthly: trust, capacity and status aggregates; stage_shares: the share of runs in each stage.
    """

    manifest: BatchManifest
    scenario: Scenario
    curves: pd.DataFrame
    alliance: pd.DataFrame
    by_date: pd.DataFrame
    median_time: pd.DataFrame
    monthly: pd.DataFrame
    stage_shares: pd.DataFrame
    results: BatchResults = field(repr=False)

    @classmethod
    def from_results(cls, results: BatchResults) -> Batch:
        """The typed view of `sim.batch.results.load`'s tables."""
        tables = {name: as_datetimes(t) for name, t in results.tables().items()}
        return cls(results.directory, results.manifest, results.scenario, **tables, results=results)

    def describe(self) -> str:
        sc = self.scenario
        span = f"{sc.month_label(0)} to {sc.month_label(sc.months - 1)}"
        parts = [sc.name, f"{self.manifest.runs:,} runs", f"seed {self.manifest.seed}", span]
        if self.manifest.posterior is not None:
            parts.append(f"parameters drawn from {self.manifest.posterior.experiment}")
        return ", ".join(parts)

    def first_passage(
        self, members: Sequence[str] | None = None, stages: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Per run, member and stage: the first month and date the stage was reached.

        `month` is a nullable integer and `date` a datetime; both are missing where the run had
        not reached the stage by the horizon (censored). Filter by `members` and `stages` for
        large batches (15 rows per run for five members).
        """
        frame = self.results.first_passage(members, stages)
        month = frame["month"].astype("Int64")
        frame["month"] = month.where(month >= 0)
        labels = pd.Series(self.scenario.month_labels(), dtype="string")
        dates = pd.to_datetime(labels, format="ISO8601")
        frame["date"] = dates.reindex(frame["month"].fillna(-1).astype(int)).to_numpy()
        return frame

    def trajectories(self) -> pd.DataFrame:
        """Long table run, month, date, actor, variable, value (batches run with --trajectories)."""
        return as_datetimes(self.results.trajectories())


@dataclass(repr=False)
class Forecast(Batch):
    """A batch held to the record (`alliance forecast`): the tables of a batch, `record` (the
    facts and the date they are known by) and `conditioning` (each fact's share of runs
    meeting it, the effective sample size `ess` and the log-likelihood of the record);
    docs/experiments.md, `alliance forecast`."""

    @property
    def record(self) -> dict[str, Any]:
        """The facts held to and how (observations, as_of, reached_in, facts, after_as_of)."""
        return dict(self.manifest.forecast or {})

    @property
    def conditioning(self) -> dict[str, Any]:
        """What holding the runs to the record did (facts, ess, log_likelihood, parameters)."""
        return dict(self.manifest.conditioning or {})

    @property
    def facts(self) -> pd.DataFrame:
        """One row per fact held to: its label, treatment (imposed or conditioned) and shares."""
        return pd.DataFrame(self.conditioning.get("facts", []))

    def describe(self) -> str:
        facts = _plural(len(self.record.get("facts", [])), "fact")
        ess = self.conditioning.get("ess")
        held = f"held to {facts} known by {self.record.get('as_of')}"
        return super().describe() + f", {held}" + (f", ESS {ess:,.0f}" if ess else "")


@dataclass(repr=False)
class Sweep(Result):
    """A parameter sweep: `results` has one row per design point (the parameters' values, then
    each outcome's estimate, interval and runs); `design` the points as run."""

    manifest: ExperimentManifest
    results: pd.DataFrame
    design: pd.DataFrame | None

    def describe(self) -> str:
        varied = self.varied
        names = ", ".join(varied) if len(varied) <= 4 else _plural(len(varied), "parameter")
        return (
            f"{self.manifest.experiment.name}, {_plural(self.manifest.points, 'point')}"
            f" x {self.manifest.replications:,} runs, varying {names}"
        )

    @property
    def varied(self) -> list[str]:
        """The parameters the design varied."""
        return list(self.manifest.varied)


@dataclass(repr=False)
class Sensitivity(Sweep):
    """A global sensitivity analysis: the design's `results`, and `indices` (Sobol first-order
    and total indices, or Morris' mu* and sigma, per outcome and parameter, with intervals)."""

    indices: pd.DataFrame | None = None
    indices_second_order: pd.DataFrame | None = None


@dataclass(repr=False)
class Calibration(Result):
    """A calibration (`alliance calibrate`): `posterior` the equally weighted samples, `fitted`
    each parameter's posterior against its prior (sd/prior, identification), `correlations`,
    `facts` and `cases` the fitted record, `outcomes` the forecast under the posterior, and
    `summary` the sampler's diagnostics (docs/calibration.md)."""

    manifest: CalibrateManifest
    posterior: pd.DataFrame
    fitted: pd.DataFrame
    correlations: pd.DataFrame | None
    facts: pd.DataFrame | None
    cases: pd.DataFrame | None
    outcomes: pd.DataFrame | None
    summary: dict[str, Any]

    def describe(self) -> str:
        s = self.summary
        cases = self.manifest.cases
        parts = [
            str(self.manifest.experiment.name),
            f"{_plural(len(self.fitted), 'parameter')} fitted on {_plural(len(cases), 'case')}",
        ]
        if "samples" in s:
            parts.append(f"{s['samples']:,} posterior samples")
        return ", ".join(parts)


@dataclass(repr=False)
class CrossValidation(Result):
    """Leave-one-case-out validation (`alliance crossval`): `events` every held-out fact with
    each forecaster's probability, `scores` per case and in total, `base_rates` the reference
    fitted on each fold's training cases, `summary` the totals (docs/calibration.md)."""

    manifest: CrossvalManifest
    events: pd.DataFrame
    scores: pd.DataFrame
    base_rates: pd.DataFrame | None
    horizon: pd.DataFrame | None
    logit: pd.DataFrame | None
    summary: dict[str, Any]

    @property
    def folds(self) -> dict[str, Path]:
        """Each held-out case's fold directory (its posterior and held-out forecasts)."""
        return {
            name: self.directory / "folds" / name
            for name in self.manifest.cases
            if (self.directory / "folds" / name).is_dir()
        }

    def describe(self) -> str:
        cases = self.manifest.cases
        return f"{_plural(len(cases), 'case')} held out in turn, {len(self.events):,} facts"


@dataclass(repr=False)
class Backtest(Result):
    """Forecasts scored against what happened (`alliance backtest`): `events` each fact with
    each forecaster's probability, `scores` Brier and log scores per member, period and
    forecaster, `skill` per origin (with --origins), `summary` the totals."""

    manifest: BacktestManifest | OriginsManifest
    events: pd.DataFrame
    scores: pd.DataFrame
    skill: pd.DataFrame | None
    logit: pd.DataFrame | None
    horizon: pd.DataFrame | None
    summary: dict[str, Any]

    def describe(self) -> str:
        m = self.manifest
        where = ", ".join(m.origins) if isinstance(m, OriginsManifest) else m.origin
        return f"{len(self.events):,} facts scored from {where}, {m.runs:,} runs"


def _experiment_tables(directory: Path, kind: type[Result], names: Sequence[str]) -> dict:
    """The named tables of an experiment directory; those the kind's fields allow to be None are
    optional."""
    optional = {f.name for f in fields(kind) if "None" in str(f.type)}
    return {name: _table(directory, name, name not in optional) for name in names}


def _finished(directory: Path, manifest: Manifest) -> None:
    if not manifest.finished:
        raise InputError(
            str(directory / MANIFEST),
            "finished",
            "the run is unfinished; finish it with: " + manifest.resume_command(directory),
        )


def load(directory: str | Path) -> Result:
    """Load any result directory as its typed result (see the module's docstring).

    Returns a `Batch`, `Forecast`, `Sweep`, `Sensitivity`, `Calibration`, `CrossValidation` or
    `Backtest`; InputError (one line) if `directory` holds no finished run.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    kind = manifest.kind
    if isinstance(manifest, BatchManifest):
        typed = Forecast if manifest.forecast is not None else Batch
        return typed.from_results(load_batch_results(directory))
    _finished(directory, manifest)
    if kind == "sweep":
        return Sweep(directory, manifest, **_experiment_tables(directory, Sweep, SWEEP_TABLES))
    if kind == "sensitivity":
        tables = _experiment_tables(directory, Sensitivity, SENSITIVITY_TABLES)
        return Sensitivity(directory, manifest, **tables)
    if kind == "calibrate":
        tables = _experiment_tables(directory, Calibration, CALIBRATION_TABLES)
        return Calibration(directory, manifest, **tables, summary=_summary(directory))
    if kind in ("crossval", "score"):
        tables = _experiment_tables(directory, CrossValidation, CROSSVAL_TABLES)
        return CrossValidation(directory, manifest, **tables, summary=_summary(directory))
    if kind in ("backtest", "backtest-origins"):
        tables = _experiment_tables(directory, Backtest, BACKTEST_TABLES)
        return Backtest(directory, manifest, **tables, summary=_summary(directory))
    raise InputError(str(directory / MANIFEST), "kind", f"unknown kind of run {kind!r}")


SWEEP_TABLES = ("results", "design")
SENSITIVITY_TABLES = (*SWEEP_TABLES, "indices", "indices_second_order")
CALIBRATION_TABLES = ("posterior", "fitted", "correlations", "facts", "cases", "outcomes")
CROSSVAL_TABLES = ("events", "scores", "base_rates", "horizon", "logit")
BACKTEST_TABLES = ("events", "scores", "skill", "logit", "horizon")


def compare(dir_a: str | Path, dir_b: str | Path) -> dict[str, pd.DataFrame]:
    """Paired differences A - B of two batches run with the same seed and runs (common random
    numbers): tables `difference`, `alliance` and `by_date` of `sim.batch.compare`, with the
    paired and the unpaired 95% intervals, dates as datetimes."""
    from sim.batch.compare import compare_batches

    return {name: as_datetimes(t) for name, t in compare_batches(dir_a, dir_b).items()}
