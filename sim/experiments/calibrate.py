"""`alliance calibrate`: fit shared mechanism parameters jointly to the facts of several cases.

The prior is uniform over each fitted parameter's range. The likelihood is the simulated
likelihood of `sim.experiments.likelihood` (the product over cases, each simulated to its last
fact's month, with common random numbers across points); the posterior is sampled from a
screening design on, by adaptive importance sampling in large batches
(`sim.experiments.importance`, the default) or emcee's ensemble sampler
(`sim.experiments.sampler`). Reported: each
parameter's posterior against its prior (sd ratio, identified or not, confounded pairs), each
fact's and case's fit, posterior predictive outcomes of the experiment's scenario, the posterior
samples (`posterior.parquet` + `posterior.json`, read by `alliance batch --posterior`) and a
calibrated copy of the scenario.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from sim.batch.engines import Engine, engine_for
from sim.batch.jobs import DEFAULTS, Files, RunDir, RunOptions
from sim.batch.manifests import CalibrateManifest, FileRef
from sim.batch.pointruns import PointJob, plan_chunks, run_points
from sim.batch.progress import runs_progress
from sim.batch.store import now, versions
from sim.experiments.calibrated_yaml import write_calibrated_scenario
from sim.experiments.cases import CASE_SEP, Case, load_cases, parameter_space
from sim.experiments.designs import build_design, design_rng
from sim.experiments.experiment import (
    Calibration,
    Experiment,
    VariedParameter,
    experiment_error,
    load_experiment,
)
from sim.experiments.fit_report import (
    cases_table,
    correlation_table,
    facts_table,
    fitted_table,
    write_posterior,
)
from sim.experiments.importance import ImportanceRun, Start, sample_importance
from sim.experiments.likelihood import Likelihood
from sim.experiments.noise import LikelihoodNoise, likelihood_noise
from sim.experiments.sampler import autocorrelation, effective_sample_size, sample
from sim.experiments.sweep import experiment_ref, input_files

OUTCOME_DRAWS = 40  # posterior (and prior) points behind the outcomes table
OUTCOME_REPLICATIONS = 1000  # runs per point there, at most


@dataclass
class Fit:
    """Everything calibration found, as tables (also written to the output directory)."""

    posterior: pd.DataFrame
    fitted: pd.DataFrame
    correlations: pd.DataFrame
    facts: pd.DataFrame
    cases: pd.DataFrame
    outcomes: pd.DataFrame
    summary: dict[str, Any]


@dataclass
class Posterior:
    """A fitted posterior in memory: names, prior ranges and equally weighted samples."""

    names: list[str]
    ranges: list[VariedParameter]
    samples: np.ndarray  # (samples, parameters)
    fit: Fit


def calibrate(
    experiment_path: Path,
    observations_path: Path | None,
    out: Path,
    options: RunOptions = DEFAULTS,
) -> Fit:
    """Fit the experiment's parameters to its cases' facts; write tables, samples, a scenario."""
    experiment = load_experiment(experiment_path)
    cases = load_cases(experiment, observations_path)
    settings = check_settings(experiment, cases)
    manifest = _manifest(experiment, cases, settings)
    if observations_path is not None:  # the one case's facts: its --resume command names them
        facts = cases[0].observations
        manifest.observations = FileRef(path=str(observations_path), hash=facts.content_hash)
    inputs = input_files(experiment)
    for case in cases:
        inputs[f"inputs/{case.name}/scenario.yaml"] = Path(case.scenario.path).read_bytes()
        inputs[f"inputs/{case.name}/observations.yaml"] = Path(case.observations.path).read_bytes()
    with RunDir(out, manifest, options, inputs) as run:
        with engine_for(options.workers, options.scheduler) as engine:
            posterior = fit_cases(experiment, cases, run, engine, options, check_noise=True)
        fit = posterior.fit
        fit.outcomes = outcomes_table(experiment, posterior, run, options)
        run.write_table("outcomes", fit.outcomes)
        shared = fit.fitted[fit.fitted["case"] == "shared"]
        write_calibrated_scenario(experiment, shared, _note(fit), run.root)
    return fit


def check_settings(experiment: Experiment, cases: list[Case]) -> Calibration:
    """Refuse settings the sampler cannot use, naming the field."""
    for v in experiment.varied:
        if v.values is not None:
            raise experiment_error(
                experiment,
                ("parameters", v.name, "values"),
                "calibration needs a range (`low`, `high`): it is the uniform prior",
            )
    settings = experiment.spec.calibration or Calibration()
    dims = len(parameter_space(experiment, cases)[0])
    points = len(np.unique(build_design(experiment).matrix, axis=0))
    if settings.sampler == "importance":
        for field, count in (("batch", settings.batch), ("design", points)):
            if count < 2 * dims:
                raise experiment_error(
                    experiment,
                    ("calibration", field) if field == "batch" else ("design",),
                    f"{count} {'points per batch' if field == 'batch' else 'distinct points'}; "
                    f"expected at least {2 * dims} (twice the {dims} fitted parameters)",
                )
        return settings
    if settings.walkers < 2 * dims:
        raise experiment_error(
            experiment,
            ("calibration", "walkers"),
            f"expected at least {2 * dims} walkers (twice the {dims} fitted parameters)",
        )
    if points < settings.walkers:
        raise experiment_error(
            experiment,
            ("design",),
            f"the design has {points} distinct points; the walkers start at design points, so "
            f"expected at least {settings.walkers} (calibration.walkers)",
        )
    return settings


def fit_cases(
    experiment: Experiment,
    cases: list[Case],
    files: Files,
    engine: Engine,
    options: RunOptions,
    label: str = "calibrate",
    start: Start | None = None,
    check_noise: bool = False,
) -> Posterior:
    """Sample the posterior of the fitted parameters given the cases; write its tables to
    `files` (a run's directory, or a fold's folder in it). `start`: evaluations of these cases
    made already (the importance sampler continues from them). `check_noise`: measure the
    likelihood's noise at the best points (`sim.experiments.noise`) for the summary."""
    settings = experiment.spec.calibration or Calibration()
    names, ranges = parameter_space(experiment, cases)
    started = time.perf_counter()
    chain, runs, noise = sample_cases(
        experiment, cases, files, engine, options, label, start, check_noise
    )
    seconds = time.perf_counter() - started
    fit = _tables(experiment, cases, names, ranges, chain, settings, seconds, runs)
    if noise is not None:
        fit.summary["likelihood_noise"] = noise.record()
    for name, table in (
        ("fitted", fit.fitted),
        ("correlations", fit.correlations),
        ("facts", fit.facts),
        ("cases", fit.cases),
    ):
        files.write_table(name, table)
    write_posterior(files.root, experiment, cases, names, ranges, fit.posterior)
    files.write_json("summary.json", fit.summary)
    return Posterior(names, ranges, kept_samples(chain, settings, len(names)), fit)


