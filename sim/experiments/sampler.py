"""Posterior sampling for calibration: a screening design, then emcee's affine-invariant ensemble.

The prior is uniform on a box (each fitted parameter's range). The screening design (the
experiment's `design`, over the prior) is evaluated first; the walkers start at design points
drawn without replacement with probability proportional to their likelihood, so the ensemble
starts spread over the region the data favour. emcee (Foreman-Mackey et al. 2013) then moves the
walkers with its stretch move, evaluating half the ensemble at a time in one vectorised call. Every
evaluation is kept (a walker that stays put is not simulated again), and the state is checkpointed,
so an interrupted fit resumes to the same chain: the likelihood is deterministic (common random
numbers) and the sampler's random state is saved with the chain.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import emcee
import numpy as np

from sim.batch.store import write_bytes_atomic
from sim.experiments.likelihood import Evaluation

CHECKPOINT = "chain.npz"
CHECKPOINT_SECONDS = 20.0


@dataclass
class Store:
    """Every point evaluated so far, with its likelihood per case and its facts' probabilities."""

    x: list[np.ndarray] = field(default_factory=list)
    loglik: list[np.ndarray] = field(default_factory=list)
    case_loglik: list[np.ndarray] = field(default_factory=list)
    fact_p: list[np.ndarray] = field(default_factory=list)
    index: dict[bytes, int] = field(default_factory=dict)

    def add(self, x: np.ndarray, ev: Evaluation) -> None:
        base = sum(len(block) for block in self.x)
        for i, row in enumerate(x):
            self.index.setdefault(row.tobytes(), base + i)
        self.x.append(x)
        self.loglik.append(ev.loglik)
        self.case_loglik.append(ev.case_loglik)
        self.fact_p.append(ev.fact_p)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "x": np.vstack(self.x),
            "loglik": np.concatenate(self.loglik),
            "case_loglik": np.vstack(self.case_loglik),
            "fact_p": np.vstack(self.fact_p),
        }

    def rows(self, x: np.ndarray) -> np.ndarray:
        """Store rows of points already evaluated (each row of x must be in the store)."""
        return np.array([self.index[row.tobytes()] for row in x], dtype=np.int64)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Store:
        store = cls()
        ev = Evaluation(arrays["loglik"], arrays["case_loglik"], arrays["fact_p"])
        store.add(arrays["x"], ev)
        return store


@dataclass
class Chain:
    """The sampler's output: design, walkers' positions per step, and every evaluation."""

    design_rows: int  # the first rows of the store are the screening design
    coords: np.ndarray  # (steps, walkers, parameters)
    log_prob: np.ndarray  # (steps, walkers)
    acceptance: float
    store: dict[str, np.ndarray]


def sample(
    evaluate: Callable[[np.ndarray], Evaluation],
    bounds: np.ndarray,
    design: np.ndarray,
    walkers: int,
    steps: int,
    seed: int,
    checkpoint_dir: Path,
    resume: bool,
    on_step: Callable[[int], None] | None = None,
    identity: str = "",
) -> Chain:
    """Evaluate the design, start the walkers from it, and run emcee to `steps` rows of chain
    (the start is row 0). With `resume`, a checkpoint of this same chain (`identity`: what the
    likelihood depends on; the bounds, design, walkers and seed) is continued; a damaged one or
    one of another chain is computed again, as a damaged chunk is."""
    path = checkpoint_dir / CHECKPOINT
    key = _chain_key(identity, bounds, design, walkers, seed)
    saved = _load(path, key, (walkers, len(bounds))) if resume and path.is_file() else None
    if saved is None:
        store = Store()
        store.add(design, evaluate(design))
        start = _initial_walkers(store, walkers, seed)
        if not emcee.ensemble.walkers_independent(start):  # a grid's or Morris design's lattice
            start = _spread(start, bounds, seed)
            store.add(start, evaluate(start))
        coords = start[None]
        log_prob = np.concatenate(store.loglik)[store.rows(start)][None]
        accepted = np.zeros(walkers)
        random_state = np.random.RandomState(seed % 2**32).get_state()
        _save(path, store, coords, log_prob, accepted, random_state, len(design), key)
    else:
        store, coords, log_prob, accepted, random_state = saved
    start_state = emcee.State(coords[-1], log_prob=log_prob[-1], random_state=random_state)

    failed: list[Exception | KeyboardInterrupt] = []  # raised by `evaluate`, re-raised outside

    def log_posterior(x: np.ndarray) -> np.ndarray:
        inside = np.all((x >= bounds[:, 0]) & (x <= bounds[:, 1]), axis=1)
        out = np.full(len(x), -np.inf)
        new = [i for i in np.flatnonzero(inside) if x[i].tobytes() not in store.index]
        if new and not failed:
            unique = np.unique(x[new], axis=0)
            try:  # emcee prints a traceback of anything raised here (Ctrl-C too): carry it out
                store.add(unique, evaluate(unique))
            except (Exception, KeyboardInterrupt) as exc:
                failed.append(exc)
        if failed:
            return out
        known = np.flatnonzero(inside)
        if len(known):
            out[known] = np.concatenate(store.loglik)[store.rows(x[known])]
        return out

    sampler = emcee.EnsembleSampler(walkers, len(bounds), log_posterior, vectorize=True)
    chain_coords, chain_logp = list(coords), list(log_prob)
    last_save = time.monotonic()
    done = len(chain_coords)  # the walkers' start is the chain's first row
    if on_step:
        on_step(done)
    for state in sampler.sample(start_state, iterations=steps - done, store=False):
        if failed:  # this step is incomplete: the checkpoint keeps the steps before it
            raise failed[0]
        accepted += np.any(state.coords != chain_coords[-1], axis=1)
        chain_coords.append(state.coords.copy())
        chain_logp.append(state.log_prob.copy())
        done += 1
        if on_step:
            on_step(done)
        if time.monotonic() - last_save > CHECKPOINT_SECONDS or done == steps:
            _save(
                path, store, np.array(chain_coords), np.array(chain_logp), accepted,
                state.random_state, len(design), key,
            )  # fmt: skip
            last_save = time.monotonic()
    moves = max(len(chain_coords) - 1, 1)
    return Chain(
        len(design),
        np.array(chain_coords),
        np.array(chain_logp),
        float(accepted.mean() / moves),
        store.arrays(),
    )


