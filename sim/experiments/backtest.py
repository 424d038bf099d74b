"""`alliance backtest`: score a scenario's forecasts against observed facts.

Each fact becomes a binary event, "member X had reached stage S by month M" (1 for `reached_in`
and `reached_by` facts, 0 for `not_reached_by`). The model's forecast is its Monte Carlo
probability of that event; three reference forecasts stand beside it: a constant base rate
(command line or observations file), 50/50, and the field's event-history logit
(`sim.experiments.logit`) fitted on a case library's other cases (`logit_cases`, by default the
shipped `calibrate_history`; cases on this scenario are left out). Scores (`sim.experiments.
scoring`): Brier and log scores (lower is better, 0 perfect), calibration intercept and slope,
and the model's skill against every reference.
With `origin`, the scenario's events after that month are dropped and its history ends there: the
forecast is what the model would have said at the origin, and facts after it are out of sample.
With `condition` (the default) the forecast also starts from the record: its runs are
conditioned on every fact dated up to the origin (`alliance forecast`, sim.experiments.origins),
and only the facts after the origin are scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.outcomes import Outcome, interval
from sim.batch.pointruns import PointJob, plan_chunks, run_points
from sim.batch.posterior import load_posterior
from sim.batch.store import finish, now, prepare_output, versions, write_bytes_atomic
from sim.batch.tasks import check_run_count
from sim.experiments.cases import Case, load_cases
from sim.experiments.experiment import load_experiment
from sim.experiments.logit import LogitFit, fit_logit, forecast
from sim.experiments.observations import Fact, Observations, load_observations
from sim.experiments.origins import forecast_at_origin
from sim.experiments.scoring import add_skill, comparisons, score_rows
from sim.experiments.sweep import write_table
from sim.model.errors import InputError
from sim.model.months import parse_month
from sim.model.scenario import Scenario, compile_scenario, load_scenario
from sim.model.stages import STAGES
from sim.plots.reliability import reliability_figure

FORMATS = ("png", "svg", "pdf")
SCORE_KEYS = ["period", "member", "stage"]
DEFAULT_LOGIT_CASES = "calibrate_history"
OWNED = (
    "logit.csv",
    "logit.parquet",
    "events.csv",
    "events.parquet",
    "scores.csv",
    "scores.parquet",
    "summary.json",
    "figures",
    "forecast",
    "scenario-at-origin.yaml",
    "origins",
    "skill.csv",
    "skill.parquet",
)


@dataclass
class Backtest:
    """The scored events, the score table and where the reliability figure went."""

    events: pd.DataFrame
    scores: pd.DataFrame
    figure: Path
    in_sample: str | None = None  # why the scores are not out of sample, where they are not
    summary: dict[str, Any] = field(default_factory=dict)  # totals, skill and verdicts


def with_origin(scenario: Scenario, origin: str) -> Scenario:
    """The scenario as known at `origin` (YYYY-MM): later events dropped, history ending there."""
    t = scenario.month_of(origin)
    if not 0 <= t < scenario.months:
        first, last = scenario.month_label(0), scenario.month_label(scenario.months - 1)
        raise InputError("--origin", origin, f"expected a month from {first} to {last}")
    spec = scenario.spec
    events = [e for e in spec.events if scenario.month_of(e.date) <= t]
    calendar = spec.calendar.model_copy(update={"history_end": scenario.month_label(t)})
    truncated = spec.model_copy(update={"events": events, "calendar": calendar})
    return compile_scenario(truncated, scenario.path, f"{scenario.content_hash}@{origin}")


def backtest(
    scenario_path: Path,
    observations_path: Path,
    out: Path,
    *,
    runs: int = 10_000,
    seed: int = 0,
    base_rate: float | None = None,
    origin: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    resume: bool = False,
    fmt: str = "png",
    show_progress: bool = True,
    condition: bool = True,
    reached_in: str = "impose",
    posterior: Path | None = None,
    logit_cases: Path | str = DEFAULT_LOGIT_CASES,
) -> Backtest:
    """Forecast every fact's event with `runs` replications and score it against what happened.

    With `condition`, the runs are conditioned on the facts up to the origin (default: the
    scenario's history_end), and the facts after it are scored. With `posterior`, each
    replication draws its parameters from that calibration's samples (conditioned runs keep
    their draws when resampled; a posterior fitted on this scenario's own case is refused for
    them, since it has seen the facts conditioned on). The logit reference is fitted on the
    cases of the experiment `logit_cases` that are not on this scenario."""
    check_run_count(runs, "--runs", str(runs))
    if fmt not in FORMATS:
        raise InputError("--format", fmt, f"expected one of {', '.join(FORMATS)}")
    if base_rate is not None and not 0.0 < base_rate < 1.0:
        raise InputError("--base-rate", str(base_rate), "expected a probability between 0 and 1")
    if origin is not None:
        try:
            parse_month(origin)
        except ValueError:
            raise InputError("--origin", origin, "expected a month as YYYY-MM") from None
    scenario = load_scenario(scenario_path)
    if condition and origin is None:
        origin = scenario.month_label(scenario.history_end)
    if origin is not None:
        scenario = with_origin(scenario, origin)
    observations = load_observations(observations_path, scenario)
    logit = fit_reference_logit(logit_cases, scenario)
    recorded = observations.facts
    measures = [
        Outcome("reach_stage", fact.label, fact.month, fact.member, fact.stage)
        for fact in observations.facts
    ]
    chunks = plan_chunks(1, runs)
    draws = load_posterior(posterior, scenario) if posterior is not None else None
    if draws is not None and condition:
        draws.refuse_double_counting("--posterior")
    manifest = {
        **({"posterior": draws.describe()} if draws else {}),
        "kind": "backtest",
        "scenario": {
            "name": scenario.name,
            "path": str(scenario_path),
            "hash": scenario.content_hash,
        },
        "observations": {"path": str(observations_path), "hash": observations.content_hash},
        "origin": scenario.month_label(scenario.history_end),
        "condition": condition,
        "reached_in": reached_in if condition else None,
        "runs": runs,
        "seed": seed,
        "chunks": len(chunks),
        "versions": versions(),
        "started": now(),
        "finished": None,
    }
    compare = (
        "scenario.hash", "observations.hash", "origin", "condition", "reached_in", "runs",
        "seed", "chunks", "posterior.hash",
    )  # fmt: skip
    manifest = prepare_output(
        out, manifest, force=force, resume=resume, compare=compare, owned=OWNED
    )
    conditioning = None
    if condition:
        known = forecast_at_origin(
            scenario_path, observations_path, origin, out, runs=runs, seed=seed,
            reached_in=reached_in, workers=workers, scheduler=scheduler, resume=resume,
            posterior=posterior,
        )  # fmt: skip
        observations = replace(observations, facts=known.scored)
        p, low, high = known.p, known.low, known.high
        conditioning = {"forecast": known.record, "conditioning": known.conditioning}
    else:
        job = PointJob(scenario, seed, [], np.zeros((1, 0)), {}, measures, draws)
        tally = run_points(job, out, "tally", chunks, workers, "backtest", show_progress, scheduler)
        p, low, high = interval(True, tally.n[0], tally.total[0], tally.total_sq[0])
    p_logit = logit_forecasts(logit, scenario, observations.facts, recorded, condition)
    events = events_table(observations, scenario, p, low, high, runs, base_rate, p_logit)
    scores = score_events(events)
    write_table(out, "events", events)
    write_table(out, "scores", scores)
    write_table(out, "logit", logit.table())
    summary = summarise(scores)
    summary["logit"] = {"cases": logit_cases_used(logit_cases, scenario), "method": logit.method}
    if conditioning is not None:
        summary["conditioned_on"] = conditioning
    in_sample = None
    if draws is not None and draws.own_cases:
        in_sample = (
            f"in sample: the posterior {draws.directory} was fitted on case "
            f"{draws.own_cases[0]!r} of this scenario, whose facts these may be"
        )
        summary["in_sample"] = in_sample
    write_bytes_atomic(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    figure = reliability_figure(events, out / "figures" / f"reliability.{fmt}", fmt)
    finish(out, manifest)
    return Backtest(events, scores, figure, in_sample, summary)


def events_table(
    observations: Observations,
    scenario: Scenario,
    p: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    runs: int,
    base_rate: float | None,
    p_logit: np.ndarray,
) -> pd.DataFrame:
    """One row per fact: the event, what happened, and each forecaster's probability."""
    rows = []
    for j, fact in enumerate(observations.facts):
        rate = observations.base_rate(fact.stage, base_rate)
        rows.append(
            {
                "fact": fact.index,
                "member": fact.member_name,
                "stage": STAGES[fact.stage],
                "kind": fact.kind,
                "date": fact.date,
                "month": fact.month,
                "period": "history" if fact.month <= scenario.history_end else "forecast",
                "outcome": fact.occurred,
                "p_model": float(p[j]),
                "p_model_low": float(low[j]),
                "p_model_high": float(high[j]),
                "p_base_rate": np.nan if rate is None else float(rate),
                "p_fifty_fifty": 0.5,
                "p_logit": float(p_logit[j]),
                "runs": runs,
                "source": fact.source,
            }
        )
    return pd.DataFrame(rows)


