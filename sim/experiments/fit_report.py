"""Tables of a calibration: each parameter's posterior against its prior, what the data cannot
tell apart, each fact's and each case's fit, and the posterior samples that later runs draw from.

A parameter is `identified` when its posterior sd is at most half its prior's (the uniform
prior's sd is (high - low) / sqrt(12)), `weak` up to 0.8 of it, `not identified` above: the data
left it near its prior, and numbers that depend on it carry the prior's width. Two parameters
whose posterior correlation is at least 0.8 in size are `confounded`: the data identify a
combination of them, not each; fix one (or both) in the experiment and fit again rather than
read either one's interval.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.posterior import POSTERIOR_MANIFEST, POSTERIOR_TABLE, manifest_digest, record_id
from sim.batch.store import now, write_bytes_atomic, write_json_atomic
from sim.experiments.cases import CASE_SEP, Case
from sim.experiments.experiment import Experiment, VariedParameter

QUANTILES = (0.025, 0.5, 0.975)
IDENTIFIED_RATIO = 0.5
WEAK_RATIO = 0.8
CONFOUNDED = 0.8
NOISY_SD = 1.5  # nats of likelihood noise above which the weights' noise caps the sample near 10%


POSTERIOR_HEADERS = ("mean", "sd", "2.5%", "97.5%", "prior", "sd/prior", "verdict")


def posterior_rows(fitted: pd.DataFrame) -> list[list[str]]:
    """`fitted_table` as a reader meets it (console and report): parameter, then one text cell
    per `POSTERIOR_HEADERS`."""
    return [
        [
            r.parameter,
            *(f"{x:.3g}" for x in (r.mean, r.sd, r.low, r.high)),
            f"[{r.prior_low:g}, {r.prior_high:g}]",
            f"{r.sd_ratio:.2f}",
            r.identification,
        ]
        for r in fitted.itertuples()
    ]


def sampler_sentence(summary: dict[str, Any]) -> str:
    """What the sampler did, in one sentence (console and report): samples, how they were
    drawn, the effective sample size, and a warning where it is low."""
    s, ess = summary, summary["effective_sample_size"]
    if s.get("sampler") == "importance":
        how = (
            f"{s['samples']} posterior samples (resampled from {s['evaluations']} weighted "
            f"points in {s['batches']} batches), effective sample size {ess:.0f} (Kish), "
            f"largest weight {s['max_weight']:.3f}"
        )
        low = " (low: raise calibration.max_evaluations)"
    else:
        how = (
            f"{s['samples']} posterior samples ({s['walkers']} walkers x "
            f"{s['steps'] - s['burn']} steps after burn-in), effective sample size {ess:.0f}, "
            f"acceptance {s['acceptance_fraction']:.2f}"
        )
        low = " (low: run more steps)"
    noise = summary.get("likelihood_noise")
    if noise and noise["sd"] > NOISY_SD:  # a bigger budget cannot lift the noise's cap
        low = " (low: capped by the likelihood's noise below, not by the budget)"
    how += low if not ess >= 50 else ""
    return how + ("; " + noise_sentence(noise) if noise else "")


def noise_sentence(noise: dict[str, Any]) -> str:
    """The noise figures in one sentence (console and report), with a warning where high."""
    text = (
        f"the simulated log-likelihood's noise at the {noise['points']} best points: sd "
        f"{noise['sd']:.1f} nats across {noise['other_seeds']} other seeds (caps the effective "
        f"sample near {noise['efficiency_cap']:.0%} of the points); the best points' own values "
        f"lie {noise['winners_curse']:.1f} nats above the other seeds' (winner's curse)"
    )
    if noise["sd"] > NOISY_SD:
        text += " (high: the posterior leans on lucky runs; raise replications)"
    return text


def prior_sd(v: VariedParameter) -> float:
    """The sd of a uniform prior on [low, high]."""
    return (v.high - v.low) / np.sqrt(12.0)


def identification(ratio: float) -> str:
    """`identified`, `weak` or `not identified`, from posterior sd / prior sd."""
    if ratio <= IDENTIFIED_RATIO:
        return "identified"
    return "weak" if ratio <= WEAK_RATIO else "not identified"


def fitted_table(
    names: list[str], ranges: list[VariedParameter], samples: np.ndarray, best: np.ndarray
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Posterior summaries per parameter against the prior, and the confounded pairs."""
    corr = np.atleast_2d(np.corrcoef(samples.T)) if len(names) > 1 else np.ones((1, 1))
    pairs = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if np.isfinite(corr[i, j]) and abs(corr[i, j]) >= CONFOUNDED:
                pairs.append({"parameters": [names[i], names[j]], "correlation": corr[i, j]})
    rows = []
    for j, (name, v) in enumerate(zip(names, ranges, strict=True)):
        column = samples[:, j]
        sd = float(column.std())
        ratio = sd / prior_sd(v)
        q = np.quantile(column, QUANTILES)
        partners = [
            f"{p['parameters'][1 - p['parameters'].index(name)]} ({p['correlation']:+.2f})"
            for p in pairs
            if name in p["parameters"]
        ]
        rows.append(
            {
                "parameter": name,
                "case": name.split(CASE_SEP, 1)[1] if CASE_SEP in name else "shared",
                "mean": float(column.mean()),
                "sd": sd,
                "low": q[0],
                "median": q[1],
                "high": q[2],
                "best": best[j],
                "prior_low": v.low,
                "prior_high": v.high,
                "prior_sd": prior_sd(v),
                "sd_ratio": ratio,
                "identification": identification(ratio),
                "confounded_with": "; ".join(partners),
            }
        )
    return pd.DataFrame(rows), pairs


