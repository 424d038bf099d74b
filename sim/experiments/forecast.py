"""`alliance forecast`: a batch whose lanes agree with every fact known on a date.

Facts of an observations file dated up to `as_of` become conditions on the lanes
(`sim.batch.conditioning`): at the end of each fact's month, lanes that contradict it are dropped
and the survivors split to refill their stream block. A `reached_in` fact, which few lanes meet
exactly, is imposed by default (`reached_in="impose"`): the member's stage is set in its month
and the share of lanes that met it on their own is recorded as its likelihood;
`reached_in="condition"` conditions on it like the others. The result is a batch directory
(summarize, plot, report and compare read it) whose manifest also records the observations, the
as-of date, each fact's treatment and share of consistent lanes, the log-likelihood of the record
and the effective sample size. With a posterior (`posterior=DIR`), each lane draws its parameters
from it and keeps its draw when resampled, so the facts weigh the parameters as well as the runs
(a posterior fitted on the scenario's own record is refused: its facts would count twice).

With no options beyond the scenario, `alliance forecast` is the program's forecast: the
scenario's record (its `observations` field, or a sibling `<stem>.obs.yaml`) as of the record's
`as_of` (usually its history_end), parameters drawn from the shipped posterior
that never saw that record (`posterior=AUTO`, `sim.batch.posterior.never_saw`), grouped by draw
(`runs_per_draw` runs each) so that every estimate has a parameter interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.batch.conditioning import (
    CONDITIONING,
    FIXED_POINT,
    Condition,
    NoConsistentLane,
    simulate_conditioned_chunk,
)
from sim.batch.jobs import DEFAULTS, RunDir, RunOptions
from sim.batch.ledger import read_chunk, read_ledger
from sim.batch.manifests import BatchManifest
from sim.batch.posterior import (
    RUNS_PER_DRAW,
    PosteriorDraws,
    check_runs_per_draw,
    load_posterior,
    never_saw,
)
from sim.batch.runner import BatchOutcome, Finished, run_batch
from sim.batch.tasks import check_run_arguments
from sim.experiments.observations import Fact, Observations, load_observations
from sim.model.errors import InputError
from sim.model.months import month_label, parse_month
from sim.model.scenario import Scenario, load_scenario
from sim.model.streams import STREAM_BLOCK

TREATMENTS = ("impose", "condition")
FIXED = "none"  # --posterior none: the scenario's fixed parameters
AUTO = "auto"  # the shipped posterior that never saw the record (the command line's default)


@dataclass
class ForecastOutcome:
    """How a forecast ended: the batch's outcome and the conditioning record."""

    batch: BatchOutcome
    conditioning: dict[str, Any] | None


def record_path(scenario: Scenario) -> Path:
    """The scenario's record: its `observations` field (relative to the scenario file), else a
    sibling `<stem>.obs.yaml`; InputError if it names none or the file is missing."""
    path = Path(scenario.path)
    named = scenario.spec.observations
    candidate = path.parent / named if named else path.with_name(f"{path.stem}.obs.yaml")
    if candidate.is_file():
        return candidate
    if named:
        raise InputError(
            scenario.path, "observations", f"{candidate} does not exist; expected a file"
        )
    raise InputError(
        "--observations",
        scenario.path,
        f"the scenario names no record (field `observations`, or a sibling {candidate.name}); "
        "expected --observations FILE",
    )


def forecast_posterior(scenario: Scenario, posterior: Path | str | None) -> Path | None:
    """The posterior a forecast draws from: `AUTO` (the command line's default) for the
    shipped posterior that never saw the scenario's record, None or `none` for the scenario's
    fixed parameters, else the calibration directory or shipped name given."""
    if str(posterior) == AUTO:
        return never_saw(scenario)
    return None if posterior is None or str(posterior) == FIXED else Path(posterior)


def as_of_month(scenario: Scenario, observations: Observations, as_of: str | None) -> int:
    """The month index of --as-of (default: the observations file's as_of)."""
    text = as_of if as_of is not None else observations.spec.as_of
    try:
        parse_month(text)
    except ValueError:
        raise InputError("--as-of", str(text), "expected a month as YYYY-MM") from None
    month = scenario.month_of(text)
    if not 0 <= month < scenario.months:
        first, last = scenario.month_label(0), scenario.month_label(scenario.months - 1)
        raise InputError("--as-of", str(text), f"outside the scenario's calendar {first}..{last}")
    return month