def _initial_walkers(store: Store, walkers: int, seed: int) -> np.ndarray:
    """Distinct design points drawn with probability proportional to likelihood (Gumbel top-k)."""
    arrays = store.arrays()
    x, loglik = arrays["x"], arrays["loglik"]
    first = np.zeros(len(x), dtype=bool)  # a design may repeat a point (Morris): draw it once
    first[np.unique(x, axis=0, return_index=True)[1]] = True
    if first.sum() < walkers:
        raise ValueError(f"the design has {first.sum()} distinct points, fewer than {walkers}")
    rng = np.random.default_rng(np.random.SeedSequence((seed, 0x77616C6B)))
    keys = np.where(np.isfinite(loglik), loglik, -1e300) + rng.gumbel(size=len(x))
    keys[~first] = -np.inf
    return x[np.argsort(-keys)[:walkers]].copy()


def _spread(start: np.ndarray, bounds: np.ndarray, seed: int) -> np.ndarray:
    """Walkers moved a little (up to 5% of each range, reflected inside the box) off a lattice
    whose points share a value or a line, which the stretch move could never leave."""
    rng = np.random.default_rng(np.random.SeedSequence((seed, 0x737072)))
    width = bounds[:, 1] - bounds[:, 0]
    jitter = rng.uniform(-0.05, 0.05, start.shape) * width
    moved = start + jitter
    outside = (moved < bounds[:, 0]) | (moved > bounds[:, 1])
    return np.where(outside, start - jitter, moved)


def _save(
    path: Path,
    store: Store,
    coords: np.ndarray,
    log_prob: np.ndarray,
    accepted: np.ndarray,
    random_state: tuple,
    design_rows: int,
    key: str,
) -> None:
    """Write the chain, every evaluation, the sampler's random state and the chain's key
    atomically."""
    kind, keys, pos, has_gauss, gauss = random_state
    sink = io.BytesIO()
    np.savez(
        sink,
        coords=coords,
        log_prob=log_prob,
        accepted=accepted,
        rs_keys=keys,
        rs_rest=np.array([pos, has_gauss, gauss], dtype=float),
        design_rows=np.array(design_rows),
        key=np.array(key),
        **{f"store_{k}": v for k, v in store.arrays().items()},
    )
    write_bytes_atomic(path, sink.getvalue())


def _load(
    path: Path, key: str, shape: tuple[int, int]
) -> tuple[Store, np.ndarray, np.ndarray, np.ndarray, tuple] | None:
    """The checkpoint of the chain `key` ((walkers, parameters) `shape`), or None where the file
    is damaged, truncated or of another chain."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            store = Store.from_arrays(
                {k[6:]: data[k] for k in data.files if k.startswith("store_")}
            )
            pos, has_gauss, gauss = data["rs_rest"]
            random_state = ("MT19937", data["rs_keys"], int(pos), int(has_gauss), float(gauss))
            coords, log_prob, accepted = data["coords"], data["log_prob"], data["accepted"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    steps = coords.shape[0] if coords.ndim == 3 else 0
    if coords.shape[1:] != shape or log_prob.shape != (steps, shape[0]) or not steps:
        return None
    return store, coords, log_prob, accepted, random_state


def _chain_key(
    identity: str, bounds: np.ndarray, design: np.ndarray, walkers: int, seed: int
) -> str:
    """What a checkpoint must match to be continued: the likelihood, prior box, design, seed."""
    digest = hashlib.sha256(identity.encode())
    for array in (bounds, design):
        digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
    digest.update(f"{walkers}:{seed}".encode())
    return digest.hexdigest()


def autocorrelation(coords: np.ndarray) -> np.ndarray:
    """emcee's integrated autocorrelation time per parameter (a rough one on short chains)."""
    log = logging.getLogger("emcee.autocorr")
    level, log.level = log.level, logging.ERROR  # a short chain's warning: the summary says it
    try:
        with np.errstate(all="ignore"):  # a parameter that never moved has no autocorrelation
            return np.asarray(emcee.autocorr.integrated_time(coords, quiet=True), float)
    except (emcee.autocorr.AutocorrError, ValueError, FloatingPointError):
        return np.full(coords.shape[2], np.nan)
    finally:
        log.setLevel(level)


def effective_sample_size(tau: np.ndarray, samples: int) -> float:
    """Samples over the slowest parameter's autocorrelation time `tau`, never more than the
    samples (a rough time under one step on a short chain) and nan where no parameter has one."""
    known = tau[np.isfinite(tau) & (tau > 0)]
    if not len(known):
        return float("nan")
    return float(samples / max(1.0, known.max()))
