"""`alliance crossval`: leave one case out, fit the others, forecast the held-out case, score it.

For each case of a pooled experiment: the shared parameters are calibrated on the other cases
(`sim.experiments.calibrate.fit_cases`, the experiment's settings); the held-out case is then run
from its start, with its own replayed events, `runs` times, each run drawing its parameters from
that fold's posterior (a parameter the held-out case declares for itself is drawn from its prior:
nothing was fitted for it). Every fact of the held-out case becomes a binary event, "member X had
reached stage S by the end of month M" (1 for `reached_in`/`reached_by`, 0 for
`not_reached_by`), forecast by three forecasters:

- `model`: the share of runs in which the event happened;
- `base_rate`: a constant hazard per member-month for each stage, fitted on the training cases'
  facts, (exits + 0.5) / (member-months at risk + 1), turned into P(reached by month M) =
  1 - (1 - rate)^(M + 1) (months counted from the case's start);
- `fifty_fifty`: 0.5.

Scores are the Brier and log scores of `sim.experiments.backtest` (the model's probabilities kept
within [1/(2N), 1 - 1/(2N)] for the log score), per case and over all held-out facts, with each
case's skill 1 - score / base-rate score.
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
from sim.batch.tasks import check_run_arguments
from sim.experiments.backtest import FORMATS, brier, log_score, reliability_figure
from sim.experiments.calibrate import check_settings, fit_cases
from sim.experiments.cases import Case, load_cases
from sim.experiments.experiment import Experiment, experiment_error, load_experiment
from sim.experiments.observations import Fact
from sim.experiments.sweep import input_files, write_table
from sim.model.errors import InputError
from sim.model.stages import LATER_STAGES

FORECASTERS = ("model", "base_rate", "fifty_fifty")
OWNED = (
    "events.csv", "events.parquet", "scores.csv", "scores.parquet", "base_rates.csv",
    "base_rates.parquet", "summary.json", "figures", "folds", "experiment.yaml", "scenario.yaml",
)  # fmt: skip
HELD_OUT = "heldout.parquet"
LANES_PER_TASK = 20_000


@dataclass
class CrossValidation:
    """The held-out events, their scores, the training base rates and the reliability figure."""

    events: pd.DataFrame
    scores: pd.DataFrame
    base_rates: pd.DataFrame
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
    check_run_arguments(runs=runs, workers=workers)
    experiment = load_experiment(experiment_path)
    if experiment.spec.cases is None or len(experiment.spec.cases) < 2:
        raise experiment_error(
            experiment, ("cases",), "cross-validation needs a `cases` list of at least 2 cases"
        )
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
    frames, rates = [], []
    try:
        for k, held in enumerate(cases):
            training = cases[:k] + cases[k + 1 :]
            fold = out / "folds" / held.name
            fold.mkdir(parents=True, exist_ok=True)
            base = base_rates(training)
            rates.append(base.assign(held_out=held.name))
            if resume and (fold / HELD_OUT).is_file():
                frames.append(pd.read_parquet(fold / HELD_OUT))
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
            p = forecast_case(experiment, held, draws, runs, engine)
            events = events_table(held, p, base, runs)
            write_table(fold, HELD_OUT.removesuffix(".parquet"), events)
            frames.append(events)
    except BaseException:
        engine.abort()
        raise
    engine.close()
    events = pd.concat(frames, ignore_index=True)
    scores = score_cases(events)
    base = pd.concat(rates, ignore_index=True)
    summary = summarise(scores, cases, runs)
    write_table(out, "events", events)
    write_table(out, "scores", scores)
    write_table(out, "base_rates", base)
    write_json_atomic(out / "summary.json", summary)
    figure = reliability_figure(events, out / "figures" / f"reliability.{fmt}", fmt)
    return CrossValidation(events, scores, base, summary, figure)


def fact_exposures(case: Case) -> list[tuple[int, int, int]]:
    """(stage, reached 0/1, member-months at risk) per member and stage the case has facts on.

    A stage reached in month m counts m + 1 months at risk (the start month is month 0); reached
    by month m (date unknown) counts m + 1 too, an upper bound; never reached counts up to the
    latest month it is known not to have been reached.
    """
    by_key: dict[tuple[int, int], list[Fact]] = {}
    for fact in case.observations.facts:
        by_key.setdefault((fact.member, fact.stage), []).append(fact)
    out = []
    for (_, stage), facts in by_key.items():
        exact = [f.month for f in facts if f.kind == "reached_in"]
        bounded = [f.month for f in facts if f.kind == "reached_by"]
        never = [f.month for f in facts if f.kind == "not_reached_by"]
        if exact:
            out.append((stage, 1, min(exact) + 1))
        elif bounded:
            out.append((stage, 1, min(bounded) + 1))
        else:
            out.append((stage, 0, max(never) + 1))
    return out


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


def run_held_out(task: HeldOutTask) -> tuple[int, np.ndarray]:
    """Simulate a block of runs; count, per fact, the runs in which its event happened."""
    result = simulate_chunk(
        task.case.scenario, task.seed, task.first, task.replications,
        parameters=task.fixed, aggregate=False, months=task.case.months,
        lane_values=task.lane_values,
    )  # fmt: skip
    fp = result.first_passage
    counts = np.array(
        [
            reached_by(fp[:, f.member, f.stage - 1], f.month).sum()
            for f in task.case.observations.facts
        ]
    )
    return task.replications, counts


def forecast_case(
    experiment: Experiment, case: Case, draws: PosteriorDraws, runs: int, engine: Engine
) -> np.ndarray:
    """Each fact's event probability over `runs` runs of the case under the posterior draws."""
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
        tasks.append(HeldOutTask(case, seed, first, n, fixed, values))
    total = np.zeros(case.facts)
    for _, counts in engine.map_unordered(run_held_out, tasks):
        total += counts
    return total / runs


