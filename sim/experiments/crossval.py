"""`alliance crossval`: leave one case out, fit the others, forecast the held-out case, score it.

For each case of a pooled experiment: the shared parameters are calibrated on the other cases
(`sim.experiments.calibrate.fit_cases`, the experiment's settings; with the importance sampler
every fold starts from one run on all the cases, reweighted to its own); the held-out case is
then run from its start, with its own replayed events, `runs` times, each run drawing its
parameters from that fold's posterior (a parameter the held-out case declares for itself is
drawn from its prior: nothing was fitted for it). Every fact of the held-out case becomes a
binary event, "member X had reached stage S by the end of month M" (1 for
`reached_in`/`reached_by`, 0 for `not_reached_by`), forecast by four forecasters:

- `model`: the share of runs in which the event happened;
- `base_rate`: a constant hazard per member-month for each stage, fitted on the training cases'
  facts, (exits + 0.5) / (member-months at risk + 1), turned into P(reached by month M) =
  1 - (1 - rate)^(M + 1) (months counted from the case's start);
- `fifty_fifty`: 0.5;
- `logit`: the field's discrete-time event-history logit (`sim.experiments.logit`), fitted on the
  training cases' member-months, its hazards multiplied out to the fact's month;
- `cure_logit`: its split-population variant (`sim.experiments.cure`), a share of members never at
  risk, fitted on the same rows.

Scores (`sim.experiments.scoring`): Brier and log scores (the model's probabilities kept within
the Monte Carlo floor for the log score), calibration intercept and slope, each forecaster's
skill against every reference, and the AUC of leavers against stayers at each case's common
horizon (`horizon.csv`: every member's probability of having withdrawn by the case's last
withdrawal fact), per case, per era and alliance size, and over all held-out facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from sim.batch.engines import Engine, engine_for
from sim.batch.jobs import DEFAULTS, RunDir, RunOptions
from sim.batch.lanes import simulate_chunk
from sim.batch.manifests import CrossvalManifest
from sim.batch.outcomes import reached_by
from sim.batch.posterior import CASE_SEP, PosteriorDraws
from sim.batch.store import now, versions
from sim.batch.tasks import check_run_arguments, check_run_count
from sim.experiments.backtest import FORMATS
from sim.experiments.calibrate import check_settings, fit_cases, sample_cases
from sim.experiments.cases import Case, load_cases
from sim.experiments.crossval_scores import (
    base_rate_forecast,
    horizon_table,
    score_cases,
    summarise,
)
from sim.experiments.experiment import Experiment, experiment_error, load_experiment
from sim.experiments.folds import group_folds, leave_one_out, pick_fold
from sim.experiments.importance import ImportanceRun, restrict
from sim.experiments.logit import Hazards, forecast, member_exposures
from sim.experiments.references import reference_fits, reference_table
from sim.experiments.scoring import horizon_outcomes
from sim.experiments.sweep import experiment_ref, input_files
from sim.model.errors import InputError
from sim.model.stages import LATER_STAGES
from sim.plots.reliability import reliability_figure

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
    fmt: str = "png",
    options: RunOptions = DEFAULTS,
    folds: int | None = None,
    only_fold: str | None = None,
) -> CrossValidation:
    """Leave each case (or, with `folds`, each of K folds of whole groups) out in turn: fit on
    the rest, forecast it, score it against references. With `only_fold` (a fold's number or a
    case it holds out), that fold alone: its scores are that fold's, the summary says so."""
    experiment = load_case_list(experiment_path, runs, fmt, "cross-validation")
    check_run_count(runs * len(experiment.spec.cases), "--runs", f"{runs} per held-out case")
    cases = load_cases(experiment, None)
    split = [] if folds is None else group_folds(cases, folds)
    every = split or leave_one_out(cases)
    only = None if only_fold is None else pick_fold(cases, every, only_fold)
    for held in every if only is None else [every[only]]:
        check_settings(experiment, [c for i, c in enumerate(cases) if i not in held])
    manifest = CrossvalManifest(
        experiment=experiment_ref(experiment),
        cases=[c.name for c in cases],
        runs=runs,
        seed=experiment.spec.seed,
        folds=split,
        only_fold=None if only is None else only + 1,
        versions=versions(),
        started=now(),
    )
    with RunDir(out, manifest, options, input_files(experiment)) as run:
        with engine_for(options.workers, options.scheduler) as engine:
            folds = _folds(experiment, cases, run, runs, engine, options, split, only)
        notes = None if only is None else {"only_fold": only + 1, "of_folds": len(every)}
        return write_results(run, folds, cases, runs, fmt, notes)


