"""Two intervals that say what they cover: the spread of a probability across the posterior's
parameter draws (D draws x k runs each) and its Monte Carlo error, for any chunking."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from model_helpers import DATA, alliance, write_posterior

from sim.batch.draws import parameter_interval, weighted_quantile
from sim.batch.jobs import RunOptions
from sim.batch.posterior import load_posterior
from sim.batch.results import load, summarize
from sim.batch.runner import run_batch
from sim.model.errors import InputError

SCENARIO = DATA / "many_alike.yaml"  # P(M disengaged by month t) = 1 - (1 - logistic(x))^(t+1)
MONTHS = 36
NARROW = tuple(np.linspace(-4.6, -4.2, 40))  # intercepts: a posterior with a known spread
WIDE = tuple(np.linspace(-6.0, -3.0, 40))


def _p(intercept: np.ndarray, months: int = MONTHS) -> np.ndarray:
    return 1.0 - (1.0 - 1.0 / (1.0 + np.exp(-np.asarray(intercept)))) ** months


def test_the_parameter_interval_recovers_a_known_spread_from_noisy_draws():
    """Each draw's share from k runs is noisy; less that noise, the interval is the spread."""
    rng = np.random.default_rng(1)
    truth = rng.beta(8, 12, 2000)  # the draws' true probabilities: mean 0.4, sd 0.11
    k = 100
    events = rng.binomial(k, truth)
    low, high = parameter_interval(events, np.full(2000, k))
    raw_low, raw_high = np.quantile(events / k, (0.025, 0.975))
    assert low == pytest.approx(np.quantile(truth, 0.025), abs=0.012)
    assert high == pytest.approx(np.quantile(truth, 0.975), abs=0.012)
    assert raw_low < low and high < raw_high  # the noise alone would have widened it
    alike = rng.binomial(k, 0.4, 2000)  # no spread in the parameters: the noise only
    none_low, none_high = parameter_interval(alike, np.full(2000, k))
    noise_low, noise_high = np.quantile(alike / k, (0.025, 0.975))
    assert none_high - none_low < 0.35 * (noise_high - noise_low)


def test_weights_count_each_draw_by_its_runs():
    values = np.array([0.1, 0.9])
    assert weighted_quantile(values, np.array([9.0, 1.0]), 0.5) == 0.1
    assert weighted_quantile(values, np.array([1.0, 9.0]), 0.5) == 0.9


def test_runs_sharing_a_draw_share_its_parameters_whatever_the_chunk(tmp_path):
    draws = load_posterior(write_posterior(tmp_path / "p", WIDE)).grouped(50)
    whole = draws.indices(3, 0, 3000)
    assert (whole.reshape(60, 50) == whole[::50, None]).all()  # 60 draws of 50 runs
    assert np.array_equal(whole[1250:2300], draws.indices(3, 1250, 1050))
    assert len(np.unique(whole)) > 20  # 60 draws with replacement from 40 samples


def _final(results, column: str) -> np.ndarray:
    curves = results.curves
    final = curves[(curves["stage"] == "disengaged") & (curves["month"] == MONTHS - 1)]
    return final[column].to_numpy()


@pytest.mark.parametrize("chunks", [(5000, 1), (3000, 2)])
def test_the_parameter_interval_contains_the_monte_carlo_one_and_widens_with_the_posterior(
    tmp_path, chunks
):
    size, workers = chunks
    widths = {}
    for name, values in (("narrow", NARROW), ("wide", WIDE)):
        posterior = write_posterior(tmp_path / name, values)
        out = tmp_path / f"{name}-b"
        run_batch(
            SCENARIO, out, 20_000, seed=2, options=RunOptions(workers=workers), chunk_size=size,
            posterior=posterior, runs_per_draw=100,
        )  # fmt: skip
        results, _ = summarize(out)
        p, low, high = (_final(results, c) for c in ("probability", "low", "high"))
        param_low, param_high = _final(results, "param_low"), _final(results, "param_high")
        assert (param_low <= low).all() and (high <= param_high).all()
        truth = np.quantile(_p(np.array(values)), (0.025, 0.975))
        assert np.median(param_low) == pytest.approx(truth[0], abs=0.04)
        assert np.median(param_high) == pytest.approx(truth[1], abs=0.04)
        widths[name] = float(np.median(param_high - param_low))
        assert float(np.median(high - low)) < widths[name]
    assert widths["wide"] > 2 * widths["narrow"]


