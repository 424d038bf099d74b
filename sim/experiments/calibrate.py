"""`alliance calibrate`: fit parameters to observed facts with a simulated likelihood.

The prior is uniform over each varied parameter's range. For a candidate parameter point the
likelihood of the facts is estimated from that point's simulated first passages: facts are
grouped (by member by default: evaluated jointly within a member, multiplied across members), each
group's probability is (k + a) / (n + 2a), k of n runs satisfying every fact in the group, with the
smoothing floor a (so a group never seen in n runs counts as rare, not impossible). All candidates
share replication r's random numbers, so the estimated likelihood is smooth in the parameters.

Candidates come in rounds of adaptive importance sampling: round 1 is the experiment's design
(space-filling over the prior); each later round draws from a Gaussian mixture around the weighted
candidates so far (covariance twice their weighted covariance, truncated to the prior box). The
posterior weights every candidate of every round by prior x likelihood over the rounds' mixture
density (deterministic multiple importance sampling). Reported: posterior mean, sd, 2.5/50/97.5%
quantiles, the best candidate, effective sample size, posterior predictive outcomes and a
calibrated copy of the scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from sim.batch.pointruns import PointJob, plan_chunks, run_points
from sim.batch.store import finish, now, prepare_output, versions, write_json_atomic
from sim.experiments.calibrated_yaml import write_calibrated_scenario
from sim.experiments.designs import build_design, design_rng
from sim.experiments.experiment import Calibration, Experiment, experiment_error, load_experiment
from sim.experiments.observations import FactGroup, Observations, load_observations
from sim.experiments.sweep import input_files, write_table

OWNED = (
    "posterior.csv",
    "posterior.parquet",
    "fitted.csv",
    "fitted.parquet",
    "facts.csv",
    "facts.parquet",
    "outcomes.csv",
    "outcomes.parquet",
    "summary.json",
    "experiment.yaml",
    "scenario.yaml",
    "observations.yaml",
    "scenario.calibrated.yaml",
)
COMPARE = (
    "experiment.hash",
    "observations.hash",
    "scenario.hash",
    "seed",
    "replications",
    "calibration",
    "varied",
)
QUANTILES = (0.025, 0.5, 0.975)
MAX_COMPONENTS = 2000  # mixture components kept for the next round's proposal


@dataclass
class Proposal:
    """A truncated Gaussian mixture: component means and weights, shared covariance, mass."""

    means: np.ndarray  # (components, k)
    weights: np.ndarray  # (components,), summing to 1
    cholesky: np.ndarray  # (k, k), lower
    mass: float  # share of the untruncated mixture inside the prior box

    def log_density(self, x: np.ndarray, block: int = 1024) -> np.ndarray:
        """Log density of the truncated mixture at each row of x (in blocks, to bound memory)."""
        k = x.shape[1]
        log_det = 2.0 * np.log(np.diag(self.cholesky)).sum()
        log_norm = -0.5 * (k * np.log(2 * np.pi) + log_det)
        out = np.empty(len(x))
        for start in range(0, len(x), block):
            diff = x[start : start + block, None, :] - self.means[None, :, :]
            z = np.linalg.solve(self.cholesky, diff.reshape(-1, k).T).T.reshape(diff.shape)
            terms = np.log(self.weights)[None, :] + log_norm - 0.5 * np.square(z).sum(axis=2)
            out[start : start + block] = logsumexp(terms, axis=1)
        return out - np.log(self.mass)


@dataclass
class Fit:
    """Everything calibration found, as tables (also written to the output directory)."""

    posterior: pd.DataFrame
    fitted: pd.DataFrame
    facts: pd.DataFrame
    outcomes: pd.DataFrame
    summary: dict[str, Any]


def calibrate(
    experiment_path: Path,
    observations_path: Path,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    resume: bool = False,
    show_progress: bool = True,
) -> Fit:
    """Fit the experiment's varied parameters to the observations; write tables and a scenario."""
    experiment = load_experiment(experiment_path)
    for v in experiment.varied:
        if v.values is not None:
            raise experiment_error(
                experiment,
                ("parameters", v.name, "values"),
                "calibration needs a range (`low`, `high`): it is the uniform prior",
            )
    settings = experiment.spec.calibration or Calibration()
    observations = load_observations(observations_path, experiment.scenario)
    groups = observations.groups(settings.likelihood)
    singles = observations.groups("independent")
    measures: list[Any] = [*groups, *singles, *experiment.outcomes]
    manifest = _manifest(experiment, observations, settings)
    inputs = {**input_files(experiment), "observations.yaml": Path(observations.path).read_bytes()}
    manifest = prepare_output(
        out, manifest, force=force, resume=resume, compare=COMPARE, owned=OWNED, inputs=inputs
    )
    bounds = np.array([[v.low, v.high] for v in experiment.varied])
    matrices, proposals, logliks, estimates = [], [], [], []
    for r in range(1, settings.rounds + 1):
        if r == 1:
            matrix, proposal = build_design(experiment).matrix, None
        else:
            weights = _weights(matrices, proposals, logliks, bounds)
            rng = design_rng(experiment.spec.seed + 7919 * r)
            matrix, proposal = _propose(np.vstack(matrices), weights, bounds, settings, rng)
        job = PointJob(
            experiment.scenario,
            experiment.spec.seed,
            experiment.parameter_names,
            matrix,
            experiment.fixed,
            measures,
        )
        chunks = plan_chunks(len(matrix), experiment.spec.replications)
        label = f"calibrate round {r}/{settings.rounds}"
        tally = run_points(job, out, f"round{r}", chunks, workers, label, show_progress, scheduler)
        k, n = tally.total, np.maximum(tally.n, 1)
        a = settings.floor
        group_p = (k[:, : len(groups)] + a) / (n[:, : len(groups)] + 2 * a)
        matrices.append(matrix)
        proposals.append(proposal)
        logliks.append(np.log(group_p).sum(axis=1))
        estimates.append(k[:, len(groups) :] / n[:, len(groups) :])
    weights = _weights(matrices, proposals, logliks, bounds)
    fit = _report(experiment, observations, singles, matrices, logliks, estimates, weights)
    for name, table in (
        ("posterior", fit.posterior),
        ("fitted", fit.fitted),
        ("facts", fit.facts),
        ("outcomes", fit.outcomes),
    ):
        write_table(out, name, table)
    write_json_atomic(out / "summary.json", fit.summary)
    write_calibrated_scenario(experiment, observations, fit.fitted, fit.summary, out)
    finish(out, manifest)
    return fit