def correlation_table(names: list[str], samples: np.ndarray) -> pd.DataFrame:
    """The posterior correlation matrix, one row per parameter."""
    corr = np.atleast_2d(np.corrcoef(samples.T)) if len(names) > 1 else np.ones((1, 1))
    frame = pd.DataFrame(corr, columns=names)
    frame.insert(0, "parameter", names)
    return frame


def facts_table(
    cases: list[Case], prior_p: np.ndarray, posterior_p: np.ndarray, best_p: np.ndarray
) -> pd.DataFrame:
    """Each fact's probability under the prior, the posterior and the best point."""
    rows = []
    for case in cases:
        for fact in case.observations.facts:
            rows.append(
                {
                    "case": case.name,
                    "fact": fact.index,
                    "label": fact.label,
                    "source": fact.source,
                }
            )
    frame = pd.DataFrame(rows)
    frame["p_prior"], frame["p_posterior"], frame["p_best"] = prior_p, posterior_p, best_p
    return frame


def cases_table(
    cases: list[Case], prior: np.ndarray, posterior: np.ndarray, best: np.ndarray
) -> pd.DataFrame:
    """Per case: its facts and months, and its log-likelihood under prior, posterior and best."""
    return pd.DataFrame(
        {
            "case": [c.name for c in cases],
            "scenario": [c.scenario.path for c in cases],
            "observations": [c.observations.path for c in cases],
            "members": [len(c.scenario.members) for c in cases],
            "facts": [c.facts for c in cases],
            "months_simulated": [c.months for c in cases],
            "loglik_prior": prior,
            "loglik_posterior": posterior,
            "loglik_best": best,
        }
    )


def write_posterior(
    out: Path,
    experiment: Experiment,
    cases: list[Case],
    names: list[str],
    ranges: list[VariedParameter],
    table: pd.DataFrame,
) -> dict[str, Any]:
    """Write the posterior samples (Parquet) and the manifest that later runs read them by."""
    sink = io.BytesIO()
    table.to_parquet(sink, index=False)
    data = sink.getvalue()
    write_bytes_atomic(out / POSTERIOR_TABLE, data)
    write_bytes_atomic(out / "posterior.csv", table.to_csv(index=False).encode())
    manifest = {
        "kind": "posterior",
        "table": POSTERIOR_TABLE,
        "hash": hashlib.sha256(data).hexdigest(),
        "samples": len(table),
        "experiment": {"name": experiment.name, "path": experiment.path},
        "cases": [
            {
                "name": c.name,
                "scenario": c.scenario.name,
                "facts": c.facts,
                "record": record_id(c.scenario),
            }
            for c in cases
        ],
        "parameters": {
            name: {
                "parameter": v.name,
                "case": name.split(CASE_SEP, 1)[1] if CASE_SEP in name else None,
                "prior_low": v.low,
                "prior_high": v.high,
            }
            for name, v in zip(names, ranges, strict=True)
        },
        "fixed": experiment.fixed,
        "created": now(),
    }
    manifest["manifest_hash"] = manifest_digest(manifest)
    write_json_atomic(out / POSTERIOR_MANIFEST, manifest)
    return manifest