def load_case_list(experiment_path: Path, runs: int, fmt: str, job: str) -> Experiment:
    """The experiment of a cross-validation or a scoring, checked: a list of 2 cases or more."""
    if fmt not in FORMATS:
        raise InputError("--format", fmt, f"expected one of {', '.join(FORMATS)}")
    check_run_arguments(runs=runs)
    experiment = load_experiment(experiment_path)
    if experiment.spec.cases is None or len(experiment.spec.cases) < 2:
        raise experiment_error(
            experiment, ("cases",), f"{job} needs a `cases` list of at least 2 cases"
        )
    return experiment


def write_results(
    run: RunDir,
    folds: Folds,
    cases: list[Case],
    runs: int,
    fmt: str,
    notes: dict[str, Any] | None = None,
) -> CrossValidation:
    """Score the folds' held-out tables and write every table, the summary (with `notes`) and
    the reliability figure into the run's directory."""
    events = pd.concat(folds.events, ignore_index=True)
    horizon = pd.concat(folds.horizons, ignore_index=True)
    scores = score_cases(events, horizon, cases)
    base = pd.concat(folds.rates, ignore_index=True)
    logit_table = pd.concat(folds.logits, ignore_index=True)
    summary = {**summarise(scores, cases, runs), **(notes or {})}
    for name, table in (
        ("events", events), ("horizon", horizon), ("scores", scores), ("base_rates", base),
        ("logit", logit_table),
    ):  # fmt: skip
        run.write_table(name, table)
    run.write_json("summary.json", summary)
    figure = reliability_figure(events, run.path(f"figures/reliability.{fmt}"), fmt)
    return CrossValidation(events, scores, base, logit_table, horizon, summary, figure)


@dataclass
class Folds:
    """Per fold: the held-out events, the horizon outcomes, the base rates and the logits."""

    events: list[pd.DataFrame] = field(default_factory=list)
    horizons: list[pd.DataFrame] = field(default_factory=list)
    rates: list[pd.DataFrame] = field(default_factory=list)
    logits: list[pd.DataFrame] = field(default_factory=list)


