"""Posterior sampling by adaptive multiple importance sampling, in large batches.

The prior is uniform on a box. The screening design is the first batch (drawn from the prior).
Each later batch is drawn from a proposal fitted to every evaluation so far: a multivariate t
(scipy.stats) with the weighted mean and covariance of a tempered posterior, prior x likelihood^b
with the largest b <= 1 whose weights keep an effective sample of `FIT_ESS` points (so the first
proposals are wide and b reaches 1 as the sample fills the posterior), mixed with the uniform
prior box (`DEFENSIVE` of each batch), which bounds every weight by the likelihood over that share.
Every evaluation is kept and weighted by the deterministic mixture of all batches' proposals
(adaptive multiple importance sampling, Cornuet et al. 2012; the balance heuristic of Veach and
Guibas 1995): w = prior x likelihood / sum_t (n_t / n) q_t. Sampling stops once the last proposal
was fitted to the posterior itself (b = 1) and the weights' Kish effective sample size,
(sum w)^2 / sum w^2, reaches `effective_samples`, or at `max_evaluations`. The weighted sample is
resampled (systematic resampling) to `draws` equally weighted draws for the tables and later runs.

A batch is one call of the likelihood: hundreds of points simulated together, which is what the
lane engine and the workers are fastest at. The likelihood is deterministic (common random
numbers) and each batch draws from a random stream of its own (the seed and the batch's number),
so the state after a batch is checkpointed and an interrupted fit resumes to the same result.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_t

from sim.batch.store import write_bytes_atomic
from sim.experiments.likelihood import Evaluation
from sim.experiments.sampler import CHECKPOINT, Store

DEFENSIVE = 0.1  # share of each batch drawn from the uniform prior box: bounds every weight
DEGREES_OF_FREEDOM = 5  # the t proposal's: heavier tails than the posterior it is fitted to
FIT_ESS_PER_PARAMETER = 3  # effective points per fitted parameter behind each proposal's fit
INSIDE_DRAWS = 1 << 15  # draws that estimate the share of a proposal inside the prior box
MAX_REJECTION_ROUNDS = 100  # a proposal almost wholly outside the box: fill from the prior


@dataclass
class Proposal:
    """One batch's proposal: a t density truncated to the box, mixed with the uniform prior."""

    points: int  # drawn from it
    uniform_share: float  # 1 for the design: all prior
    mean: np.ndarray
    shape: np.ndarray
    log_inside: float  # log of the t's probability inside the box
    tempering: float  # the exponent b of the likelihood it was fitted to

    def log_density(self, x: np.ndarray, log_volume: float) -> np.ndarray:
        """Log density at points inside the box."""
        uniform = np.log(self.uniform_share) - log_volume if self.uniform_share > 0 else -np.inf
        if self.uniform_share >= 1.0:
            return np.full(len(x), uniform)
        t = multivariate_t(self.mean, self.shape, df=DEGREES_OF_FREEDOM, allow_singular=True)
        fitted = np.log1p(-self.uniform_share) + t.logpdf(x).reshape(len(x)) - self.log_inside
        return np.logaddexp(uniform, fitted)


@dataclass
class ImportanceRun:
    """The sampler's output: every evaluation, its weight, and the equally weighted draws."""

    design_rows: int  # the first rows of the store are the screening design
    store: dict[str, np.ndarray]
    log_weights: np.ndarray  # normalised, one per store row
    draw_rows: np.ndarray  # store row of each equally weighted draw
    batch_of_row: np.ndarray  # the batch (0: the design) that proposed each store row
    proposals: list[Proposal]

    @property
    def effective_sample_size(self) -> float:
        """Kish's effective sample size of the weights, (sum w)^2 / sum w^2."""
        return kish(self.log_weights)

    @property
    def max_weight(self) -> float:
        """The largest normalised weight (1 / that bounds the effective sample size)."""
        return float(np.exp(self.log_weights.max()))