def conditions_for(
    facts: list[Fact], as_of: int, reached_in: str
) -> tuple[tuple[Condition, ...], list[Fact]]:
    """The facts known by `as_of` as lane conditions (in file order), and the facts left out."""
    if reached_in not in TREATMENTS:
        raise InputError("--reached-in", reached_in, f"expected one of {', '.join(TREATMENTS)}")
    used = [f for f in facts if f.month <= as_of]
    conditions = tuple(
        Condition(
            f.member,
            f.stage,
            f.kind,
            f.month,
            f.label,
            impose=f.kind == "reached_in" and reached_in == "impose",
        )
        for f in used
    )
    return conditions, [f for f in facts if f.month > as_of]


def forecast_record(
    observations: Observations,
    scenario: Scenario,
    as_of: int,
    reached_in: str,
    conditions: tuple[Condition, ...],
    left_out: list[Fact],
) -> dict[str, Any]:
    """What the manifest records about the conditioning (and what --resume must match)."""
    return {
        "observations": {
            "name": observations.name,
            "path": observations.path,
            "hash": observations.content_hash,
        },
        "as_of": scenario.month_label(as_of),
        "reached_in": reached_in,
        "facts": [
            {
                "label": c.label,
                "kind": c.kind,
                "date": scenario.month_label(c.month),
                "treatment": "imposed" if c.impose else "conditioned",
            }
            for c in conditions
        ],
        "after_as_of": [f.label for f in left_out],
    }


@dataclass
class ForecastPlan:
    """A checked forecast request: the scenario, the facts as conditions, the manifest record."""

    scenario: Scenario
    observations: Observations
    conditions: tuple[Condition, ...]
    record: dict[str, Any]
    runs: int
    seed: int
    posterior: Path | None = None  # what the runs draw from (None: fixed parameters)
    runs_per_draw: int = RUNS_PER_DRAW