def sample_cases(
    experiment: Experiment,
    cases: list[Case],
    files: Files,
    engine: Engine,
    options: RunOptions,
    label: str = "calibrate",
    start: Start | None = None,
    check_noise: bool = False,
) -> tuple[Any, int, LikelihoodNoise | None]:
    """Run the experiment's sampler on the cases' likelihood (checkpointed in `files`): the
    chain or importance run, the runs simulated, and with `check_noise` the likelihood's noise
    at the best points."""
    settings = experiment.spec.calibration or Calibration()
    names, ranges = parameter_space(experiment, cases)
    bounds = np.array([[v.low, v.high] for v in ranges])
    design = screening_design(experiment, ranges)
    per_point = sum(c.replications or experiment.spec.replications for c in cases)
    added = settings.walkers * (settings.steps - 1)
    if settings.sampler == "importance":
        added = settings.max_evaluations + (0 if start is None else -len(design))
    planned = (len(design) + added) * per_point
    runs = {"done": 0}
    with runs_progress(f"{label}: {len(cases)} case(s)", options.progress) as update:

        def on_runs(n: int) -> None:
            runs["done"] += n
            update(runs["done"], max(planned, runs["done"]), 0)

        likelihood = Likelihood(
            cases, names, experiment.fixed, experiment.spec.seed, experiment.spec.replications,
            settings.likelihood, settings.floor, engine, window=settings.window,
            timing=settings.timing, on_runs=on_runs,
        )  # fmt: skip
        chain = draw_posterior(likelihood, bounds, design, settings, experiment.spec.seed,
                               files, options, start)  # fmt: skip
        update(runs["done"], runs["done"], 0)
        store = chain.store
        noise = likelihood_noise(likelihood, store["x"], store["loglik"]) if check_noise else None
    return chain, runs["done"], noise


def draw_posterior(
    likelihood: Likelihood,
    bounds: np.ndarray,
    design: np.ndarray,
    settings: Calibration,
    seed: int,
    files: Files,
    options: RunOptions,
    start: Start | None = None,
) -> Any:
    """Run the experiment's sampler from the design: an `ImportanceRun` or an emcee `Chain`."""
    identity = likelihood.identity()
    if settings.sampler == "importance":
        return sample_importance(
            likelihood, bounds, design, settings.batch, settings.effective_samples,
            settings.max_evaluations, settings.draws, seed, files.root, options.resume,
            identity=identity, start=start,
        )  # fmt: skip
    return sample(
        likelihood, bounds, design, settings.walkers, settings.steps, seed, files.root,
        options.resume, identity=identity,
    )  # fmt: skip


