"""`alliance crossval`: leave one case out, fit the others, forecast the held-out case, score it.

For each case of a pooled experiment: the shared parameters are calibrated on the other cases
(`sim.experiments.calibrate.fit_cases`, the experiment's settings); the held-out case is then run
from its start, with its own replayed events, `runs` times, each run drawing its parameters from
that fold's posterior (a parameter the held-out case declares for itself is drawn from its prior:
nothing was fitted for it). Every fact of the held-out case becomes a binary event, "member X had
reached stage S by the end of month M" (1 for `reached_in`/`reached_by`, 0 for
`not_reached_by`), forecast by four forecasters:

- `model`: the share of runs in which the event happened;
- `base_rate`: a constant hazard per member-month for each stage, fitted on the training cases'
  facts, (exits + 0.5) / (member-months at risk + 1), turned into P(reached by month M) =
  1 - (1 - rate)^(M + 1) (months counted from the case's start);
- `fifty_fifty`: 0.5;
- `logit`: the field's discrete-time event-history logit (`sim.experiments.logit`), fitted on the
  training cases' member-months, its hazards multiplied out to the fact's month.

Scores (`sim.experiments.scoring`): Brier and log scores (the model's probabilities kept within
the Monte Carlo floor for the log score), calibration intercept and slope, each forecaster's
skill against every reference, and the AUC of leavers against stayers at each case's common
horizon (`horizon.csv`: every member's probability of having withdrawn by the case's last
withdrawal fact), per case, per era and alliance size, and over all held-out facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.engines import Engine, make_engine
from sim.batch.lanes import simulate_chunk
from sim.batch.outcomes import reached_by
from sim.batch.posterior import CASE_SEP, PosteriorDraws
from sim.batch.store import finish, now, prepare_output, release, versions, write_json_atomic
from sim.batch.tasks import check_run_count
from sim.experiments.backtest import FORMATS
from sim.experiments.calibrate import check_settings, fit_cases
from sim.experiments.cases import Case, load_cases
from sim.experiments.crossval_scores import (
    base_rate_forecast,
    horizon_table,
    score_cases,
    summarise,
)
from sim.experiments.experiment import Experiment, experiment_error, load_experiment
from sim.experiments.logit import LogitFit, fit_logit, forecast, member_exposures
from sim.experiments.scoring import horizon_outcomes
from sim.experiments.sweep import input_files, write_table
from sim.model.errors import InputError
from sim.model.stages import LATER_STAGES
from sim.plots.reliability import reliability_figure

OWNED = (
    "events.csv", "events.parquet", "scores.csv", "scores.parquet", "base_rates.csv",
    "base_rates.parquet", "summary.json", "figures", "folds", "experiment.yaml", "scenario.yaml",
    "horizon.csv", "horizon.parquet", "logit.csv", "logit.parquet",
)  # fmt: skip
HELD_OUT = "heldout.parquet"
HORIZON = "horizon.parquet"
LANES_PER_TASK = 20_000


@dataclass
class CrossValidation:
    """The held-out events, their scores, the training base rates and logits, each member's
    outcome at its case's common horizon, and the reliability figure."""

    events: pd.DataFrame
    scores: pd.DataFrame
    base_rates: pd.DataFrame
    logits: pd.DataFrame
    horizon: pd.DataFrame
    summary: dict[str, Any]
    figure: Path