def sample_importance(
    evaluate: Callable[[np.ndarray], Evaluation],
    bounds: np.ndarray,
    design: np.ndarray,
    batch: int,
    effective_samples: int,
    max_evaluations: int,
    draws: int,
    seed: int,
    checkpoint_dir: Path,
    resume: bool,
    identity: str = "",
) -> ImportanceRun:
    """Evaluate the design, then batches from proposals fitted to the weighted sample, until the
    effective sample (or `max_evaluations` points after the design) is reached; resample to
    `draws`. With `resume`, a checkpoint of this same run (`identity`: what the likelihood
    depends on) is continued; a damaged one or one of another run is computed again."""
    path = checkpoint_dir / CHECKPOINT
    key = _run_key(identity, bounds, design, batch, effective_samples, max_evaluations, seed)
    saved = _load(path, key, len(bounds)) if resume and path.is_file() else None
    log_volume = float(np.log(bounds[:, 1] - bounds[:, 0]).sum())
    if saved is None:
        store = Store()
        store.add(design, evaluate(design))
        proposals = [Proposal(len(design), 1.0, _center(bounds), np.eye(len(bounds)), 0.0, 0.0)]
        _save(path, store, proposals, key)
    else:
        store, proposals = saved
    fit_ess = FIT_ESS_PER_PARAMETER * len(bounds)
    while True:
        arrays = store.arrays()
        x, loglik = arrays["x"], arrays["loglik"]
        log_mixture = _log_mixture(proposals, x, log_volume)
        done = len(x) - len(design)
        ess = kish(loglik - log_mixture)
        if proposals[-1].tempering == 1.0 and ess >= effective_samples:
            break
        if done >= max_evaluations:
            break
        tempering = _tempering(loglik, log_mixture, fit_ess)
        proposal = _fit(x, tempering * loglik - log_mixture, bounds, tempering)
        rng = np.random.default_rng(np.random.SeedSequence((seed, 0x616D6973, len(proposals))))
        points = min(batch, max_evaluations - done)
        new, proposal = _draw(proposal, points, bounds, rng)
        store.add(new, evaluate(new))
        proposals.append(proposal)
        _save(path, store, proposals, key)
    log_weights = loglik - log_mixture
    log_weights -= logsumexp(log_weights)
    rng = np.random.default_rng(np.random.SeedSequence((seed, 0x64726177)))
    rows = rng.permutation(systematic_resample(log_weights, draws, rng))
    batch_of_row = np.repeat(np.arange(len(proposals)), [p.points for p in proposals])
    return ImportanceRun(len(design), arrays, log_weights, rows, batch_of_row, proposals)


def kish(log_weights: np.ndarray) -> float:
    """Kish's effective sample size, (sum w)^2 / sum w^2, from log weights."""
    finite = log_weights[np.isfinite(log_weights)]
    if not len(finite):
        return 0.0
    return float(np.exp(2 * logsumexp(finite) - logsumexp(2 * finite)))


