"""The importance sampler (the calibration's default): recovers known posteriors (a correlated
Gaussian, one piled against its prior's edge) with fewer evaluations than the ensemble sampler
needs, is deterministic, resumes an interrupted run to the same result, and refuses settings of
the other sampler with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from case_helpers import write_cases, write_experiment
from model_helpers import alliance

from sim.experiments import importance
from sim.experiments.importance import kish, sample_importance, systematic_resample
from sim.experiments.likelihood import Evaluation

BOUNDS = np.array([[-8.0, 8.0], [-8.0, 8.0], [0.0, 4.0]])
MEAN = np.array([1.0, -2.0, 0.3])
SD = np.array([0.8, 1.5, 0.6])
CORRELATION = np.array([[1.0, 0.7, 0.0], [0.7, 1.0, -0.3], [0.0, -0.3, 1.0]])
COV = CORRELATION * np.outer(SD, SD)
DESIGN = BOUNDS[:, 0] + np.random.default_rng(3).random((64, 3)) * np.ptp(BOUNDS, axis=1)


def gaussian(calls: list[int] | None = None):
    """A Gaussian log-likelihood; the third parameter's mode (0.3) sits near its prior's edge 0."""
    precision = np.linalg.inv(COV)

    def evaluate(x: np.ndarray) -> Evaluation:
        if calls is not None:
            calls.append(len(x))
        z = x - MEAN
        loglik = -0.5 * np.einsum("ij,jk,ik->i", z, precision, z)
        return Evaluation(loglik, loglik[:, None], np.exp(loglik)[:, None])

    return evaluate


def exact_moments() -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the Gaussian truncated to the box, from a million exact draws."""
    draws = np.random.default_rng(0).multivariate_normal(MEAN, COV, size=1_000_000)
    draws = draws[np.all((draws >= BOUNDS[:, 0]) & (draws <= BOUNDS[:, 1]), axis=1)]
    return draws.mean(axis=0), draws.std(axis=0)


def run(folder: Path, evaluate=None, resume: bool = False, seed: int = 4):
    folder.mkdir(parents=True, exist_ok=True)
    return sample_importance(
        evaluate or gaussian(), BOUNDS, DESIGN, 64, 300, 2048, 3000, seed, folder, resume,
        identity="gaussian",
    )  # fmt: skip


def test_importance_sampling_recovers_a_known_posterior_in_few_evaluations(tmp_path):
    calls: list[int] = []
    result = run(tmp_path, gaussian(calls))
    mean, sd = exact_moments()
    samples = result.store["x"][result.draw_rows]
    # Monte Carlo error of a mean from an effective sample of 300 is sd / sqrt(300) = 0.06 sd.
    assert np.all(np.abs(samples.mean(axis=0) - mean) < 0.25 * sd)
    assert np.all(np.abs(samples.std(axis=0) / sd - 1) < 0.15)
    assert result.effective_sample_size >= 300
    assert sum(calls) <= 64 + 9 * 64  # about two effective samples per evaluated point
    assert min(calls) == 64  # every call a whole batch: the design, then batches of 64
    assert result.proposals[-1].tempering == 1.0
    assert len(samples) == 3000 and (samples >= BOUNDS[:, 0]).all()
    assert (samples <= BOUNDS[:, 1]).all()


def test_the_weights_are_bounded_by_the_prior_share_of_each_batch(tmp_path):
    result = run(tmp_path)
    assert all(p.uniform_share == importance.DEFENSIVE for p in result.proposals[1:])
    assert result.max_weight < 0.05  # no point dominates the weighted sample


def test_importance_sampling_is_deterministic_and_seeded(tmp_path):
    first, again = run(tmp_path / "a"), run(tmp_path / "b")
    np.testing.assert_array_equal(first.store["x"], again.store["x"])
    np.testing.assert_array_equal(first.draw_rows, again.draw_rows)
    other = run(tmp_path / "c", seed=5)
    assert not np.array_equal(first.store["x"], other.store["x"])


def test_an_interrupted_run_resumes_to_the_same_result_without_evaluating_again(tmp_path):
    reference = run(tmp_path / "reference")
    evaluate, calls = gaussian(), {"points": 0, "n": 0}

    def interrupted(x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return evaluate(x)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", interrupted)

    def counted(x):
        calls["points"] += len(x)
        return evaluate(x)

    resumed = run(tmp_path / "run", counted, resume=True)
    np.testing.assert_array_equal(resumed.store["x"], reference.store["x"])
    np.testing.assert_array_equal(resumed.draw_rows, reference.draw_rows)
    assert calls["points"] == len(reference.store["x"]) - len(DESIGN) - 64  # two calls kept


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        lambda p: p.write_bytes(b"not a checkpoint"),
    ],
    ids=["truncated", "not an archive"],
)
def test_a_damaged_or_foreign_checkpoint_is_computed_again(tmp_path, damage):
    reference = run(tmp_path / "reference")
    run(tmp_path / "other", seed=9)
    folder = tmp_path / "run"
    (folder).mkdir()
    (folder / "chain.npz").write_bytes((tmp_path / "other" / "chain.npz").read_bytes())
    assert np.array_equal(run(folder, resume=True).store["x"], reference.store["x"])
    damage(folder / "chain.npz")
    assert np.array_equal(run(folder, resume=True).store["x"], reference.store["x"])


def test_kish_and_systematic_resampling():
    assert kish(np.zeros(50)) == pytest.approx(50)
    assert kish(np.array([0.0, -np.inf, -np.inf])) == pytest.approx(1)
    log_weights = np.log([0.5, 0.25, 0.25])
    rows = systematic_resample(log_weights, 1000, np.random.default_rng(1))
    assert np.bincount(rows, minlength=3).tolist() == [500, 250, 250]


def test_a_sampler_that_stops_at_its_budget_says_so(tmp_path):
    result = sample_importance(
        gaussian(), BOUNDS, DESIGN, 16, 10_000, 48, 200, 1, tmp_path, False
    )  # an effective sample no budget of 48 points can give
    assert len(result.store["x"]) == len(DESIGN) + 48
    assert result.effective_sample_size < 10_000
    assert np.isfinite(result.effective_sample_size)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("importance")
    return folder, write_cases(folder, ("north", "south"))


@pytest.mark.parametrize(
    ("calibration", "phrases"),
    [
        ({"walkers": 8}, ["calibration", "walkers: setting(s) of sampler emcee"]),
        ({"sampler": "emcee", "batch": 64}, ["batch: setting(s) of sampler importance"]),
        ({"batch": 4}, ["calibration.batch", "greater than or equal to 8"]),
        ({"batch": 8}, ["calibration.batch", "expected at least"]),
        ({"sampler": "gibbs"}, ["calibration.sampler", "importance", "emcee"]),
        ({"effective_samples": 0}, ["calibration.effective_samples"]),
    ],
)
def test_bad_sampler_settings_give_one_line_and_status_2(
    library, monkeypatch, capsys, calibration, phrases
):
    import yaml

    folder, cases = library
    path = write_experiment(folder, cases, replications=20, points=16, walkers=4, steps=3, burn=1)
    data = yaml.safe_load(path.read_text())
    data["parameters"] = {f"{n}": {} for n in ("disengage_intercept", "hazard_slope")}
    data["parameters"].update(
        {"freeze_intercept": {}, "withdraw_intercept": {}, "trust_loss_unanswered": {}}
    )
    data["calibration"] = calibration
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = folder / "fit"
    status, _, err = alliance(monkeypatch, capsys, "calibrate", path, "--out", out)
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, err
    assert not out.exists()