def crossval(
    experiment_path: Path,
    out: Path,
    *,
    runs: int = 2000,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    resume: bool = False,
    fmt: str = "png",
    show_progress: bool = True,
) -> CrossValidation:
    """Leave each case out in turn: fit on the rest, forecast it, score it against references."""
    if fmt not in FORMATS:
        raise InputError("--format", fmt, f"expected one of {', '.join(FORMATS)}")
    if runs < 1:
        raise InputError("--runs", str(runs), "expected a positive number of runs")
    experiment = load_experiment(experiment_path)
    if experiment.spec.cases is None or len(experiment.spec.cases) < 2:
        raise experiment_error(
            experiment, ("cases",), "cross-validation needs a `cases` list of at least 2 cases"
        )
    check_run_count(runs * len(experiment.spec.cases), "--runs", f"{runs} per held-out case")
    cases = load_cases(experiment, None)
    for k in range(len(cases)):
        check_settings(experiment, cases[:k] + cases[k + 1 :])
    manifest = {
        "kind": "crossval",
        "experiment": {"name": experiment.name, "path": experiment.path,
                       "hash": experiment.content_hash},
        "cases": [c.name for c in cases],
        "runs": runs,
        "seed": experiment.spec.seed,
        "versions": versions(),
        "started": now(),
        "finished": None,
    }  # fmt: skip
    compare = ("experiment.hash", "cases", "runs", "seed")
    manifest = prepare_output(
        out,
        manifest,
        force=force,
        resume=resume,
        compare=compare,
        owned=OWNED,
        inputs=input_files(experiment),
    )
    try:
        result = _folds(
            experiment, cases, out, runs, fmt, workers, scheduler, resume, show_progress
        )
    except BaseException:
        release(out)
        raise
    finish(out, manifest)
    return result


def _folds(
    experiment: Experiment,
    cases: list[Case],
    out: Path,
    runs: int,
    fmt: str,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    show_progress: bool,
) -> CrossValidation:
    """Every fold into the prepared, locked directory `out`; the tables and figure after."""
    engine = make_engine(workers, scheduler)
    frames, horizons, rates, logits = [], [], [], []
    try:
        for k, held in enumerate(cases):
            training = cases[:k] + cases[k + 1 :]
            fold = out / "folds" / held.name
            fold.mkdir(parents=True, exist_ok=True)
            base = base_rates(training)
            rates.append(base.assign(held_out=held.name))
            logit = fit_logit(training)
            logits.append(logit.table().assign(held_out=held.name))
            if resume and (fold / HELD_OUT).is_file() and (fold / HORIZON).is_file():
                frames.append(pd.read_parquet(fold / HELD_OUT))
                horizons.append(pd.read_parquet(fold / HORIZON))
                continue
            label = f"fold {k + 1}/{len(cases)} (without {held.name})"
            posterior = fit_cases(
                experiment, training, fold, engine, resume=resume, show=show_progress, label=label
            )
            shared = [j for j, n in enumerate(posterior.names) if CASE_SEP not in n]
            draws = PosteriorDraws(
                str(fold), "", experiment.name, tuple(c.name for c in training),
                tuple(posterior.names[j] for j in shared), posterior.samples[:, shared],
            )  # fmt: skip
            outcomes = horizon_outcomes(held.observations.facts)
            queries = [(f.member, f.stage, f.month) for f in held.observations.facts]
            queries += [(m, stage, month) for m, _, stage, month, _ in outcomes]
            p = forecast_case(experiment, held, draws, runs, engine, queries)
            events = events_table(held, p[: held.facts], base, runs, logit)
            horizon = horizon_table(held, outcomes, p[held.facts :], base, logit)
            write_table(fold, HORIZON.removesuffix(".parquet"), horizon)
            write_table(fold, HELD_OUT.removesuffix(".parquet"), events)
            frames.append(events)
            horizons.append(horizon)
    except BaseException:
        engine.abort()
        raise
    engine.close()
    events = pd.concat(frames, ignore_index=True)
    horizon = pd.concat(horizons, ignore_index=True)
    scores = score_cases(events, horizon, cases)
    base = pd.concat(rates, ignore_index=True)
    logit_table = pd.concat(logits, ignore_index=True)
    summary = summarise(scores, cases, runs)
    write_table(out, "events", events)
    write_table(out, "horizon", horizon)
    write_table(out, "scores", scores)
    write_table(out, "base_rates", base)
    write_table(out, "logit", logit_table)
    write_json_atomic(out / "summary.json", summary)
    figure = reliability_figure(events, out / "figures" / f"reliability.{fmt}", fmt)
    return CrossValidation(events, scores, base, logit_table, horizon, summary, figure)


