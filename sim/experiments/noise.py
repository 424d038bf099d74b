"""How noisy the simulated log-likelihood is where the posterior lies, measured, not assumed.

The likelihood is estimated from a finite number of runs per case with common random numbers
(one seed): a deterministic surface, but a rough one, and the roughness is the estimator's
noise. Importance weights multiply the likelihood, so noise of sd s nats in the log-likelihood
multiplies the weights by lognormal factors whose spread alone caps the effective sample at
about exp(-s^2) of the points however good the proposal (the variance of a lognormal,
Doucet, Pitt, Deligiannidis & Kohn 2015, Biometrika 102(2), on pseudo-marginal noise); and the
points with the highest simulated likelihood are partly the luckiest ones (the winner's curse).
This re-simulates the best points under other seeds and reports both (the console's sentence:
`sim.experiments.fit_report.noise_sentence`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.experiments.likelihood import Likelihood

NOISE_POINTS = 8  # the best distinct points re-simulated
NOISE_SEEDS = 8  # other seeds each is re-simulated under (fewer give too rough an sd)


@dataclass(frozen=True)
class LikelihoodNoise:
    """The simulated log-likelihood's noise at the best points, across seeds."""

    points: int
    seeds: int  # other seeds than the fit's
    sd: float  # nats: root mean over the points of the variance across the other seeds
    winners_curse: float  # nats: the fit's own value minus the other seeds' mean, on average
    efficiency_cap: float  # exp(-sd^2): the share of points the weights' noise leaves effective

    def record(self) -> dict[str, Any]:
        """The figures as summary.json keeps them."""
        return {
            "points": self.points,
            "other_seeds": self.seeds,
            "sd": round(self.sd, 3),
            "winners_curse": round(self.winners_curse, 3),
            "efficiency_cap": round(self.efficiency_cap, 4),
        }


def likelihood_noise(
    likelihood: Likelihood,
    x: np.ndarray,
    loglik: np.ndarray,
    points: int = NOISE_POINTS,
    seeds: int = NOISE_SEEDS,
) -> LikelihoodNoise:
    """Re-simulate the `points` distinct points of highest log-likelihood (`x`, `loglik`: every
    evaluation of the fit) under `seeds` other seeds (the fit's seed + 1, + 2, ...)."""
    _, first = np.unique(x, axis=0, return_index=True)
    order = first[np.argsort(-loglik[first], kind="stable")][:points]
    best = x[order]
    others = np.array([_reseeded(likelihood, k)(best).loglik for k in range(1, seeds + 1)])
    variance = others.var(axis=0, ddof=1) if seeds > 1 else np.zeros(len(best))
    sd = float(np.sqrt(variance.mean()))
    curse = float((loglik[order] - others.mean(axis=0)).mean())
    return LikelihoodNoise(len(best), seeds, sd, curse, float(np.exp(-(sd**2))))


def _reseeded(likelihood: Likelihood, offset: int) -> Likelihood:
    """The same likelihood under the seed `offset` after its own (other common random numbers)."""
    other = copy.copy(likelihood)
    other.seed = likelihood.seed + offset
    other.on_runs = None
    return other