def plan_forecast(
    scenario: Scenario | Path,
    observations_path: Path | None,
    runs: int,
    seed: int = 0,
    as_of: str | None = None,
    reached_in: str = "impose",
    overrides: dict[str, float] | None = None,
    posterior: Path | str | None = None,
    runs_per_draw: int = RUNS_PER_DRAW,
) -> ForecastPlan:
    """Read and check the inputs, and condition the first stream block here, so that bad input
    or a fact no lane can meet fails with one line before anything is written (`scenario`: a
    file, or a scenario compiled already). With `observations_path` None, the scenario's record
    (`record_path`). With `posterior`, the lanes draw their parameters from it
    (`sim.batch.posterior`), `runs_per_draw` runs sharing each draw; `AUTO` is the shipped
    posterior that never saw the record (`forecast_posterior`), None or `none` fixed parameters."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    observations = load_observations(observations_path or record_path(scenario), scenario)
    month = as_of_month(scenario, observations, as_of)
    conditions, left_out = conditions_for(observations.facts, month, reached_in)
    record = forecast_record(observations, scenario, month, reached_in, conditions, left_out)
    posterior = forecast_posterior(scenario, posterior)
    draws = None
    if posterior is not None:
        check_runs_per_draw(runs_per_draw)
        draws = load_posterior(posterior, scenario, set(overrides or {}))
        draws = draws.grouped(runs_per_draw)
        draws.refuse_double_counting("--posterior")
    if runs > 0:
        pilot(
            scenario, seed, min(runs, STREAM_BLOCK), conditions, overrides or {}, observations,
            draws,
        )  # fmt: skip
    return ForecastPlan(
        scenario, observations, conditions, record, runs, seed, posterior, runs_per_draw
    )


def forecast(
    scenario_path: Path,
    observations_path: Path | None,
    out: Path,
    runs: int,
    seed: int = 0,
    as_of: str | None = None,
    reached_in: str = "impose",
    *,
    options: RunOptions = DEFAULTS,
    chunk_size: int | None = None,
    overrides: dict[str, float] | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    plan: ForecastPlan | None = None,
    posterior: Path | str | None = None,
    then: Finished | None = None,
    runs_per_draw: int = RUNS_PER_DRAW,
) -> ForecastOutcome:
    """Run a batch conditioned on the facts known by `as_of` into `out` (`plan`: checked
    already by `plan_forecast` with the same arguments); with `posterior`, each run draws its
    parameters from it and the facts weigh those draws too. The conditioning record goes into
    the manifest, and `then(run, outcome)` runs (the summary), before the directory is let go."""
    check_run_arguments(runs=runs, seed=seed)
    plan = plan or plan_forecast(
        scenario_path, observations_path, runs, seed, as_of, reached_in, overrides, posterior,
        runs_per_draw,
    )  # fmt: skip

    def record(run: RunDir, outcome: BatchOutcome) -> None:
        assert isinstance(run.manifest, BatchManifest)
        run.manifest.conditioning = conditioning_record(run.out, run.manifest, plan.conditions)
        run.save()
        if then is not None:
            then(run, outcome)

    try:
        outcome = run_batch(
            scenario_path, out, runs, seed, options=options, chunk_size=chunk_size,
            overrides=overrides, on_progress=on_progress, conditions=plan.conditions,
            forecast=plan.record, posterior=plan.posterior, runs_per_draw=plan.runs_per_draw,
            then=record,
        )  # fmt: skip
    except NoConsistentLane as exc:
        raise impossible(plan.observations, exc) from None
    assert isinstance(outcome.manifest, BatchManifest)
    return ForecastOutcome(outcome, outcome.manifest.conditioning)


def pilot(
    scenario: Scenario,
    seed: int,
    lanes: int,
    conditions: tuple[Condition, ...],
    overrides: dict[str, float],
    observations: Observations,
    draws: PosteriorDraws | None = None,
) -> None:
    """Condition the first stream block here, so an impossible fact fails before any writing."""
    try:
        simulate_conditioned_chunk(scenario, seed, 0, lanes, conditions, overrides, draws)
    except NoConsistentLane as exc:
        raise impossible(observations, exc) from None


def impossible(observations: Observations, exc: NoConsistentLane) -> InputError:
    """The one-line error for facts no lane of a stream block is consistent with."""
    return InputError(
        observations.path,
        exc.labels,
        f"no run of the model is consistent with this (0 of the {STREAM_BLOCK} lanes of stream "
        f"block {exc.block}, given the earlier facts): the model cannot produce the record; "
        "check the fact, or the scenario's parameters",
    )


def read_counts(out: Path, chunks: int, run_id: str) -> pd.DataFrame:
    """The conditioning counts of every chunk (each checked against the ledger), summed by item."""
    ledger = read_ledger(out)
    frames = [read_chunk(out, CONDITIONING, i, run_id, ledger).to_pandas() for i in range(chunks)]
    counts = pd.concat(frames)
    columns = [c for c in ("lanes", "consistent", "met", "sum", "square_sum") if c in counts]
    return counts.groupby("item", sort=False)[columns].sum()


def parameter_update(counts: pd.DataFrame) -> list[dict[str, Any]]:
    """Per parameter drawn from a posterior: its mean and sd over the runs as drawn and as kept
    by the conditioning (what the record did to the draws)."""
    out = []
    for item in counts.index:
        if not item.startswith("drawn:"):
            continue
        name = item.removeprefix("drawn:")
        entry: dict[str, Any] = {"parameter": name}
        for stage in ("drawn", "kept"):
            row = counts.loc[f"{stage}:{name}"]
            mean = float(row["sum"]) / FIXED_POINT / float(row["lanes"])
            square = float(row["square_sum"]) / FIXED_POINT / float(row["lanes"])
            entry[f"{stage}_mean"] = mean
            entry[f"{stage}_sd"] = math.sqrt(max(square - mean * mean, 0.0))
        out.append(entry)
    return out


def conditioning_record(
    out: Path, manifest: BatchManifest, conditions: tuple[Condition, ...]
) -> dict[str, Any]:
    """Each fact's share of consistent lanes, the record's log-likelihood and the ESS."""
    runs = manifest.runs
    if not conditions:  # nothing known by --as-of: a plain batch
        return {
            "facts": [],
            "months": [],
            "log_likelihood": 0.0,
            "ess": float(runs),
            "ess_share": 1.0,
            "distinct_ancestors": runs,
            "parameters": [],
        }
    counts = read_counts(out, manifest.chunks, str(manifest.run_id))
    facts = []
    for k, condition in enumerate(conditions):
        row = counts.loc[f"fact:{k}"]
        facts.append(
            {
                "label": condition.label,
                "treatment": "imposed" if condition.impose else "conditioned",
                "consistent_share": float(row["consistent"] / row["lanes"]),
                "met_share": float(row["met"] / row["lanes"]),
            }
        )
    months = sorted({c.month for c in conditions})
    by_month = []
    log_likelihood = 0.0
    for t in months:
        row = counts.loc[f"month:{t}"]
        met = float(row["met"] / row["lanes"])
        log_likelihood += math.log(met) if met > 0 else -math.inf
        by_month.append(
            {
                "month": t,
                "date": month_label(parse_month(manifest.scenario.start), t),
                "consistent_share": float(row["consistent"] / row["lanes"]),
                "met_share": met,
            }
        )
    sum_squares = float(counts.loc["ancestry", "consistent"])
    ess = runs * runs / sum_squares if sum_squares else float(runs)
    return {
        "facts": facts,
        "months": by_month,
        "log_likelihood": log_likelihood,
        "ess": ess,
        "ess_share": ess / runs,
        "distinct_ancestors": int(counts.loc["ancestry", "met"]),
        "parameters": parameter_update(counts),
    }