def kept_samples(chain: Any, settings: Calibration, parameters: int) -> np.ndarray:
    """The posterior's equally weighted samples, (samples, parameters): the importance sampler's
    resampled draws, or emcee's chain after burn-in."""
    if isinstance(chain, ImportanceRun):
        return chain.store["x"][chain.draw_rows]
    return chain.coords[settings.burn :].reshape(-1, parameters)


def sampler_diagnostics(chain: Any, settings: Calibration, samples: int) -> dict[str, Any]:
    """What the summary says of the sampler, in its own terms, and the posterior table's
    bookkeeping columns (which step or batch proposed each sample)."""
    if isinstance(chain, ImportanceRun):
        return {
            "sampler": "importance",
            "method": "adaptive multiple importance sampling (t proposals, defensive prior share)",
            "batches": len(chain.proposals),
            "reused_evaluations": chain.reused,
            "batch": settings.batch,
            "samples": samples,
            "effective_sample_size": chain.effective_sample_size,
            "effective_sample_size_kind": "Kish, of the importance weights",
            "max_weight": chain.max_weight,
            "tempering": [p.tempering for p in chain.proposals],
            "columns": {"step": chain.batch_of_row[chain.draw_rows]},
        }
    kept = chain.coords[settings.burn :]  # (steps, walkers, parameters)
    steps, walkers = kept.shape[0], kept.shape[1]
    tau = autocorrelation(kept)
    return {
        "sampler": "emcee",
        "method": "emcee ensemble (stretch move)",
        "walkers": walkers,
        "steps": settings.steps,
        "burn": settings.burn,
        "samples": samples,
        "acceptance_fraction": chain.acceptance,
        "autocorrelation_steps": tau,
        "effective_sample_size": effective_sample_size(tau, samples),
        "effective_sample_size_kind": "samples over the slowest autocorrelation time",
        "columns": {
            "step": np.repeat(np.arange(settings.burn, settings.steps), walkers),
            "walker": np.tile(np.arange(walkers), steps),
        },
    }


def screening_design(experiment: Experiment, ranges: list[VariedParameter]) -> np.ndarray:
    """The experiment's design over the shared parameters; a Latin hypercube over cases' own."""
    shared = build_design(experiment).matrix
    extra = ranges[len(experiment.varied) :]
    if not extra:
        return shared
    rng = design_rng(experiment.spec.seed + 1)
    unit = qmc.LatinHypercube(d=len(extra), rng=rng).random(len(shared))
    low = np.array([v.low for v in extra])
    high = np.array([v.high for v in extra])
    return np.hstack([shared, low + unit * (high - low)])


def _tables(
    experiment: Experiment,
    cases: list[Case],
    names: list[str],
    ranges: list[VariedParameter],
    chain: Any,
    settings: Calibration,
    seconds: float,
    runs: int,
) -> Fit:
    """Every table of the fit from the chain and the likelihood's store of evaluations."""
    store = chain.store
    samples = kept_samples(chain, settings, len(names))
    rows = _rows_of(store["x"], samples)
    design = slice(0, chain.design_rows)
    best = int(np.argmax(store["loglik"]))
    fitted, pairs = fitted_table(names, ranges, samples, store["x"][best])
    sampler = sampler_diagnostics(chain, settings, len(samples))
    columns = sampler.pop("columns")
    posterior = pd.DataFrame(samples, columns=names)
    posterior.insert(0, "draw", np.arange(len(samples)))
    for i, (column, values) in enumerate(columns.items()):
        posterior.insert(1 + i, column, values)
    posterior["loglik"] = store["loglik"][rows]
    if "autocorrelation_steps" in sampler:
        tau = sampler["autocorrelation_steps"]
        sampler["autocorrelation_steps"] = dict(zip(names, tau.tolist(), strict=True))
    facts = facts_table(
        cases,
        store["fact_p"][design].mean(axis=0),
        store["fact_p"][rows].mean(axis=0),
        store["fact_p"][best],
    )
    case_frame = cases_table(
        cases,
        store["case_loglik"][design].mean(axis=0),
        store["case_loglik"][rows].mean(axis=0),
        store["case_loglik"][best],
    )
    summary = {
        **sampler,
        "cases": [c.name for c in cases],
        "facts": sum(c.facts for c in cases),
        "evaluations": len(store["x"]),
        "replications": experiment.spec.replications,
        "case_replications": {c.name: c.replications for c in cases if c.replications},
        "simulated_runs": runs,
        "seconds": round(seconds, 1),
        "best_loglik": float(store["loglik"][best]),
        "prior_mean_loglik": float(store["loglik"][design].mean()),
        "likelihood": settings.likelihood,
        "identified": fitted.loc[fitted["identification"] == "identified", "parameter"].tolist(),
        "not_identified": fitted.loc[
            fitted["identification"] == "not identified", "parameter"
        ].tolist(),
        "confounded": pairs,
    }
    correlations = correlation_table(names, samples)
    return Fit(posterior, fitted, correlations, facts, case_frame, pd.DataFrame(), summary)