def events_table(case: Case, p: np.ndarray, base: pd.DataFrame, runs: int) -> pd.DataFrame:
    """One row per held-out fact: the event, what happened and each forecaster's probability."""
    rate = base.set_index("stage")["rate"]
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
                "p_base_rate": float(1.0 - (1.0 - rate[stage]) ** (fact.month + 1)),
                "p_fifty_fifty": 0.5,
                "runs": runs,
                "source": fact.source,
            }
        )
    return pd.DataFrame(rows)


def score_cases(events: pd.DataFrame) -> pd.DataFrame:
    """Brier and log scores of each forecaster per held-out case and over all held-out facts."""
    rows = []
    groups = [(str(c), g) for c, g in events.groupby("case", sort=False)] + [("all", events)]
    for case, g in groups:
        for forecaster in FORECASTERS:
            p = g[f"p_{forecaster}"].to_numpy(float)
            floor = 0.5 / g["runs"].iloc[0] if forecaster == "model" else 1e-6
            rows.append(
                {
                    "case": case,
                    "forecaster": forecaster,
                    "events": len(g),
                    "brier": brier(p, g["outcome"]),
                    "log_score": log_score(p, g["outcome"], floor),
                }
            )
    frame = pd.DataFrame(rows)
    for ref in ("base_rate", "fifty_fifty"):
        reference = frame[frame["forecaster"] == ref].set_index("case")
        for score in ("brier", "log_score"):
            r = frame["case"].map(reference[score])
            frame[f"{score}_skill_vs_{ref}"] = np.where(r > 0, 1.0 - frame[score] / r, np.nan)
    return frame


def summarise(scores: pd.DataFrame, cases: list[Case], runs: int) -> dict[str, Any]:
    """Totals per forecaster and the model's skill, per case and over all held-out facts."""
    model = scores[scores["forecaster"] == "model"].set_index("case")
    total = scores[scores["case"] == "all"].set_index("forecaster")
    return {
        "cases": [c.name for c in cases],
        "runs": runs,
        "events": int(total.loc["model", "events"]),
        "totals": {
            f: {"brier": total.loc[f, "brier"], "log_score": total.loc[f, "log_score"]}
            for f in FORECASTERS
        },
        "skill_vs_base_rate": {
            case: {
                "brier": model.loc[case, "brier_skill_vs_base_rate"],
                "log_score": model.loc[case, "log_score_skill_vs_base_rate"],
            }
            for case in model.index
        },
        "beats_base_rate": bool(
            total.loc["model", "brier"] < total.loc["base_rate", "brier"]
            and total.loc["model", "log_score"] < total.loc["base_rate", "log_score"]
        ),
    }