def test_any_chunking_gives_the_same_two_intervals(tmp_path):
    posterior = write_posterior(tmp_path / "p", WIDE)
    tables = []
    for name, size, workers in (("a", 1000, 1), ("b", 4000, 2)):
        run_batch(
            SCENARIO, tmp_path / name, 4000, seed=9, options=RunOptions(workers=workers),
            chunk_size=size, posterior=posterior, runs_per_draw=50,
        )  # fmt: skip
        tables.append(summarize(tmp_path / name)[0])
    pd.testing.assert_frame_equal(tables[0].curves, tables[1].curves)
    pd.testing.assert_frame_equal(tables[0].alliance, tables[1].alliance)
    assert tables[0].alliance["param_high"].notna().all()


def test_a_conditioned_forecast_weighs_each_draw_by_its_kept_runs(tmp_path):
    """The record (M01-M04 not disengaged in 12 months) keeps few runs of high-intercept draws:
    the parameter interval of the other members follows the draws' kept weights (Bayes: the
    likelihood (1 - h)^48 of each draw), not their prior shares."""
    from sim.experiments.forecast import forecast

    posterior = write_posterior(tmp_path / "p", WIDE, cases=(("elsewhere", "another"),))
    record = tmp_path / "record.yaml"
    facts = "".join(
        f"  - {{member: M0{i}, stage: disengaged, not_reached_by: 2030-12, source: test}}\n"
        for i in range(1, 5)
    )
    record.write_text(f"name: record\ndescription: stayed in\nas_of: 2030-12\nfacts:\n{facts}")
    held = forecast(
        SCENARIO, record, tmp_path / "held", 20_000, seed=4, options=RunOptions(workers=1),
        reached_in="condition", posterior=posterior,
    ).batch  # fmt: skip
    curves = load(held.out).curves
    others = curves[
        ~curves["member"].isin(["M01", "M02", "M03", "M04"])
        & (curves["month"] == MONTHS - 1)
        & (curves["stage"] == "disengaged")
    ]
    hazard = 1.0 / (1.0 + np.exp(-np.array(WIDE)))
    weights = (1.0 - hazard) ** 48
    bayes = [weighted_quantile(_p(np.array(WIDE)), weights, q) for q in (0.025, 0.975)]
    prior = np.quantile(_p(np.array(WIDE)), (0.025, 0.975))
    expected = float(weights @ _p(np.array(WIDE)) / weights.sum())  # 0.27; the prior's 0.38
    assert others["probability"].median() == pytest.approx(expected, abs=0.03)
    assert others["param_low"].median() == pytest.approx(bayes[0], abs=0.03)
    # copies of one run share its past, so a draw's share is noisier than binomial: the
    # interval errs wide (sim.batch.draws), between the record's and the prior's spread
    assert bayes[1] - 0.02 < others["param_high"].median() < prior[1] + 0.02
    assert (others["param_low"] <= others["low"]).all()
    assert (others["high"] <= others["param_high"]).all()


def test_fixed_parameters_say_so_and_leave_the_parameter_interval_empty(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "b"
    status, printed, _ = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--runs", "1000", "--workers", "1", "--out", out
    )
    assert status == 0 and "parameters fixed" in printed
    assert load(out).curves["param_low"].isna().all()
    document = json.loads((out / "summary" / "summary.json").read_text())
    assert "parameters fixed" in document["uncertainty"]