def _folds(
    experiment: Experiment,
    cases: list[Case],
    run: RunDir,
    runs: int,
    engine: Engine,
    options: RunOptions,
    split: list[list[int]] | None = None,
    only: int | None = None,
) -> Folds:
    """Every fold (or the `only` one, 0-based) into its folder of the run's directory (a
    finished fold is read back). Without `split`, each case is a fold of its own
    (`folds/NAME`); with it, fold J holds out its cases together (`folds/fold_J`, each
    held-out case's tables in `folds/fold_J/NAME`)."""
    folds = Folds()
    every = None if only is not None else shared_run(experiment, cases, run, engine, options)
    for k, held_out in enumerate(split or leave_one_out(cases)):
        if only is not None and k != only:
            continue
        training = [c for i, c in enumerate(cases) if i not in held_out]
        held_cases = [cases[i] for i in held_out]
        name = f"fold_{k + 1}" if split else held_cases[0].name
        fold = run.sub(f"folds/{name}")
        places = [fold.sub(held.name) if split else fold for held in held_cases]
        base = base_rates(training)
        folds.rates.append(base.assign(held_out=name))
        logits = reference_fits(training)
        folds.logits.append(reference_table(logits, held_out=name))
        done = [finished_fold(p.root) for p in places] if options.resume else [None]
        if all(tables is not None for tables in done):
            folds.events += [tables[0] for tables in done if tables is not None]
            folds.horizons += [tables[1] for tables in done if tables is not None]
            continue
        without = held_cases[0].name if len(held_cases) == 1 else f"{len(held_cases)} cases"
        label = f"fold {k + 1}/{len(split or cases)} (without {without})"
        kept = [i for i in range(len(cases)) if i not in held_out]
        start = None if every is None else restrict(every, kept, fact_columns(cases, kept))
        posterior = fit_cases(experiment, training, fold, engine, options, label, start)
        shared = [j for j, n in enumerate(posterior.names) if CASE_SEP not in n]
        draws = PosteriorDraws(
            str(fold.root), "", experiment.name, tuple(c.name for c in training),
            tuple(posterior.names[j] for j in shared), posterior.samples[:, shared],
        )  # fmt: skip
        for held, place in zip(held_cases, places, strict=True):
            events, horizon = held_out_tables(experiment, held, draws, runs, engine, base, logits)
            place.write_table(HORIZON.removesuffix(".parquet"), horizon)
            place.write_table(HELD_OUT.removesuffix(".parquet"), events)
            folds.events.append(events)
            folds.horizons.append(horizon)
    return folds


def shared_run(
    experiment: Experiment, cases: list[Case], run: RunDir, engine: Engine, options: RunOptions
) -> ImportanceRun | None:
    """The importance sampler's run on every case (checkpointed in `folds/`), whose evaluations
    each fold starts from, reweighted to its training cases: a fold then simulates only the
    batches its own posterior still needs. None for emcee, or where a case fits parameters of
    its own (the folds' parameter spaces differ)."""
    settings = experiment.spec.calibration
    if settings is None or settings.sampler != "importance" or any(c.own for c in cases):
        return None
    every, _, _ = sample_cases(experiment, cases, run.sub("folds"), engine, options, "all cases")
    return every


def fact_columns(cases: list[Case], kept: list[int]) -> list[int]:
    """The columns of the kept cases' facts among every case's (in case order)."""
    ends = np.cumsum([c.facts for c in cases])
    return [j for i in kept for j in range(ends[i] - cases[i].facts, ends[i])]


def held_out_tables(
    experiment: Experiment,
    held: Case,
    draws: PosteriorDraws,
    runs: int,
    engine: Engine,
    base: pd.DataFrame,
    logits: dict[str, Hazards],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A held-out case's events and horizon tables: its facts and its members' outcomes at the
    common horizon, forecast by the model under `draws`, the base rate and the logits."""
    outcomes = horizon_outcomes(held.observations.facts)
    queries = [(f.member, f.stage, f.month) for f in held.observations.facts]
    queries += [(m, stage, month) for m, _, stage, month, _ in outcomes]
    p = forecast_case(experiment, held, draws, runs, engine, queries)
    events = events_table(held, p[: held.facts], base, runs, logits)
    return events, horizon_table(held, outcomes, p[held.facts :], base, logits)


def finished_fold(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """A held-out case's events and horizon tables from an earlier session, or None where either
    is missing or damaged (its fold is then computed again, as a damaged chunk is)."""
    try:
        return pd.read_parquet(folder / HELD_OUT), pd.read_parquet(folder / HORIZON)
    except (OSError, ValueError, ArrowException):
        return None


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
    case: Case, p: np.ndarray, base: pd.DataFrame, runs: int, logits: dict[str, Hazards]
) -> pd.DataFrame:
    """One row per held-out fact: the event, what happened and each forecaster's probability."""
    facts = case.observations.facts
    queries = [(f.member, f.stage, f.month, -1) for f in facts]
    fitted = {name: forecast(fit, case.scenario, queries) for name, fit in logits.items()}
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
                **{f"p_{name}": float(q[j]) for name, q in fitted.items()},
                "runs": runs,
                "source": fact.source,
            }
        )
    return pd.DataFrame(rows)