def systematic_resample(
    log_weights: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """`draws` indices, index i about draws x w_i times (systematic resampling, one uniform)."""
    weights = np.exp(log_weights - logsumexp(log_weights))
    edges = np.cumsum(weights)
    edges[-1] = 1.0
    positions = (rng.random() + np.arange(draws)) / draws
    return np.searchsorted(edges, positions, side="right").astype(np.int64)


def _log_mixture(proposals: list[Proposal], x: np.ndarray, log_volume: float) -> np.ndarray:
    """Log of the deterministic mixture of every batch's proposal, each by its share of points."""
    total = sum(p.points for p in proposals)
    terms = [np.log(p.points / total) + p.log_density(x, log_volume) for p in proposals]
    return logsumexp(np.vstack(terms), axis=0)


def _tempering(loglik: np.ndarray, log_mixture: np.ndarray, fit_ess: float) -> float:
    """The largest b in [0, 1] whose weights likelihood^b / mixture keep `fit_ess` effective
    points (bisection; the effective sample falls as b rises)."""
    if kish(loglik - log_mixture) >= fit_ess:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        if kish(middle * loglik - log_mixture) >= fit_ess:
            low = middle
        else:
            high = middle
    return low


def _fit(x: np.ndarray, log_weights: np.ndarray, bounds: np.ndarray, tempering: float) -> Proposal:
    """A t proposal with the weighted mean and covariance (its variances at least 1% of each
    range's square, so that no direction collapses)."""
    w = np.exp(log_weights - logsumexp(log_weights))
    mean = w @ x
    centred = x - mean
    cov = (centred * w[:, None]).T @ centred / max(1.0 - (w**2).sum(), 1e-12)
    width = bounds[:, 1] - bounds[:, 0]
    cov += np.diag((0.01 * width) ** 2)
    return Proposal(0, DEFENSIVE, mean, cov, 0.0, tempering)


def _draw(
    proposal: Proposal, points: int, bounds: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, Proposal]:
    """`points` draws of the proposal inside the box: the uniform share from the prior, the rest
    from the t by rejection; the proposal returned with its share inside the box."""
    t = multivariate_t(proposal.mean, proposal.shape, df=DEGREES_OF_FREEDOM, allow_singular=True)
    low, high = bounds[:, 0], bounds[:, 1]

    def inside(y: np.ndarray) -> np.ndarray:
        return np.all((y >= low) & (y <= high), axis=1)

    share = inside(t.rvs(size=INSIDE_DRAWS, random_state=rng).reshape(-1, len(bounds))).mean()
    uniform = int(round(proposal.uniform_share * points)) if share > 0 else points
    kept: list[np.ndarray] = []
    wanted = points - uniform
    for _ in range(MAX_REJECTION_ROUNDS):
        if wanted <= 0:
            break
        y = t.rvs(size=max(2 * wanted, 16), random_state=rng).reshape(-1, len(bounds))
        y = y[inside(y)][:wanted]
        kept.append(y)
        wanted -= len(y)
    if wanted > 0:  # the t is nearly all outside the box: the prior fills the batch
        return _draw(Proposal(0, 1.0, proposal.mean, proposal.shape, 0.0, proposal.tempering),
                     points, bounds, rng)  # fmt: skip
    prior = low + rng.random((uniform, len(bounds))) * (high - low)
    x = np.vstack([prior, *kept]) if kept else prior
    done = Proposal(
        points, proposal.uniform_share if share > 0 else 1.0, proposal.mean, proposal.shape,
        float(np.log(max(share, 1.0 / INSIDE_DRAWS))), proposal.tempering,
    )  # fmt: skip
    return x, done


def _center(bounds: np.ndarray) -> np.ndarray:
    return bounds.mean(axis=1)


def _save(path: Path, store: Store, proposals: list[Proposal], key: str) -> None:
    """Write every evaluation and every proposal, with the run's key, atomically."""
    sink = io.BytesIO()
    np.savez(
        sink,
        key=np.array(key),
        points=np.array([p.points for p in proposals], dtype=np.int64),
        scalars=np.array([[p.uniform_share, p.log_inside, p.tempering] for p in proposals]),
        means=np.array([p.mean for p in proposals]),
        shapes=np.array([p.shape for p in proposals]),
        **{f"store_{k}": v for k, v in store.arrays().items()},
    )
    write_bytes_atomic(path, sink.getvalue())


def _load(path: Path, key: str, parameters: int) -> tuple[Store, list[Proposal]] | None:
    """The checkpoint of the run `key`, or None where the file is damaged or of another run."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            arrays = {k[6:]: data[k] for k in data.files if k.startswith("store_")}
            points, scalars = data["points"], data["scalars"]
            means, shapes = data["means"], data["shapes"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    batches = len(points)
    if (
        not batches
        or scalars.shape != (batches, 3)
        or means.shape != (batches, parameters)
        or shapes.shape != (batches, parameters, parameters)
        or arrays.get("x") is None
        or arrays["x"].shape != (int(points.sum()), parameters)
    ):
        return None
    proposals = [
        Proposal(int(n), float(s[0]), m, c, float(s[1]), float(s[2]))
        for n, s, m, c in zip(points, scalars, means, shapes, strict=True)
    ]
    return Store.from_arrays(arrays), proposals


def _run_key(
    identity: str,
    bounds: np.ndarray,
    design: np.ndarray,
    batch: int,
    effective_samples: int,
    max_evaluations: int,
    seed: int,
) -> str:
    """What a checkpoint must match to be continued: the likelihood, prior box, design, settings."""
    digest = hashlib.sha256(f"importance:{identity}".encode())
    for array in (bounds, design):
        digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
    digest.update(f"{batch}:{effective_samples}:{max_evaluations}:{seed}".encode())
    return digest.hexdigest()