def _manifest(
    experiment: Experiment, observations: Observations, settings: Calibration
) -> dict[str, Any]:
    sc = experiment.scenario
    return {
        "kind": "calibrate",
        "experiment": {
            "name": experiment.name,
            "path": experiment.path,
            "hash": experiment.content_hash,
            "copy": "experiment.yaml",
        },
        "observations": {
            "name": observations.name,
            "path": observations.path,
            "hash": observations.content_hash,
            "copy": "observations.yaml",
        },
        "scenario": {
            "name": sc.name,
            "path": sc.path,
            "hash": sc.content_hash,
            "copy": "scenario.yaml",
        },
        "varied": experiment.parameter_names,
        "fixed": experiment.fixed,
        "seed": experiment.spec.seed,
        "replications": experiment.spec.replications,
        "calibration": settings.model_dump(),
        "versions": versions(),
        "started": now(),
        "finished": None,
    }


def _weights(
    matrices: list[np.ndarray],
    proposals: list[Proposal | None],
    logliks: list[np.ndarray],
    bounds: np.ndarray,
) -> np.ndarray:
    """Normalised importance weights of every candidate so far (uniform prior on the box).

    Each candidate is weighted by likelihood over the mixture of all rounds' proposals, each round
    counted by its number of candidates; round 1's proposal is the uniform prior itself.
    """
    x = np.vstack(matrices)
    sizes = np.array([len(m) for m in matrices], float)
    log_volume = np.log(bounds[:, 1] - bounds[:, 0]).sum()
    log_q = []
    for proposal in proposals:
        if proposal is None:
            log_q.append(np.full(len(x), -log_volume))
        else:
            log_q.append(proposal.log_density(x))
    log_mix = logsumexp(np.stack(log_q) + np.log(sizes / sizes.sum())[:, None], axis=0)
    log_w = np.concatenate(logliks) - log_volume - log_mix
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def _propose(
    x: np.ndarray,
    weights: np.ndarray,
    bounds: np.ndarray,
    settings: Calibration,
    rng: np.random.Generator,
) -> tuple[np.ndarray, Proposal]:
    """Draw the next round's candidates from a Gaussian mixture around the weighted ones."""
    keep = np.argsort(weights)[::-1][:MAX_COMPONENTS]
    keep = keep[weights[keep] > 0]
    means, w = x[keep], weights[keep] / weights[keep].sum()
    width = bounds[:, 1] - bounds[:, 0]
    cov = 2.0 * np.atleast_2d(np.cov(x.T, aweights=weights, ddof=0))
    cov += np.diag((1e-3 * width) ** 2)
    chol = np.linalg.cholesky(cov)
    drawn, tried = [], 0
    while sum(len(d) for d in drawn) < settings.candidates:
        batch = 4 * settings.candidates
        pick = rng.choice(len(means), size=batch, p=w)
        sample = means[pick] + rng.standard_normal((batch, x.shape[1])) @ chol.T
        inside = np.all((sample >= bounds[:, 0]) & (sample <= bounds[:, 1]), axis=1)
        drawn.append(sample[inside])
        tried += batch
    accepted = sum(len(d) for d in drawn)
    matrix = np.vstack(drawn)[: settings.candidates]
    return matrix, Proposal(means, w, chol, accepted / tried)


