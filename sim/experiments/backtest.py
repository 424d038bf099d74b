"""`alliance backtest`: score a scenario's forecasts against observed facts.

Each fact becomes a binary event, "member X had reached stage S by month M" (1 for `reached_in`
and `reached_by` facts, 0 for `not_reached_by`). The model's forecast is its Monte Carlo
probability of that event; two reference forecasts stand beside it: a constant base rate (command
line or observations file) and 50/50. Scores are the Brier score, mean (p - o)^2, and the log
score, mean -ln(probability given to what happened); both are lower-is-better, 0 is perfect.
With `origin`, the scenario's events after that month are dropped and its history ends there: the
forecast is what the model would have said at the origin, and facts after it are out of sample.
With `condition` (the default) the forecast also starts from the record: its runs are
conditioned on every fact dated up to the origin (`alliance forecast`, sim.experiments.origins),
and only the facts after the origin are scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.outcomes import Outcome, interval
from sim.batch.pointruns import PointJob, plan_chunks, run_points
from sim.batch.posterior import load_posterior
from sim.batch.store import finish, now, prepare_output, versions, write_bytes_atomic
from sim.batch.tasks import check_run_arguments
from sim.experiments.observations import Observations, load_observations
from sim.experiments.origins import forecast_at_origin, require_facts_after
from sim.experiments.sweep import write_table
from sim.model.errors import InputError
from sim.model.months import parse_month
from sim.model.scenario import Scenario, compile_scenario, load_scenario
from sim.model.stages import STAGES

FORECASTERS = ("model", "base_rate", "fifty_fifty")
FORMATS = ("png", "svg", "pdf")
SCORE_COLUMNS = ("period", "member", "stage", "forecaster", "events", "brier", "log_score")
OWNED = (
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
) -> Backtest:
    """Forecast every fact's event with `runs` replications and score it against what happened.

    With `condition`, the runs are conditioned on the facts up to the origin (default: the
    scenario's history_end), and the facts after it are scored. With `posterior`, each
    replication draws its parameters from that calibration's samples (conditioned runs keep
    their draws when resampled; a posterior fitted on this scenario's own case is refused for
    them, since it has seen the facts conditioned on)."""
    check_run_arguments(runs=runs, seed=seed, workers=workers)
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
    measures = [
        Outcome("reach_stage", fact.label, fact.month, fact.member, fact.stage)
        for fact in observations.facts
    ]
    if condition:
        require_facts_after(observations.facts, scenario.history_end, str(origin))
    chunks = plan_chunks(1, runs)
    draws = load_posterior(posterior, scenario.name) if posterior is not None else None
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
    events = events_table(observations, scenario, p, low, high, runs, base_rate)
    scores = score_events(events)
    write_table(out, "events", events)
    write_table(out, "scores", scores)
    summary = summarise(scores)
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
    return Backtest(events, scores, figure, in_sample)


def events_table(
    observations: Observations,
    scenario: Scenario,
    p: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    runs: int,
    base_rate: float | None,
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
                "runs": runs,
                "source": fact.source,
            }
        )
    return pd.DataFrame(rows)


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    """Mean squared difference between forecast probabilities and 0/1 outcomes."""
    return float(np.mean((np.asarray(p, float) - np.asarray(outcome, float)) ** 2))


def log_score(p: np.ndarray, outcome: np.ndarray, floor: float = 1e-6) -> float:
    """Mean -ln(probability given to what happened), probabilities kept within [floor, 1-floor]."""
    p = np.clip(np.asarray(p, float), floor, 1.0 - floor)
    o = np.asarray(outcome, float)
    return float(np.mean(-(o * np.log(p) + (1.0 - o) * np.log1p(-p))))


def score_events(events: pd.DataFrame) -> pd.DataFrame:
    """Brier and log scores per member and stage, and in total (all facts, and per period).

    The model's probabilities are kept within [1/(2N), 1 - 1/(2N)] for the log score (N runs): a
    Monte Carlo zero means "below one in N", not "impossible".
    """
    rows = []
    groups: list[tuple[str, str, str, pd.DataFrame]] = [
        ("all", m, s, g) for (m, s), g in events.groupby(["member", "stage"], sort=False)
    ]
    groups.append(("all", "all", "all", events))
    for period, g in events.groupby("period", sort=False):
        if g.shape[0] < events.shape[0]:
            groups.append((str(period), "all", "all", g))
    for period, member, stage, g in groups:
        for forecaster in FORECASTERS:
            p = g[f"p_{forecaster}"].to_numpy(float)
            if np.isnan(p).any():
                continue
            floor = 0.5 / g["runs"].iloc[0] if forecaster == "model" else 1e-6
            rows.append(
                {
                    "period": period,
                    "member": member,
                    "stage": stage,
                    "forecaster": forecaster,
                    "events": len(g),
                    "brier": brier(p, g["outcome"]),
                    "log_score": log_score(p, g["outcome"], floor),
                }
            )
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def summarise(scores: pd.DataFrame) -> dict[str, Any]:
    """Totals per forecaster and the model's skill against each reference (1 - score/reference)."""
    total = scores[(scores["member"] == "all") & (scores["period"] == "all")]
    by = {
        row.forecaster: {"brier": row.brier, "log_score": row.log_score}
        for row in total.itertuples()
    }
    skill = {}
    for ref in ("base_rate", "fifty_fifty"):
        if ref in by and "model" in by:
            skill[ref] = {
                k: (1.0 - by["model"][k] / by[ref][k]) if by[ref][k] > 0 else None
                for k in ("brier", "log_score")
            }
    return {"events": int(total["events"].max()), "totals": by, "skill_vs": skill}


def reliability_figure(events: pd.DataFrame, path: Path, fmt: str, bins: int = 10) -> Path:
    """Observed frequency against forecast probability, in equal-width bins, with counts."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from sim.plots.style import RC, save_figure, series_style

    with mpl.rc_context(RC):
        fig = Figure(figsize=(5.2, 4.6), layout="constrained")
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":", label="perfect calibration")
        edges = np.linspace(0.0, 1.0, bins + 1)
        for i, forecaster in enumerate(FORECASTERS):
            p = events[f"p_{forecaster}"].to_numpy(float)
            if np.isnan(p).any():
                continue
            which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
            xs, ys, ns = [], [], []
            for b in np.unique(which):
                mask = which == b
                xs.append(p[mask].mean())
                ys.append(events["outcome"].to_numpy(float)[mask].mean())
                ns.append(int(mask.sum()))
            style = series_style(i)
            ax.plot(
                xs, ys, label=forecaster.replace("_", " "), gid=f"reliability:{forecaster}", **style
            )
            if forecaster == "model":
                for x, y, n in zip(xs, ys, ns, strict=True):
                    ax.annotate(
                        str(n), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7
                    )
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("forecast probability (bin mean)")
        ax.set_ylabel("observed frequency")
        ax.legend(loc="upper left", frameon=False)
        ax.set_title(f"Reliability of forecasts ({len(events)} events; numbers: events per bin)")
    return save_figure(fig, path, fmt)