def _rows_of(x: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The store row of each sample (every sample is a point the sampler evaluated)."""
    index: dict[bytes, int] = {}
    for i, row in enumerate(x):
        index.setdefault(row.tobytes(), i)
    return np.array([index[row.tobytes()] for row in samples], dtype=np.int64)


def outcomes_table(
    experiment: Experiment, posterior: Posterior, run: RunDir, options: RunOptions
) -> pd.DataFrame:
    """The experiment's outcomes under prior and posterior draws of the shared parameters."""
    shared = [i for i, n in enumerate(posterior.names) if CASE_SEP not in n]
    names = [posterior.names[i] for i in shared]
    picks = np.linspace(0, len(posterior.samples) - 1, OUTCOME_DRAWS).round().astype(int)
    post = posterior.samples[picks][:, shared]
    rng = np.random.default_rng(np.random.SeedSequence((experiment.spec.seed, 0x7072696F)))
    low = np.array([posterior.ranges[i].low for i in shared])
    high = np.array([posterior.ranges[i].high for i in shared])
    prior = low + rng.random((OUTCOME_DRAWS, len(shared))) * (high - low)
    matrix = np.vstack([prior, post])
    reps = min(experiment.spec.replications, OUTCOME_REPLICATIONS)
    job = PointJob(
        experiment.scenario, experiment.spec.seed, names, matrix, experiment.fixed,
        list(experiment.outcomes),
    )  # fmt: skip
    chunks = plan_chunks(len(matrix), reps)
    tally = run_points(job, run.out, "outcomes", chunks, options, "outcomes")
    est = tally.total / np.maximum(tally.n, 1)
    rows = []
    for j, outcome in enumerate(experiment.outcomes):
        q = np.quantile(est[OUTCOME_DRAWS:, j], (0.025, 0.975))
        rows.append(
            {
                "outcome": outcome.label,
                "prior_mean": float(est[:OUTCOME_DRAWS, j].mean()),
                "posterior_mean": float(est[OUTCOME_DRAWS:, j].mean()),
                "low": q[0],
                "high": q[1],
                "draws": OUTCOME_DRAWS,
                "runs_per_draw": reps,
            }
        )
    return pd.DataFrame(rows)


def _note(fit: Fit) -> str:
    """How the fit was made, for the calibrated scenario's sources."""
    s = fit.summary
    cases = ", ".join(s["cases"])
    if s["sampler"] == "importance":
        how = (
            f"adaptive importance sampling, {s['evaluations']} points in {s['batches']} batches "
            f"(effective sample size {s['effective_sample_size']:.0f}, Kish)"
        )
    else:
        how = (
            f"emcee with {s['walkers']} walkers x {s['steps']} steps ({s['burn']} burn-in; "
            f"effective sample size {s['effective_sample_size']:.0f})"
        )
    counts = Counter(s.get("case_replications", {}).values())
    own = "".join(f" ({k} case(s): {n})" for n, k in sorted(counts.items()))
    return (
        f"{len(s['cases'])} case(s) ({cases}; {s['facts']} facts), {s['likelihood']} simulated "
        f"likelihood from {s['replications']} runs per case and point{own}, {how}"
    )


def _manifest(
    experiment: Experiment, cases: list[Case], settings: Calibration
) -> CalibrateManifest:
    sc = experiment.scenario
    return CalibrateManifest(
        experiment=experiment_ref(experiment),
        scenario=FileRef(name=sc.name, path=sc.path, hash=sc.content_hash),
        cases=[
            {
                "name": c.name,
                "scenario": c.scenario.path,
                "scenario_hash": c.scenario.content_hash,
                "observations": c.observations.path,
                "observations_hash": c.observations.content_hash,
                "months": c.months,
                "own": [v.name for v in c.own],
            }
            for c in cases
        ],
        fitted=parameter_space(experiment, cases)[0],
        fixed=experiment.fixed,
        seed=experiment.spec.seed,
        replications=experiment.spec.replications,
        calibration=settings.model_dump(),
        versions=versions(),
        started=now(),
    )
