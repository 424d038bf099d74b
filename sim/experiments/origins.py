"""Backtests that start from the record: condition on the facts up to an origin, score the rest.

`forecast_at_origin` writes the scenario as known at the origin (later events dropped, history
ending there) beside the backtest, runs `alliance forecast` on it conditioned on every fact
dated up to the origin, and reads off each later fact's forecast probability. `backtest_origins`
does this for several origins (a rolling-origin backtest) and tabulates and draws the skill by
origin.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.batch.intervals import proportion_interval
from sim.batch.posterior import load_posterior
from sim.batch.results import summarize
from sim.batch.store import finish, now, prepare_output, versions, write_bytes_atomic
from sim.experiments.forecast import forecast
from sim.experiments.observations import Fact, load_observations
from sim.experiments.scoring import FORECASTERS, REFERENCES, SCORES, skill
from sim.experiments.sweep import write_table
from sim.model.errors import InputError
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


def origin_scenario_file(scenario: Scenario, origin: int, target: Path) -> Path:
    """Write the scenario as known at month `origin`: its later events dropped, its replayed
    history ending there (`sim.experiments.backtest.with_origin`, as a file a batch can copy)."""
    data = yaml.safe_load(Path(scenario.path).read_text(encoding="utf-8"))
    data["events"] = [
        e for e in data.get("events") or [] if scenario.month_of(str(e["date"])) <= origin
    ]
    data["calendar"]["history_end"] = scenario.month_label(origin)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    write_bytes_atomic(target, text.encode("utf-8"))
    return target


def facts_after(scenario: Scenario, observations_path: Path, origin: int) -> list[Fact]:
    """The observations file's facts dated after the origin month."""
    return [f for f in load_observations(observations_path, scenario).facts if f.month > origin]


def forecast_at_origin(
    scenario_path: Path,
    observations_path: Path,
    origin: str,
    folder: Path,
    *,
    runs: int,
    seed: int,
    reached_in: str = "impose",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    posterior: Path | None = None,
) -> OriginForecast:
    """Condition on the facts up to `origin`; each later fact's probability, its 95% interval
    (Clopper-Pearson, with the effective sample size as n) and the conditioning record. With
    `posterior`, each run draws its parameters from it and keeps them when resampled."""
    from sim.experiments.backtest import with_origin

    full = load_scenario(scenario_path)
    month = with_origin(full, origin).history_end
    scored = facts_after(full, observations_path, month)
    if not scored:
        raise InputError("--origin", origin, "no fact is dated after it; nothing to score")
    file = origin_scenario_file(full, month, Path(folder) / ORIGIN_SCENARIO)
    out = Path(folder) / FORECAST_DIR
    again = resume and (out / "manifest.json").is_file()
    done = forecast(
        file, observations_path, out, runs, seed=seed, as_of=full.month_label(month),
        reached_in=reached_in, workers=workers, scheduler=scheduler, resume=again,
        force=not again, posterior=posterior, runs_per_draw=1,  # scored: the mixture only
    )  # fmt: skip
    results, _ = summarize(out)
    curves = results.curves.set_index(["member", "stage", "month"])["probability"]
    p = np.array([curves[(f.member_name, LATER_STAGES[f.stage - 1], f.month)] for f in scored])
    ess = done.conditioning["ess"]  # copies of one run share its past: n is the ESS, not N
    low, high = proportion_interval(p * ess, np.full(p.shape, ess))
    record = done.batch.manifest["forecast"]
    return OriginForecast(
        full.month_label(month), results.scenario, scored, p, low, high, done.conditioning, record
    )


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
    **run: Any,
) -> RollingBacktest:
    """One conditioned backtest per origin (each in OUT/origins/<origin>/), and skill by origin."""
    from sim.experiments.backtest import OWNED, backtest, with_origin

    if not origins:
        raise InputError("--origins", "", "expected comma-separated months YYYY-MM")
    full = load_scenario(scenario_path)
    observations = load_observations(observations_path, full)
    months = [with_origin(full, origin).history_end for origin in origins]
    for i, month in enumerate(months):
        if month in months[:i]:
            first = origins[months.index(month)]
            raise InputError(
                "--origins", origins[i], f"is the month of {first} again; expected each origin once"
            )
    draws = None
    if run.get("posterior") is not None:
        draws = load_posterior(run["posterior"], full)
        if run.get("condition", True):
            draws.refuse_double_counting("--posterior")
    manifest = {
        **({"posterior": draws.describe()} if draws else {}),
        "kind": "backtest-origins",
        "scenario": {"name": full.name, "path": str(scenario_path), "hash": full.content_hash},
        "observations": {"path": str(observations_path), "hash": observations.content_hash},
        "origins": origins,
        **{k: run.get(k) for k in ("runs", "seed", "condition", "reached_in")},
        "versions": versions(),
        "started": now(),
        "finished": None,
    }
    compare = (
        "scenario.hash", "observations.hash", "origins", "runs", "seed", "condition",
        "posterior.hash",
    )  # fmt: skip
    manifest = prepare_output(
        Path(out), manifest, force=run.pop("force", False), resume=run.get("resume", False),
        compare=compare, owned=OWNED,
    )  # fmt: skip
    resume = run.pop("resume", False)
    fmt = run.get("fmt", "png")
    events, scores, skipped = [], [], []
    for origin, month in zip(origins, months, strict=True):
        if not any(f.month > month for f in observations.facts):
            skipped.append(origin)
            continue
        folder = Path(out) / "origins" / origin
        again = resume and (folder / "manifest.json").is_file()
        one = backtest(scenario_path, observations_path, folder, origin=origin, resume=again, **run)
        events.append(one.events.assign(origin=origin))
        scores.append(one.scores.assign(origin=origin))
    if not events:
        raise InputError("--origins", ",".join(origins), "no fact is dated after any origin")
    events_table = pd.concat(events, ignore_index=True)
    scores_table = pd.concat(scores, ignore_index=True)
    skill = skill_table(scores_table, origins)
    for name, table in (("events", events_table), ("scores", scores_table), ("skill", skill)):
        write_table(Path(out), name, table)
    summary = {"origins": origins, "skipped": skipped, "skill": _records(skill)}
    write_bytes_atomic(Path(out) / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    title = f"{full.name}: skill by forecast origin (conditioned on the facts up to each)"
    path = Path(out) / "figures" / f"skill-by-origin.{fmt}"
    figure = save_figure(skill_by_origin(skill, title), path, fmt)
    finish(Path(out), manifest)
    return RollingBacktest(events_table, scores_table, skill, figure)


def skill_table(scores: pd.DataFrame, origins: list[str]) -> pd.DataFrame:
    """Per origin and forecaster: events, Brier and log scores of the facts after the origin,
    and the model's skill against each reference (1 - score / reference); origins with no later
    fact get a row of NaN."""
    total = scores[(scores["member"] == "all") & (scores["period"] == "all")]
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
