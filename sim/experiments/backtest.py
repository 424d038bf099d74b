"""`alliance backtest`: score a scenario's forecasts against observed facts.

Each fact becomes a binary event, "member X had reached stage S by month M" (1 for `reached_in`
and `reached_by` facts, 0 for `not_reached_by`). The model's forecast is its Monte Carlo
probability of that event; four reference forecasts stand beside it: a constant base rate
(command line or observations file), 50/50, and the field's event-history logit
(`sim.experiments.logit`) and its split-population (cure) variant (`sim.experiments.cure`), both
fitted on a case library's other cases (`logit_cases`, by default the shipped
`calibrate_history`; cases on this scenario are left out). Scores (`sim.experiments.
scoring`): Brier and log scores (lower is better, 0 perfect), calibration intercept and slope,
the model's skill against every reference, and, over all facts, each forecaster's AUC of the
members that reached a stage against those that did not at the stage's common horizon
(`horizon.csv`: every member's probability of having reached it by the latest month a scored
fact on it is dated, `sim.experiments.scoring.horizon_outcomes`).
With `origin`, the scenario's events after that month are dropped and its history ends there: the
forecast is what the model would have said at the origin, and facts after it are out of sample.
With `condition` (the default) the forecast also starts from the record: its runs are
conditioned on every fact dated up to the origin (`alliance forecast`, sim.experiments.origins),
and only the facts after the origin are scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.jobs import DEFAULTS, RunDir, RunOptions
from sim.batch.manifests import BacktestManifest, FileRef
from sim.batch.outcomes import Outcome, interval
from sim.batch.pointruns import PointJob, plan_chunks, run_points
from sim.batch.posterior import load_posterior, record_id
from sim.batch.store import now, versions
from sim.batch.tasks import check_run_arguments
from sim.experiments.cases import Case, load_cases
from sim.experiments.experiment import Experiment, load_experiment
from sim.experiments.logit import Hazards, forecast
from sim.experiments.observations import Fact, Observations, load_observations
from sim.experiments.origins import forecast_at_origin, plan_origin, reached_probabilities
from sim.experiments.references import reference_fits, reference_table
from sim.experiments.scoring import add_skill, comparisons, horizon_outcomes, score_rows
from sim.model.errors import InputError
from sim.model.months import parse_month
from sim.model.origin import at_origin
from sim.model.scenario import Scenario, load_scenario
from sim.model.stages import STAGES
from sim.plots.reliability import reliability_figure

FORMATS = ("png", "svg", "pdf")
SCORE_KEYS = ["period", "member", "stage"]
DEFAULT_LOGIT_CASES = "calibrate_history"


@dataclass
class Backtest:
    """The scored events, the score table and where the reliability figure went."""

    events: pd.DataFrame
    scores: pd.DataFrame
    figure: Path
    in_sample: str | None = None  # why the scores are not out of sample, where they are not
    summary: dict[str, Any] = field(default_factory=dict)  # totals, skill and verdicts
    horizon: pd.DataFrame | None = None  # members' outcomes at each stage's common horizon


def backtest(
    scenario_path: Path,
    observations_path: Path,
    out: Path,
    *,
    runs: int = 10_000,
    seed: int = 0,
    base_rate: float | None = None,
    origin: str | None = None,
    fmt: str = "png",
    condition: bool = True,
    reached_in: str = "impose",
    posterior: Path | None = None,
    logit_cases: Path | str = DEFAULT_LOGIT_CASES,
    options: RunOptions = DEFAULTS,
) -> Backtest:
    """Forecast every fact's event with `runs` replications and score it against what happened.

    With `condition`, the runs are conditioned on the facts up to the origin (default: the
    scenario's history_end), and the facts after it are scored. With `posterior`, each
    replication draws its parameters from that calibration's samples (conditioned runs keep
    their draws when resampled; a posterior fitted on this scenario's own case is refused for
    them, since it has seen the facts conditioned on). The logit reference is fitted on the
    cases of the experiment `logit_cases` that are not on this scenario. Every input is
    checked, and a conditioned forecast planned, before anything is written."""
    check_run_arguments(runs=runs, seed=seed)
    if fmt not in FORMATS:
        raise InputError("--format", fmt, f"expected one of {', '.join(FORMATS)}")
    if base_rate is not None and not 0.0 < base_rate < 1.0:
        raise InputError("--base-rate", str(base_rate), "expected a probability between 0 and 1")
    if origin is not None:
        try:
            parse_month(origin)
        except ValueError:
            raise InputError("--origin", origin, "expected a month as YYYY-MM") from None
    full = load_scenario(scenario_path)
    if condition and origin is None:
        origin = full.month_label(full.history_end)
    scenario = at_origin(full, origin) if origin is not None else full
    observations = load_observations(observations_path, scenario)
    logits = fit_reference_logits(logit_cases, scenario)
    recorded = observations.facts
    draws = load_posterior(posterior, scenario) if posterior is not None else None
    if draws is not None and condition:
        draws.refuse_double_counting("--posterior")
    plan = None
    if condition and origin is not None:
        plan = plan_origin(full, observations_path, origin, runs, seed, reached_in, posterior)
    chunks = plan_chunks(1, runs)
    manifest = BacktestManifest(
        posterior=draws.describe() if draws else None,
        scenario=FileRef(name=scenario.name, path=str(scenario_path), hash=scenario.content_hash),
        observations=FileRef(path=str(observations_path), hash=observations.content_hash),
        origin=scenario.month_label(scenario.history_end),
        condition=condition,
        reached_in=reached_in if condition else None,
        runs=runs,
        seed=seed,
        chunks=len(chunks),
        versions=versions(),
        started=now(),
    )
    with RunDir(out, manifest, options) as run:
        conditioning = None
        if plan is not None:
            known = forecast_at_origin(plan, run, options)
            observations = replace(observations, facts=known.scored)
            p, low, high = known.p, known.low, known.high
            at_horizon = horizon_queries(observations.facts, scenario)
            p_horizon = reached_probabilities(known.curves, at_horizon)
            conditioning = {"forecast": known.record, "conditioning": known.conditioning}
        else:
            at_horizon = horizon_queries(observations.facts, scenario)
            measures = [
                Outcome("reach_stage", fact.label, fact.month, fact.member, fact.stage)
                for fact in [*observations.facts, *at_horizon]
            ]
            job = PointJob(scenario, seed, [], np.zeros((1, 0)), {}, measures, draws)
            tally = run_points(job, run.out, "tally", chunks, options, "backtest")
            p, low, high = interval(True, tally.n[0], tally.total[0], tally.total_sq[0])
            facts = len(observations.facts)
            p, low, high, p_horizon = p[:facts], low[:facts], high[:facts], p[facts:]
        p_logits = {
            name: logit_forecasts(fit, scenario, observations.facts, recorded, condition)
            for name, fit in logits.items()
        }
        events = events_table(observations, scenario, p, low, high, runs, base_rate, p_logits)
        horizon = horizon_table(
            observations, at_horizon, p_horizon, base_rate,
            {n: logit_forecasts(f, scenario, at_horizon, recorded, condition)
             for n, f in logits.items()},
        )  # fmt: skip
        scores = score_events(events, horizon)
        run.write_table("events", events)
        run.write_table("horizon", horizon)
        run.write_table("scores", scores)
        run.write_table("logit", reference_table(logits))
        summary = summarise(scores)
        summary["logit"] = {"cases": list(logits["logit"].cases), "method": logits["logit"].method}
        cure = logits["cure_logit"]
        summary["cure_logit"] = {"method": cure.method, "cured_share": cure.cured_share}
        if conditioning is not None:
            summary["conditioned_on"] = conditioning
        in_sample = None
        if draws is not None and draws.own_cases:
            in_sample = (
                f"in sample: the posterior {draws.directory} was fitted on case "
                f"{draws.own_cases[0]!r} of this scenario, whose facts these may be"
            )
            summary["in_sample"] = in_sample
        run.write_json("summary.json", summary)
        figure = reliability_figure(events, run.path(f"figures/reliability.{fmt}"), fmt)
    return Backtest(events, scores, figure, in_sample, summary, horizon)


def horizon_queries(scored: list[Fact], scenario: Scenario) -> list[Fact]:
    """ "Had the member reached the stage by the stage's common horizon?", per member with an
    outcome there (`horizon_outcomes`), as a fact whose kind says what happened."""
    return [
        Fact(-1, member, name, stage, "reached_by" if outcome else "not_reached_by", month,
             scenario.month_label(month), "the common horizon of the scored facts on the stage")
        for member, name, stage, month, outcome in horizon_outcomes(scored)
    ]  # fmt: skip


def horizon_table(
    observations: Observations,
    queries: list[Fact],
    p_model: np.ndarray,
    base_rate: float | None,
    p_logits: dict[str, np.ndarray],
) -> pd.DataFrame:
    """One row per member and stage at the stage's common horizon: the outcome and each
    forecaster's probability of the member having reached the stage by then."""
    rows = []
    for j, query in enumerate(queries):
        rate = observations.base_rate(query.stage, base_rate)
        rows.append(
            {
                "member": query.member_name,
                "stage": STAGES[query.stage],
                "month": query.month,
                "date": query.date,
                "outcome": query.occurred,
                "p_model": float(p_model[j]),
                "p_base_rate": np.nan if rate is None else float(rate),
                "p_fifty_fifty": 0.5,
                **{f"p_{name}": float(q[j]) for name, q in p_logits.items()},
            }
        )
    columns = ["member", "stage", "month", "date", "outcome", "p_model", "p_base_rate"]
    return pd.DataFrame(rows, columns=[*columns, "p_fifty_fifty", *(f"p_{n}" for n in p_logits)])