def score_events(events: pd.DataFrame) -> pd.DataFrame:
    """Every forecaster's scores per member and stage, and in total (all facts, and per period),
    with each forecaster's skill against every reference (`sim.experiments.scoring`)."""
    rows = []
    for (m, st), g in events.groupby(["member", "stage"], sort=False):
        rows += score_rows(g, None, {"period": "all", "member": m, "stage": st})
    rows += score_rows(events, None, {"period": "all", "member": "all", "stage": "all"})
    for period, g in events.groupby("period", sort=False):
        if g.shape[0] < events.shape[0]:
            rows += score_rows(g, None, {"period": str(period), "member": "all", "stage": "all"})
    unscored = [c for c in rows[0] if c.startswith("auc_")] + ["leavers", "stayers"]
    frame = pd.DataFrame(rows).drop(columns=unscored)
    return add_skill(frame, SCORE_KEYS)


def summarise(scores: pd.DataFrame) -> dict[str, Any]:
    """Totals per forecaster and the model against each reference: skill and verdict."""
    total = scores[(scores["member"] == "all") & (scores["period"] == "all")]
    by = {
        row.forecaster: {"brier": row.brier, "log_score": row.log_score}
        for row in total.itertuples()
    }
    versus = comparisons(total)
    skill = {ref: {k: v["skill"] for k, v in entry.items()} for ref, entry in versus.items()}
    return {
        "events": int(total["events"].max()),
        "totals": by,
        "skill_vs": skill,
        "versus": versus,
    }