def _report(
    experiment: Experiment,
    observations: Observations,
    singles: list[FactGroup],
    matrices: list[np.ndarray],
    logliks: list[np.ndarray],
    estimates: list[np.ndarray],
    weights: np.ndarray,
) -> Fit:
    names = experiment.parameter_names
    x = np.vstack(matrices)
    loglik = np.concatenate(logliks)
    est = np.vstack(estimates)
    rounds = np.concatenate([np.full(len(m), i + 1) for i, m in enumerate(matrices)])
    posterior = pd.DataFrame(x, columns=names)
    posterior.insert(0, "round", rounds)
    posterior.insert(1, "candidate", np.arange(len(x)))
    posterior["loglik"] = loglik
    posterior["weight"] = weights
    best = int(np.argmax(loglik))
    ess = float(1.0 / np.square(weights).sum())
    rows = []
    for j, v in enumerate(experiment.varied):
        mean = float(np.sum(weights * x[:, j]))
        sd = float(np.sqrt(np.sum(weights * (x[:, j] - mean) ** 2)))
        q = np.quantile(x[:, j], QUANTILES, weights=weights, method="inverted_cdf")
        rows.append(
            {
                "parameter": v.name,
                "mean": mean,
                "sd": sd,
                "low": q[0],
                "median": q[1],
                "high": q[2],
                "best": x[best, j],
                "prior_low": v.low,
                "prior_high": v.high,
            }
        )
    fitted = pd.DataFrame(rows)
    first = rounds == 1
    singles_p, outcome_est = est[:, : len(singles)], est[:, len(singles) :]
    facts = pd.DataFrame(
        {
            "fact": [f.index for f in observations.facts],
            "label": [f.label for f in observations.facts],
            "source": [f.source for f in observations.facts],
            "p_prior": singles_p[first].mean(axis=0),
            "p_posterior": weights @ singles_p,
            "p_best": singles_p[best],
        }
    )
    outcome_rows = []
    for j, outcome in enumerate(experiment.outcomes):
        q = np.quantile(outcome_est[:, j], QUANTILES, weights=weights, method="inverted_cdf")
        outcome_rows.append(
            {
                "outcome": outcome.label,
                "prior_mean": outcome_est[first, j].mean(),
                "posterior_mean": float(weights @ outcome_est[:, j]),
                "low": q[0],
                "high": q[2],
                "best": outcome_est[best, j],
            }
        )
    summary = {
        "candidates": len(x),
        "rounds": len(matrices),
        "effective_sample_size": ess,
        "best_loglik": float(loglik[best]),
        "prior_mean_loglik": float(loglik[first].mean()),
        "likelihood": (experiment.spec.calibration or Calibration()).likelihood,
        "facts": len(observations.facts),
        "as_of": observations.spec.as_of,
    }
    return Fit(posterior, fitted, facts, pd.DataFrame(outcome_rows), summary)
