"""Backtests that start from the record: condition on the facts up to an origin, score the rest.

`forecast_at_origin` writes the scenario as known at the origin (later events dropped, history
ending there) beside the backtest, runs `alliance forecast` on it conditioned on every fact
dated up to the origin, and reads off each later fact's forecast probability. `backtest_origins`
does this for several origins (a rolling-origin backtest) and tabulates and draws the skill by
origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.intervals import proportion_interval
from sim.batch.jobs import DEFAULTS, Files, RunDir, RunOptions
from sim.batch.manifests import MANIFEST, FileRef, OriginsManifest
from sim.batch.posterior import load_posterior
from sim.batch.results import BatchResults, summarize
from sim.batch.store import now, versions
from sim.batch.tasks import check_run_arguments
from sim.experiments.forecast import ForecastPlan, forecast, plan_forecast
from sim.experiments.observations import Fact, load_observations
from sim.experiments.scoring import FORECASTERS, REFERENCES, SCORES, comparisons, skill
from sim.model.errors import InputError
from sim.model.origin import at_origin, origin_month, origin_yaml
from sim.model.scenario import Scenario, load_scenario
from sim.model.stages import LATER_STAGES
from sim.plots.backtests import skill_by_origin
from sim.plots.style import save_figure

ORIGIN_SCENARIO = "scenario-at-origin.yaml"
FORECAST_DIR = "forecast"


@dataclass
class OriginForecast:
    """A conditioned forecast at an origin and the facts after it that it forecasts."""

    origin: str
    scenario: Scenario
    scored: list[Fact]
    p: np.ndarray
    low: np.ndarray
    high: np.ndarray
    conditioning: dict[str, Any]
    record: dict[str, Any]
    curves: pd.Series  # P(reached) by (member name, stage name, month) under the conditioning


def reached_probabilities(curves: pd.Series, queries: list[Fact]) -> np.ndarray:
    """The probability, read off a forecast's curves, that each query's member had reached its
    stage by its month (any month of the forecast, not only a scored fact's)."""
    return np.array([curves[(f.member_name, LATER_STAGES[f.stage - 1], f.month)] for f in queries])


@dataclass
class OriginPlan:
    """A checked forecast at an origin: the full scenario, the origin month, the facts after
    it, and the forecast planned on the facts up to it."""

    full: Scenario
    month: int
    observations_path: Path
    scored: list[Fact]
    forecast: ForecastPlan
    posterior: Path | None


def facts_after(scenario: Scenario, observations_path: Path, origin: int) -> list[Fact]:
    """The observations file's facts dated after the origin month."""
    return [f for f in load_observations(observations_path, scenario).facts if f.month > origin]


def plan_origin(
    full: Scenario,
    observations_path: Path,
    origin: str,
    runs: int,
    seed: int,
    reached_in: str = "impose",
    posterior: Path | None = None,
) -> OriginPlan:
    """Check a conditioned forecast at `origin` before anything is written: a fact to score
    after it, the treatment of `reached_in` facts, and facts some run can meet."""
    month = origin_month(full, origin)
    scored = facts_after(full, observations_path, month)
    if not scored:
        raise InputError("--origin", origin, "no fact is dated after it; nothing to score")
    as_of = full.month_label(month)
    plan = plan_forecast(
        at_origin(full, origin), observations_path, runs, seed, as_of, reached_in, None, posterior,
        runs_per_draw=1,  # scored: the mixture only, every run its own draw
    )  # fmt: skip
    return OriginPlan(full, month, Path(observations_path), scored, plan, posterior)


def forecast_at_origin(plan: OriginPlan, run: Files, options: RunOptions) -> OriginForecast:
    """Condition on the facts up to the origin (in `run`'s FORECAST_DIR, beside the scenario as
    known then); each later fact's probability, its 95% interval (Clopper-Pearson, with the
    effective sample size as n) and the conditioning record."""
    full, month = plan.full, plan.month
    file = run.write_bytes(ORIGIN_SCENARIO, origin_yaml(full, month))
    out = run.path(FORECAST_DIR)
    again = options.resume and (out / MANIFEST).is_file()
    summaries: list[BatchResults] = []
    spec = plan.forecast.record
    done = forecast(
        file, plan.observations_path, out, plan.forecast.runs, seed=plan.forecast.seed,
        as_of=spec["as_of"], reached_in=spec["reached_in"],
        options=replace(options, resume=again, force=not again), plan=plan.forecast,
        posterior=plan.posterior, then=lambda batch, _: summaries.append(summarize(batch.out)[0]),
    )  # fmt: skip
    if done.conditioning is None:  # stopped part-way (Ctrl-C): the backtest is not scored
        raise KeyboardInterrupt
    results = summaries[0]
    curves = results.curves.set_index(["member", "stage", "month"])["probability"]
    scored = plan.scored
    p = reached_probabilities(curves, scored)
    ess = done.conditioning["ess"]  # copies of one run share its past: n is the ESS, not N
    low, high = proportion_interval(p * ess, np.full(p.shape, ess))
    record = done.batch.manifest.forecast or {}
    return OriginForecast(
        full.month_label(month), results.scenario, scored, p, low, high, done.conditioning, record,
        curves,
    )  # fmt: skip


@dataclass
class RollingBacktest:
    """Per origin: the scored events, the scores, the skill table and the figure."""

    events: pd.DataFrame
    scores: pd.DataFrame
    skill: pd.DataFrame
    figure: Path


def backtest_origins(
    scenario_path: Path,
    observations_path: Path,
    out: Path,
    origins: list[str],
    options: RunOptions = DEFAULTS,
    **settings: Any,
) -> RollingBacktest:
    """One conditioned backtest per origin (each in OUT/origins/<origin>/, with the backtest
    `settings`), and skill by origin."""
    from sim.experiments.backtest import backtest

    if not origins:
        raise InputError("--origins", "", "expected comma-separated months YYYY-MM")
    check_run_arguments(runs=settings.get("runs"), seed=settings.get("seed"))
    full = load_scenario(scenario_path)
    observations = load_observations(observations_path, full)
    months = [origin_month(full, origin) for origin in origins]
    for i, month in enumerate(months):
        if month in months[:i]:
            first = origins[months.index(month)]
            raise InputError(
                "--origins", origins[i], f"is the month of {first} again; expected each origin once"
            )
    condition = settings.get("condition", True)
    draws = None
    if settings.get("posterior") is not None:
        draws = load_posterior(settings["posterior"], full)
        if condition:
            draws.refuse_double_counting("--posterior")
    manifest = OriginsManifest(
        posterior=draws.describe() if draws else None,
        scenario=FileRef(name=full.name, path=str(scenario_path), hash=full.content_hash),
        observations=FileRef(path=str(observations_path), hash=observations.content_hash),
        origins=origins,
        runs=settings.get("runs", 10_000),
        seed=settings.get("seed", 0),
        condition=condition,
        reached_in=settings.get("reached_in", "impose"),
        versions=versions(),
        started=now(),
    )
    fmt = settings.get("fmt", "png")
    events, scores, skipped = [], [], []
    with RunDir(out, manifest, options) as run:
        for origin, month in zip(origins, months, strict=True):
            if not any(f.month > month for f in observations.facts):
                skipped.append(origin)
                continue
            folder = run.path(f"origins/{origin}")
            again = options.resume and (folder / MANIFEST).is_file()
            inner = replace(options, resume=again, force=False)
            one = backtest(
                scenario_path, observations_path, folder, origin=origin, options=inner, **settings
            )
            events.append(one.events.assign(origin=origin))
            scores.append(one.scores.assign(origin=origin))
        if not events:
            raise InputError("--origins", ",".join(origins), "no fact is dated after any origin")
        events_table = pd.concat(events, ignore_index=True)
        scores_table = pd.concat(scores, ignore_index=True)
        skill = skill_table(scores_table, origins)
        for name, table in (("events", events_table), ("scores", scores_table), ("skill", skill)):
            run.write_table(name, table)
        run.write_json(
            "summary.json", {"origins": origins, "skipped": skipped, "skill": _records(skill)}
        )
        title = f"{full.name}: skill by forecast origin (conditioned on the facts up to each)"
        path = run.path(f"figures/skill-by-origin.{fmt}")
        figure = save_figure(skill_by_origin(skill, title), path, fmt)
    return RollingBacktest(events_table, scores_table, skill, figure)


def origin_totals(scores: pd.DataFrame) -> pd.DataFrame:
    """Every forecaster's scores over all the facts after each origin (the rows of scores.csv
    with member and period `all`)."""
    return scores[(scores["member"] == "all") & (scores["period"] == "all")]


def versus_by_origin(scores: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The model against each reference at each origin ("From ORIGIN"): scores, skill, verdict."""
    return {
        f"From {origin}": comparisons(group)
        for origin, group in origin_totals(scores).groupby("origin", sort=False)
    }


def unscored(scores: pd.DataFrame, origins: list[str]) -> list[str]:
    """The origins with no fact after them."""
    return [o for o in origins if o not in set(origin_totals(scores)["origin"].astype(str))]


def skill_table(scores: pd.DataFrame, origins: list[str]) -> pd.DataFrame:
    """Per origin and forecaster: events, Brier and log scores of the facts after the origin,
    and the model's skill against each reference (1 - score / reference); origins with no later
    fact get a row of NaN."""
    total = origin_totals(scores)
    rows = []
    for origin in origins:
        mine = total[total["origin"] == origin].set_index("forecaster")
        row: dict[str, Any] = {"origin": origin, "events": 0}
        if len(mine):
            row["events"] = int(mine["events"].max())
        for forecaster in FORECASTERS:
            for score in SCORES:
                value = mine.loc[forecaster, score] if forecaster in mine.index else math.nan
                row[f"{score}_{forecaster}"] = float(value)
        for ref in REFERENCES:
            for score in SCORES:
                row[f"{score}_skill_vs_{ref}"] = skill(row[f"{score}_model"], row[f"{score}_{ref}"])
        rows.append(row)
    return pd.DataFrame(rows)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict(orient="records")