def fit_reference_logit(logit_cases: Path | str, scenario: Scenario) -> LogitFit:
    """The logit fitted on the experiment's cases that are not on this scenario (by name or
    content), so that it never sees the record it is scored on."""
    cases = _other_cases(logit_cases, scenario)
    if not cases:
        raise InputError(
            "--logit-cases", str(logit_cases), "no case left once this scenario's are set aside"
        )
    return fit_logit(cases)


def logit_cases_used(logit_cases: Path | str, scenario: Scenario) -> list[str]:
    return [c.name for c in _other_cases(logit_cases, scenario)]


def _other_cases(logit_cases: Path | str, scenario: Scenario) -> list[Case]:
    experiment = load_experiment(logit_cases)
    if experiment.spec.cases is None:
        raise InputError("--logit-cases", str(logit_cases), "expected an experiment with `cases`")
    cases = load_cases(experiment, None)
    own = scenario.content_hash.split("@")[0]
    return [c for c in cases if c.scenario.name != scenario.name and c.scenario.content_hash != own]


def logit_forecasts(
    logit: LogitFit, scenario: Scenario, scored: list[Fact], known: list[Fact], condition: bool
) -> np.ndarray:
    """The logit's probability of each scored fact's event; conditioned runs start each member's
    product after the last month the record (facts up to the origin) shows the stage not
    reached, and give 1 where it shows it reached."""
    queries, certain = [], []
    origin = scenario.history_end
    for fact in scored:
        before = [f for f in known if (f.member, f.stage) == (fact.member, fact.stage)]
        before = [f for f in before if f.month <= origin] if condition else []
        certain.append(any(f.occurred for f in before))
        after = max((f.month for f in before if not f.occurred), default=-1)
        queries.append((fact.member, fact.stage, fact.month, after))
    p = forecast(logit, scenario, queries)
    return np.where(certain, 1.0, p)
