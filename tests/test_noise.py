"""The likelihood's noise check (`sim.experiments.noise`): its sd falls as the runs per point
rise, the best points' own values sit above other seeds' (the winner's curse), and a calibration
reports both in summary.json and on the console."""

from __future__ import annotations

import json

import numpy as np
import yaml
from case_helpers import synthetic_likelihood, write_cases, write_experiment
from model_helpers import alliance

from sim.experiments.fit_report import sampler_sentence
from sim.experiments.likelihood import Likelihood
from sim.experiments.noise import likelihood_noise

POINTS = np.column_stack([np.linspace(-5.5, -3.5, 12), np.linspace(1.0, 3.0, 12)])


def likelihood(tmp_path, runs: int) -> Likelihood:
    """The two synthetic cases' likelihood (the fitted disengage intercept and hazard slope)."""
    cases = write_cases(tmp_path, ("north", "south"))
    _, likelihood_of = synthetic_likelihood(tmp_path, cases, runs)
    return likelihood_of()


def test_the_noise_falls_as_the_square_root_of_the_runs(tmp_path):
    sds = []
    for runs in (20, 320):
        lik = likelihood(tmp_path / str(runs), runs)
        noise = likelihood_noise(lik, POINTS, lik(POINTS).loglik, points=12, seeds=4)
        assert noise.points == 12 and noise.seeds == 4
        assert noise.efficiency_cap == np.exp(-(noise.sd**2))
        sds.append(noise.sd)
    assert sds[1] > 0
    assert 2.5 < sds[0] / sds[1] < 6.5  # sqrt(16) = 4


def test_the_best_of_many_points_are_lucky(tmp_path):
    lik = likelihood(tmp_path, 20)
    x = np.random.default_rng(5).uniform([-6.0, 0.5], [-3.0, 3.5], size=(48, 2))
    noise = likelihood_noise(lik, x, lik(x).loglik, points=6, seeds=3)
    assert noise.winners_curse > 0.5 * noise.sd > 0


def test_a_calibration_reports_its_likelihood_noise(tmp_path, monkeypatch, capsys):
    cases = write_cases(tmp_path, ("north", "south"))
    path = write_experiment(tmp_path, cases, replications=20, points=8, walkers=4, steps=3, burn=1)
    data = yaml.safe_load(path.read_text())
    data["calibration"] = {"batch": 8, "effective_samples": 1000, "max_evaluations": 16}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    status, out, err = alliance(monkeypatch, capsys, "calibrate", path, "--out", tmp_path / "fit")
    assert status == 0, err
    noise = json.loads((tmp_path / "fit" / "summary.json").read_text())["likelihood_noise"]
    assert noise["points"] == 8 and noise["other_seeds"] == 8 and noise["sd"] > 0
    assert "winner's curse" in " ".join(out.split())


def test_low_effective_sample_blames_the_noise_not_the_budget_when_noise_is_high():
    summary = {
        "sampler": "importance", "samples": 4000, "evaluations": 4224, "batches": 16,
        "max_weight": 0.4, "effective_sample_size": 6.0,
    }  # fmt: skip
    assert "raise calibration.max_evaluations" in sampler_sentence(summary)
    noisy = {"points": 8, "other_seeds": 8, "sd": 2.1, "efficiency_cap": 0.01, "winners_curse": 2.5}
    text = sampler_sentence({**summary, "likelihood_noise": noisy})
    assert "max_evaluations" not in text
    assert "capped by the likelihood's noise" in text and "raise replications" in text