def test_the_console_and_summary_say_which_band_is_which(tmp_path, monkeypatch, capsys):
    posterior = write_posterior(tmp_path / "p", WIDE)
    out = tmp_path / "b"
    status, printed, _ = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--runs", "2000", "--workers", "1", "--out", out,
        "--posterior", posterior, "--runs-per-draw", "50",
    )  # fmt: skip
    assert status == 0
    assert "parameter interval" in printed and "Monte Carlo" in printed and "40 draws" in printed
    # a posterior with no out-of-sample record on disk: the console says it is not known
    assert "Out of sample: not known: no score is recorded with the posterior" in printed
    document = json.loads((out / "summary" / "summary.json").read_text())
    assert set(document["intervals"]) == {"low/high", "param_low/param_high"}
    assert document["by_date"][0]["param_low"] is not None


@pytest.mark.parametrize("k", ["0", "3", "7"])
def test_runs_per_draw_must_divide_a_stream_block(tmp_path, monkeypatch, capsys, k):
    out = tmp_path / "b"
    status, _, err = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--runs", "1000", "--out", out,
        "--posterior", write_posterior(tmp_path / "p", WIDE), "--runs-per-draw", k,
    )  # fmt: skip
    assert status == 2 and err.strip().startswith("error: --runs-per-draw"), err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    with pytest.raises(InputError):
        run_batch(SCENARIO, out, 1000, posterior=tmp_path / "p", runs_per_draw=int(k))


def test_the_report_gives_drawn_parameters_their_posterior_and_says_which_band_is_which(
    tmp_path,
):
    import re

    from sim.report.html import write_report

    posterior = write_posterior(tmp_path / "p", WIDE)
    out = tmp_path / "b"
    run_batch(
        SCENARIO,
        out,
        2000,
        seed=1,
        options=RunOptions(workers=1),
        posterior=posterior,
        runs_per_draw=50,
    )
    summarize(out)
    html = write_report(out).read_text()
    rows = {
        m.group(1): m.group(0) for m in re.finditer(r"<tr[^>]*><td>(\w+)</td>.*?</tr>", html, re.S)
    }
    mean, (low, high) = np.mean(WIDE), np.quantile(WIDE, (0.025, 0.975))
    drawn = rows["disengage_intercept"]
    assert f"{mean:.4g} ({low:.3g} to {high:.3g})" in drawn and "<td>drawn</td>" in drawn
    assert "posterior of hand_made" in drawn
    assert (
        "<td>fixed</td>" in rows["contagion_weight"]
        and "held by the fit" in rows["contagion_weight"]
    )
    assert "<td>fixed</td><td>default</td>" in rows["trust_drift"]
    assert "<td>fixed</td><td>scenario</td>" in rows["unobserved_sd"]
    assert "wide light band is the parameter interval" in html and "[" in html


def test_the_report_names_no_source_path_outside_the_package():
    from sim.report.render import _shown

    cited = "Sourced fact base: shared/facts/csto-to-2022.md; reasoning in docs/model.md, 7.3"
    assert _shown(cited) == (
        "Sourced fact base: csto-to-2022.md (not shipped with the program); reasoning in "
        "model.md (not shipped with the program), 7.3"
    )
    for shipped in (
        "scenarios/csto_2022.yaml",
        "history/cst_1994_2005.obs.yaml",
        "sim/model/rules.py",
    ):
        assert _shown(f"see {shipped}") == f"see {shipped}"


def test_a_batch_without_a_summary_still_says_its_parameters_are_fixed(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "b"
    status, printed, _ = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--runs", "1000", "--workers", "1", "--out", out,
        "--no-summary",
    )  # fmt: skip
    assert status == 0 and not (out / "summary").exists()
    assert "parameters fixed at the scenario's values (uncalibrated" in " ".join(printed.split())
