"""The importance sampler (the calibration's default): recovers known posteriors (a correlated
Gaussian, one piled against its prior's edge) with fewer evaluations than the ensemble sampler
needs, is deterministic, resumes an interrupted run to the same result, and refuses settings of
the other sampler with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from case_helpers import synthetic_likelihood, write_cases, write_experiment
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
        ({"timing": "exact"}, ["calibration.timing", "window", "by"]),
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


def test_an_interrupted_calibration_resumes_to_the_same_posterior(
    library, tmp_path, monkeypatch, capsys
):
    import pandas as pd
    import yaml

    from sim.experiments.likelihood import Likelihood

    folder, cases = library
    path = write_experiment(folder, cases, replications=20, points=8, walkers=4, steps=3, burn=1)
    data = yaml.safe_load(path.read_text())
    data["calibration"] = {"batch": 8, "effective_samples": 1000, "max_evaluations": 24}
    path = folder / "resumed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    status, _, err = alliance(monkeypatch, capsys, "calibrate", path, "--out", tmp_path / "whole")
    assert status == 0, err
    original, calls = Likelihood.__call__, {"n": 0}

    def interrupted(self, matrix):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, matrix)

    monkeypatch.setattr(Likelihood, "__call__", interrupted)
    out = tmp_path / "cut"
    status, _, err = alliance(monkeypatch, capsys, "calibrate", path, "--out", out)
    assert status == 130 and "--resume" in err, err
    monkeypatch.undo()
    status, _, err = alliance(monkeypatch, capsys, "calibrate", path, "--out", out, "--resume")
    assert status == 0, err
    whole = pd.read_parquet(tmp_path / "whole" / "posterior.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "posterior.parquet"), whole)
    assert set(whole["step"]) <= {0, 1, 2, 3} and "walker" not in whole


def test_cross_validation_and_posterior_runs_use_the_importance_posterior(
    library, tmp_path, monkeypatch, capsys
):
    import json

    import pandas as pd
    import yaml

    folder, cases = library
    path = write_experiment(folder, cases, replications=20, points=8, walkers=4, steps=3, burn=1)
    data = yaml.safe_load(path.read_text())
    data["calibration"] = {"batch": 8, "effective_samples": 1000, "max_evaluations": 16}
    path = folder / "crossval.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "cv"
    args = ("crossval", path, "--out", out, "--runs", 100, "--workers", 1)
    status, _, err = alliance(monkeypatch, capsys, *args)
    assert status == 0, err
    for case in ("north", "south"):
        summary = json.loads((out / "folds" / case / "summary.json").read_text())
        assert summary["sampler"] == "importance"
        # the run on both cases (8 + 16 points) is every fold's start: each adds 16 points
        assert summary["reused_evaluations"] == 8 + 16 and summary["evaluations"] == 8 + 16 + 16
        assert len(pd.read_parquet(out / "folds" / case / "posterior.parquet")) == 4000
    assert len(pd.read_parquet(out / "events.parquet")) > 0
    scenario = cases[0]["scenario"]
    fold = out / "folds" / "south"  # fitted without south: north's posterior run may use it
    args = ("batch", folder / scenario, "--posterior", fold, "--runs", 200, "--out", tmp_path / "b")
    status, _, err = alliance(monkeypatch, capsys, *args, "--no-summary")
    assert status == 0, err


def test_a_full_disk_in_an_importance_fit_names_the_file_and_the_resume_command(
    library, tmp_path, monkeypatch, capsys
):
    import errno

    import yaml

    folder, cases = library
    path = write_experiment(folder, cases, replications=20, points=8, walkers=4, steps=3, burn=1)
    data = yaml.safe_load(path.read_text())
    data["calibration"] = {"batch": 8, "effective_samples": 1000, "max_evaluations": 16}
    path = folder / "full_disk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    real_save, saves = importance._save, {"n": 0}

    def fills_up(target, *args):
        saves["n"] += 1
        if saves["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        real_save(target, *args)

    monkeypatch.setattr(importance, "_save", fills_up)
    out = tmp_path / "fit"
    status, _, err = alliance(monkeypatch, capsys, "calibrate", path, "--out", out)
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert status == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert "chain.npz" in lines[0] and "No space left on device" in lines[0]
    assert f"finish with: alliance calibrate {path} --out {out} --resume" in lines[0]
    monkeypatch.undo()
    status, _, err = alliance(monkeypatch, capsys, "calibrate", path, "--out", out, "--resume")
    assert status == 0, err


def pooled_likelihood(library):
    """The two synthetic cases loaded, and a maker of their likelihood at 20 runs a point."""
    return synthetic_likelihood(*library)


def test_a_case_likelihood_is_the_same_in_any_company(library):
    """What lets a fold reuse the run on every case: a case's log-likelihood at a point does not
    depend on which other cases are fitted with it."""
    from sim.experiments.crossval import fact_columns
    from sim.experiments.importance import ImportanceRun, restrict

    loaded, likelihood_of = pooled_likelihood(library)

    def likelihood(chosen):
        return likelihood_of(chosen, "by_member", "window")

    x = np.array([[-4.0, 2.0], [-3.0, 1.0], [-6.0, 4.0]])
    both = likelihood(loaded)(x)
    store = {"x": x, "loglik": both.loglik, "case_loglik": both.case_loglik, "fact_p": both.fact_p}
    run = ImportanceRun(0, store, np.zeros(0), np.zeros(0), np.zeros(0), [])
    alone = likelihood(loaded[1:])(x)
    start = restrict(run, [1], fact_columns(loaded, [1]))
    np.testing.assert_allclose(start.arrays["loglik"], alone.loglik)
    np.testing.assert_array_equal(start.arrays["fact_p"], alone.fact_p)


def test_timing_by_counts_a_run_that_reached_the_stage_by_the_facts_month(library):
    """`timing: by` (a current-status likelihood): a fact "reached in month m" holds for every run
    that reached the stage by m, however early, and for none that reached it later; the default
    holds it within `window` months either side. Other facts are unchanged."""
    loaded, likelihood_of = pooled_likelihood(library)

    def groups(timing):
        likelihood = likelihood_of(loaded, "independent", timing)
        return [g for case in likelihood.groups for g in case]

    windowed, by = groups("window"), groups("by")
    kinds = {g.facts[0].kind for g in windowed}
    assert "reached_in" in kinds and len(kinds) > 1
    checked = 0
    for w, b in zip(windowed, by, strict=True):
        fact = w.facts[0]
        m = fact.month
        first_passage = np.full((5, fact.member + 1, 3), -1)
        first_passage[:, fact.member, fact.stage - 1] = [0, m - 3, m, m + 3, -1]
        if fact.kind != "reached_in":
            assert b.facts[0].kind == fact.kind
            np.testing.assert_array_equal(b.per_run(first_passage), w.per_run(first_passage))
        elif m > 6:  # month 0 lies outside the window
            np.testing.assert_array_equal(w.per_run(first_passage), [0, 1, 1, 1, 0])
            np.testing.assert_array_equal(b.per_run(first_passage), [1, 1, 1, 0, 0])
            checked += 1
    assert checked


def test_a_case_with_its_own_replications_is_run_that_many_times(library):
    """`cases[i].replications`: that case's likelihood comes from its own count of runs (where
    its facts carry the likelihood's noise), the others' from the experiment's."""
    from dataclasses import replace

    loaded, likelihood_of = pooled_likelihood(library)
    x = np.array([[-4.0, 2.0], [-3.0, 1.0]])
    more = [replace(loaded[0], replications=80), loaded[1]]
    mixed = likelihood_of(more, "by_member", "window")
    assert mixed.runs == [80, 20]
    got = mixed(x)
    as_80 = likelihood_of(loaded[:1], "by_member", "window")
    as_80.replications, as_80.runs = 80, [80]
    np.testing.assert_allclose(got.case_loglik[:, 0], as_80(x).case_loglik[:, 0])
    alone = likelihood_of(loaded[1:], "by_member", "window")(x)
    np.testing.assert_allclose(got.case_loglik[:, 1], alone.case_loglik[:, 0])
    assert mixed.identity() != likelihood_of(loaded, "by_member", "window").identity()