def events_table(
    observations: Observations,
    scenario: Scenario,
    p: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    runs: int,
    base_rate: float | None,
    p_logits: dict[str, np.ndarray],
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
                **{f"p_{name}": float(q[j]) for name, q in p_logits.items()},
                "runs": runs,
                "source": fact.source,
            }
        )
    return pd.DataFrame(rows)


def score_events(events: pd.DataFrame, horizon: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every forecaster's scores per member and stage, and in total (all facts, and per period),
    with each forecaster's skill against every reference (`sim.experiments.scoring`); the AUC
    over all members at the common horizon (`horizon`) in the total row only (one member's, or
    one period's, is not a ranking of members)."""
    rows = []
    for (m, st), g in events.groupby(["member", "stage"], sort=False):
        rows += score_rows(g, None, {"period": "all", "member": m, "stage": st})
    rows += score_rows(events, horizon, {"period": "all", "member": "all", "stage": "all"})
    for period, g in events.groupby("period", sort=False):
        if g.shape[0] < events.shape[0]:
            rows += score_rows(g, None, {"period": str(period), "member": "all", "stage": "all"})
    return add_skill(pd.DataFrame(rows), SCORE_KEYS)


def summarise(scores: pd.DataFrame) -> dict[str, Any]:
    """Totals per forecaster and the model against each reference: skill and verdict."""
    total = scores[(scores["member"] == "all") & (scores["period"] == "all")]
    by = {
        row.forecaster: {
            k: None if getattr(row, k) != getattr(row, k) else float(getattr(row, k))
            for k in ("brier", "log_score", "auc_withdrawn", "calibration_intercept",
                      "calibration_slope")
        }
        for row in total.itertuples()
    }  # fmt: skip
    versus = comparisons(total)
    skill = {ref: {k: v["skill"] for k, v in entry.items()} for ref, entry in versus.items()}
    return {
        "events": int(total["events"].max()),
        "totals": by,
        "skill_vs": skill,
        "versus": versus,
    }


def fit_reference_logits(logit_cases: Path | str, scenario: Scenario) -> dict[str, Hazards]:
    """The logit and its cure variant fitted on the experiment's cases that are not on this
    scenario (by name or content), so that they never see the record they are scored on;
    fitted once per process for the same experiment and scenario (rolling origins ask for them
    at every origin)."""
    experiment = load_experiment(logit_cases)
    if experiment.spec.cases is None:
        raise InputError("--logit-cases", str(logit_cases), "expected an experiment with `cases`")
    key = (
        experiment.path, experiment.content_hash, scenario.name, _own_hash(scenario),
        record_id(scenario),
    )  # fmt: skip
    return _fitted(key)


def _own_hash(scenario: Scenario) -> str:
    return scenario.content_hash.split("@")[0]  # a scenario cut at an origin: its file's hash


@lru_cache(maxsize=8)
def _fitted(key: tuple[str, str, str, str, str]) -> dict[str, Hazards]:
    path, _, name, own, record = key
    cases = _other_cases(load_experiment(path), name, own, record)
    if not cases:
        raise InputError("--logit-cases", path, "no case left once this scenario's are set aside")
    return reference_fits(cases)


def _other_cases(experiment: Experiment, name: str, own: str, record: str) -> list[Case]:
    return [
        c
        for c in load_cases(experiment, None)
        if c.scenario.name != name
        and c.scenario.content_hash != own
        and record_id(c.scenario) != record  # a renamed, edited copy of the record
    ]


def logit_forecasts(
    logit: Hazards, scenario: Scenario, scored: list[Fact], known: list[Fact], condition: bool
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