def fact_exposures(case: Case) -> list[tuple[int, int, int]]:
    """(stage, reached 0/1, member-months at risk) per member and stage the case has facts on
    (`sim.experiments.logit.member_exposures`: months 0..m, so m + 1 months at risk)."""
    return [(stage, reached, last + 1) for _, stage, reached, last in member_exposures(case)]


def base_rates(training: list[Case]) -> pd.DataFrame:
    """Per stage: exits and member-months at risk over the training cases, and the rate."""
    rows = []
    for stage in range(1, len(LATER_STAGES) + 1):
        items = [e for case in training for e in fact_exposures(case) if e[0] == stage]
        exits = sum(e[1] for e in items)
        exposure = sum(e[2] for e in items)
        rows.append(
            {
                "stage": LATER_STAGES[stage - 1],
                "exits": exits,
                "member_months": exposure,
                "rate": (exits + 0.5) / (exposure + 1.0),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class HeldOutTask:
    """A block of the held-out case's runs, each lane with its own parameter draw."""

    case: Case
    seed: int
    first: int
    replications: int
    fixed: dict[str, float]
    lane_values: dict[str, np.ndarray]
    queries: list[tuple[int, int, int]]  # (member, stage, month): reached by the month?


def run_held_out(task: HeldOutTask) -> tuple[int, np.ndarray]:
    """Simulate a block of runs; count, per query, the runs in which its event happened."""
    result = simulate_chunk(
        task.case.scenario, task.seed, task.first, task.replications,
        parameters=task.fixed, aggregate=False, months=task.case.months,
        lane_values=task.lane_values,
    )  # fmt: skip
    fp = result.first_passage
    counts = np.array(
        [reached_by(fp[:, member, stage - 1], month).sum() for member, stage, month in task.queries]
    )
    return task.replications, counts


def forecast_case(
    experiment: Experiment,
    case: Case,
    draws: PosteriorDraws,
    runs: int,
    engine: Engine,
    queries: list[tuple[int, int, int]],
) -> np.ndarray:
    """Each query's probability (member reached stage by month) over `runs` runs of the case
    under the posterior draws."""
    seed = case.seed(experiment.spec.seed)
    rng = np.random.default_rng(np.random.SeedSequence((seed, 0x6F776E)))
    own = {v.name: rng.uniform(v.low, v.high, runs) for v in case.own}  # nothing fitted: prior
    block = min(runs, LANES_PER_TASK)
    tasks = []
    for first in range(0, runs, block):
        n = min(block, runs - first)
        values = draws.lane_values(seed, first, n)
        values.update({k: v[first : first + n] for k, v in own.items()})
        fixed = {k: v for k, v in experiment.fixed.items() if k not in values}
        tasks.append(HeldOutTask(case, seed, first, n, fixed, values, queries))
    total = np.zeros(len(queries))
    for _, counts in engine.map_unordered(run_held_out, tasks):
        total += counts
    return total / runs


def events_table(
    case: Case, p: np.ndarray, base: pd.DataFrame, runs: int, logit: LogitFit
) -> pd.DataFrame:
    """One row per held-out fact: the event, what happened and each forecaster's probability."""
    facts = case.observations.facts
    p_logit = forecast(logit, case.scenario, [(f.member, f.stage, f.month, -1) for f in facts])
    rows = []
    for j, fact in enumerate(case.observations.facts):
        stage = LATER_STAGES[fact.stage - 1]
        rows.append(
            {
                "case": case.name,
                "fact": fact.index,
                "member": fact.member_name,
                "stage": stage,
                "kind": fact.kind,
                "date": fact.date,
                "month": fact.month,
                "outcome": fact.occurred,
                "p_model": float(p[j]),
                "p_base_rate": base_rate_forecast(base, stage, fact.month),
                "p_fifty_fifty": 0.5,
                "p_logit": float(p_logit[j]),
                "runs": runs,
                "source": fact.source,
            }
        )
    return pd.DataFrame(rows)
