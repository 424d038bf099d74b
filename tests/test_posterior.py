"""Posterior-predictive runs: each lane its own parameter draw, reproducible from the seed and the
replication alone, carried by batches, sweeps and backtests, and said so in their outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_helpers import DATA, alliance, write_posterior

from sim.batch.jobs import RunOptions
from sim.batch.posterior import load_posterior, uncertainty_note
from sim.batch.results import load, summarize
from sim.batch.runner import run_batch
from sim.model.errors import InputError
from sim.plots import figure

SCENARIO = DATA / "many_alike.yaml"  # 16 alike members: P(disengage) = logistic(intercept)
MONTHS = 36
TWO_WORLDS = (-2.0, -9.0)  # a posterior with two very different samples


def test_draws_depend_only_on_the_seed_and_the_replication(tmp_path):
    draws = load_posterior(write_posterior(tmp_path / "p", tuple(np.linspace(-9, -2, 50))))
    whole = draws.indices(7, 0, 3500)
    assert np.array_equal(whole[1500:2700], draws.indices(7, 1500, 1200))
    assert not np.array_equal(whole, draws.indices(8, 0, 3500))
    assert len(np.unique(whole)) == 50  # every sample is used
    lanes = draws.lane_values(7, 10, 5, points=3)["disengage_intercept"]
    assert np.array_equal(lanes, np.tile(draws.samples[whole[10:15], 0], 3))
    assert draws.names == ("disengage_intercept", "contagion_weight")  # the fit's fixed value


def test_a_batch_mixes_the_posterior_samples_identically_for_any_chunking(tmp_path):
    posterior = write_posterior(tmp_path / "p", TWO_WORLDS)
    one = run_batch(
        SCENARIO,
        tmp_path / "a",
        4000,
        seed=3,
        options=RunOptions(workers=1),
        posterior=posterior,
        runs_per_draw=1,
    )
    two = run_batch(
        SCENARIO,
        tmp_path / "b",
        4000,
        seed=3,
        options=RunOptions(workers=2),
        chunk_size=1000,
        posterior=posterior,
        runs_per_draw=1,
    )
    (a, _), b = summarize(one.out), load(two.out)
    pd.testing.assert_frame_equal(a.curves, b.curves)
    p = [1 - (1 - 1 / (1 + np.exp(-x))) ** MONTHS for x in TWO_WORLDS]
    mixture = float(np.mean(p))  # ~0.50; the plug-in at the mean intercept gives ~0.14
    final = a.curves[(a.curves["stage"] == "disengaged") & (a.curves["month"] == MONTHS - 1)]
    assert final["probability"].mean() == pytest.approx(mixture, abs=0.02)
    assert a.manifest.posterior.experiment == "hand_made"
    document = json.loads((one.out / "summary" / "summary.json").read_text())
    assert (
        "parameter uncertainty" in document["uncertainty"]
        and "hand_made" in document["uncertainty"]
    )


def test_the_report_and_the_console_say_the_bands_carry_parameter_uncertainty(
    tmp_path, monkeypatch, capsys
):
    posterior = write_posterior(tmp_path / "p", TWO_WORLDS)
    out = tmp_path / "b"
    status, printed, _ = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--runs", "1000", "--workers", "1", "--out", out,
        "--posterior", posterior,
    )  # fmt: skip
    assert status == 0 and "bands carry parameter uncertainty" in printed
    status, _, _ = alliance(monkeypatch, capsys, "report", out)
    html = (out / "report.html").read_text()
    assert "parameter uncertainty" in html and f"--posterior {posterior}" in html


def test_a_backtest_under_a_posterior_draws_per_replication(tmp_path):
    from sim.experiments.backtest import backtest

    path = _m01_not_disengaged(tmp_path, "2032-12")
    posterior = write_posterior(tmp_path / "p", TWO_WORLDS)
    result = backtest(
        SCENARIO, path, tmp_path / "bt", runs=4000, options=RunOptions(workers=1, progress=False),
        condition=False, posterior=posterior,
    )  # fmt: skip
    p = np.mean([1 - (1 - 1 / (1 + np.exp(-x))) ** MONTHS for x in TWO_WORLDS])
    assert result.events["p_model"].iloc[0] == pytest.approx(p, abs=0.03)
    assert result.in_sample and "fitted on case 'many_alike'" in result.in_sample  # it saw them
    summary = json.loads((tmp_path / "bt" / "summary.json").read_text())
    assert summary["in_sample"] == result.in_sample


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda d: d.mkdir(), "no posterior.json"),
        (
            lambda d: (write_posterior(d, TWO_WORLDS) / "posterior.parquet").write_bytes(b"x"),
            "hash",
        ),
    ],
)
def test_a_bad_posterior_directory_gives_one_line_and_status_2(
    tmp_path, monkeypatch, capsys, make, phrase
):
    folder = tmp_path / "cal"
    make(folder)
    out = tmp_path / "b"
    status, _, err = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--runs", "1000", "--out", out,
        "--posterior", folder,
    )  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert err.strip().startswith("error: --posterior") and phrase in err, err
    assert not out.exists()


def test_a_sweep_draws_the_parameters_it_does_not_vary(tmp_path):
    import yaml

    from sim.experiments.sweep import sweep

    experiment = tmp_path / "sweep.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "name": "two_worlds_sweep",
                "description": "trust drift has no effect here; the intercept is drawn",
                "scenario": str(SCENARIO),
                "seed": 4,
                "replications": 4000,
                "parameters": {"trust_drift": {"values": [0.0, 0.05]}},
                "design": {"method": "grid"},
                "outcomes": [
                    {"kind": "reach_stage", "member": "M01", "stage": "disengaged", "by": "2032-12"}
                ],
            }
        )
    )
    posterior = write_posterior(tmp_path / "p", TWO_WORLDS)
    results = sweep(
        experiment,
        tmp_path / "s",
        options=RunOptions(workers=1, progress=False),
        posterior=posterior,
    )
    p = np.mean([1 - (1 - 1 / (1 + np.exp(-x))) ** MONTHS for x in TWO_WORLDS])
    assert results["estimate"].to_numpy() == pytest.approx([p, p], abs=0.03)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["posterior"]["parameters"] == ["disengage_intercept", "contagion_weight"]


ELSEWHERE = (("another_alliance", "another_scenario"),)  # a fit that never saw many_alike


def _m01_not_disengaged(folder: Path, by: str = "2030-12") -> Path:
    """An observations file with one fact: M01 not disengaged by `by` (also its as-of date)."""
    from sim.experiments.observations import dump_observations

    path = folder / "record.yaml"
    record = {
        "name": "record",
        "description": "M01 stayed in",
        "as_of": by,
        "facts": [{"member": "M01", "stage": "disengaged", "not_reached_by": by, "source": "test"}],
    }
    path.write_text(dump_observations(record))
    return path


def test_a_conditioned_forecast_weighs_each_runs_parameter_draw_by_the_record(tmp_path):
    """Two worlds, one record: M01 did not disengage in its first twelve months, which is likely
    at intercept -9 and unlikely at -2. A lane resampled by the record keeps its draw, so the
    other members' chances after it follow the worlds' posterior weights (Bayes), not the prior
    mixture (about 0.50) they would keep if the draws stayed where the lanes were."""
    from sim.experiments.forecast import forecast

    posterior = write_posterior(tmp_path / "p", TWO_WORLDS, cases=ELSEWHERE)
    record = _m01_not_disengaged(tmp_path)
    runs = 6000
    outs = []
    for name, chunk, workers in (("a", 2000, 1), ("b", 3000, 2)):
        outs.append(
            forecast(
                SCENARIO,
                record,
                tmp_path / name,
                runs,
                seed=5,
                options=RunOptions(workers=workers),
                chunk_size=chunk,
                reached_in="condition",
                posterior=posterior,
                runs_per_draw=1,  # the mixture: every run its own draw
            ).batch.out  # fmt: skip
        )
    a, b = (load(out) for out in outs)
    assert a.first_passage().equals(b.first_passage())  # any chunking and workers
    hazards = [1 / (1 + np.exp(-x)) for x in TWO_WORLDS]
    weights = np.array([0.5 * (1 - h) ** 12 for h in hazards])
    weights /= weights.sum()  # world -2 keeps about 18% of the weight
    later = np.array([1 - (1 - h) ** MONTHS for h in hazards])
    expected = float(weights @ later)  # about 0.18, against the prior mixture's 0.50
    months = a.first_passage()["month"].to_numpy().reshape(runs, 16, 3)[:, :, 0]
    others = (months[:, 1:] >= 0).mean()
    assert others == pytest.approx(expected, abs=0.03)
    assert (months[:, 0][months[:, 0] >= 0] >= 12).all()  # the record holds in every run
    assert "weighs the draws" in uncertainty_note(a.manifest)
    (update,) = a.manifest.conditioning["parameters"]  # the fitted one, not the held one
    assert update["parameter"] == "disengage_intercept"
    assert update["drawn_mean"] == pytest.approx(float(np.mean(TWO_WORLDS)), abs=0.15)
    kept_mean = float(weights @ np.array(TWO_WORLDS))  # about -7.7
    assert update["kept_mean"] == pytest.approx(kept_mean, abs=0.25)
    assert a.manifest.conditioning == b.manifest.conditioning  # exact in any chunking
    from sim.report.html import write_report

    html = write_report(outs[0]).read_text(encoding="utf-8")
    assert "kept its draw when resampled" in html and "disengage_intercept" in html
    fig = figure([outs[0]], "defection-curves")
    title = " ".join(fig.legends[0].get_title().get_text().split())  # wrapped at 90 characters
    assert "posterior of hand_made (1 case)" in title and "held to the 1 fact known" in title


def test_a_posterior_fitted_on_the_scenarios_own_record_is_refused(tmp_path, monkeypatch, capsys):
    posterior = write_posterior(tmp_path / "p", TWO_WORLDS)  # fitted on many_alike itself
    out = tmp_path / "fc"
    status, _, err = alliance(
        monkeypatch, capsys, "forecast", SCENARIO, "--observations", _m01_not_disengaged(tmp_path),
        "--out", out, "--runs", "1000", "--posterior", posterior,
    )  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: --posterior") and "count twice" in err
    assert "folds/many_alike" in err
    assert not out.exists()


def test_a_conditioned_backtest_scores_the_later_facts_under_the_updated_draws(tmp_path):
    """Conditioned on M01 staying through 2030 (the origin), M02's chance of disengaging by
    2032-12 is the two worlds' posterior mixture; the fit that saw many_alike is refused."""
    from sim.experiments.backtest import backtest
    from sim.experiments.observations import dump_observations

    path = tmp_path / "record.yaml"
    facts = [
        {"member": "M01", "stage": "disengaged", "not_reached_by": "2030-12", "source": "test"},
        {"member": "M02", "stage": "disengaged", "not_reached_by": "2032-12", "source": "test"},
    ]
    record = {"name": "two", "description": "two facts", "as_of": "2032-12", "facts": facts}
    path.write_text(dump_observations(record))
    posterior = write_posterior(tmp_path / "p", TWO_WORLDS, cases=ELSEWHERE)
    result = backtest(
        SCENARIO, path, tmp_path / "bt", runs=6000, seed=2,
        options=RunOptions(workers=1, progress=False), origin="2030-12", reached_in="condition",
        posterior=posterior,
    )  # fmt: skip
    hazards = [1 / (1 + np.exp(-x)) for x in TWO_WORLDS]
    weights = np.array([0.5 * (1 - h) ** 12 for h in hazards])
    weights /= weights.sum()
    expected = float(weights @ np.array([1 - (1 - h) ** MONTHS for h in hazards]))
    (scored,) = result.events["p_model"]  # only M02's fact is after the origin
    assert scored == pytest.approx(expected, abs=0.03)
    assert result.in_sample is None  # a fit on other cases: out of sample
    with pytest.raises(InputError, match="count twice"):
        backtest(
            SCENARIO, path, tmp_path / "bt2", runs=1000,
            options=RunOptions(workers=1, progress=False), origin="2030-12",
            posterior=write_posterior(tmp_path / "own", TWO_WORLDS),
        )  # fmt: skip
    assert not (tmp_path / "bt2").exists()
