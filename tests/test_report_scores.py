"""The report of a scored run (backtest, crossval) shows every forecaster's scores and the model's
skill against each reference, per case and in total, as scores.csv has them, and says where the
model is worse; a batch's report says how its posterior scored out of sample, or that it is not
known (about 10 s: a tiny cross-validation, a backtest and a batch)."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest
import yaml
from case_helpers import run_crossval, write_cases, write_experiment
from model_helpers import DATA, alliance
from result_dirs import make_batch

from sim.batch.manifests import PosteriorRef
from sim.experiments.scoring import LABELS
from sim.report.html import write_report
from sim.report.scores import out_of_sample


def _text(path) -> str:
    """The page's text, figures and markup left out, spaces collapsed."""
    page = path.read_text(encoding="utf-8")
    page = re.sub(r"<svg.*?</svg>|<style>.*?</style>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture(scope="module")
def crossval_dir(tmp_path_factory):
    return run_crossval(tmp_path_factory.mktemp("cv"), 300)[1]


def _row_text(row: pd.Series, label: str) -> str:
    """A scores.csv row as the report's table shows it: label, forecaster, facts, scores."""
    return f"{row[label]} {LABELS[row['forecaster']]} {row['events']} {row['brier']:.4f} " + (
        f"{row['log_score']:.4f}"
    )


def test_crossval_report_has_every_forecaster_per_case_and_in_total(
    crossval_dir, monkeypatch, capsys
):
    code, out, err = alliance(monkeypatch, capsys, "report", crossval_dir)
    assert code == 0, err
    report = crossval_dir / "report.html"  # into the result directory by default
    assert out.strip() == f"report: {report}"
    text = _text(report)
    scores = pd.read_csv(crossval_dir / "scores.csv")
    assert set(scores["forecaster"]) == {"model", "base_rate", "fifty_fifty", "logit"}
    for case in ("all", "north", "south", "east"):
        for row in scores[scores["case"] == case].to_dict("records"):
            assert _row_text(row, "case") in text
    for ref in ("base rate", "50/50", "logit"):
        assert f"skill vs {ref} B / log" in text
        assert re.search(
            rf"Over all \d+ facts the model (beats|is WORSE[a-z ]*than|does not beat) "
            rf"the {re.escape(ref)} ",
            text,
        )
    model = scores[(scores["case"] == "all") & (scores["forecaster"] == "model")].iloc[0]
    brier, log = model["brier_skill_vs_fifty_fifty"], model["log_score_skill_vs_fifty_fifty"]
    assert f"{brier:+.2f} / {log:+.2f}" in text
    assert "AUC leave" in text and "<svg" in report.read_text(encoding="utf-8")


def test_backtest_report_says_the_model_is_worse_than_a_reference(tmp_path, monkeypatch, capsys):
    facts = tmp_path / "facts.yaml"
    facts.write_text(
        yaml.safe_dump(
            {
                "name": "test_facts",
                "description": "facts for a test",
                "as_of": "2030-12-31",
                "facts": [
                    {
                        "source": "test fact",
                        "member": "Gone",
                        "stage": "withdrawn",
                        "reached_by": "2030-01",
                    },
                    {
                        "source": "test fact",
                        "member": "Stays",
                        "stage": "withdrawn",
                        "not_reached_by": "2030-02",
                    },
                    {
                        "source": "test fact",
                        "member": "Late",
                        "stage": "withdrawn",
                        "reached_in": "2030-02",
                    },
                ],
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    out = tmp_path / "bt"
    code, _, err = alliance(
        monkeypatch, capsys, "backtest", DATA / "settled.yaml", "--observations", facts,
        "--out", out, "--runs", 1000, "--base-rate", 0.1, "--workers", 1, "--no-condition",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = alliance(monkeypatch, capsys, "report", out)
    assert code == 0, err
    text = _text(out / "report.html")
    # exact forecasts 1, 0, 0 of outcomes 1, 0, 1: Brier 1/3 against 50/50's 0.25
    assert "Over all 3 facts the model is WORSE than the 50/50 (Brier skill -0.33" in text
    assert "Late withdrawn: the model is WORSE than the base rate (Brier and log)" in text
    scores = pd.read_csv(out / "scores.csv")
    for row in scores[scores["member"] == "all"].to_dict("records"):
        assert _row_text(row, "period") in text
    assert "parameters fixed at the scenario's values" in text


def test_batch_report_without_a_posterior_says_the_parameters_are_fixed(tmp_path):
    batch = make_batch(tmp_path / "batch", runs=1000)
    text = _text(write_report(batch))
    assert "How the parameters scored out of sample" in text
    assert "The parameters are fixed, not fitted: no out-of-sample score of them is known" in text
    assert "parameters fixed at the scenario's values" in text


def test_a_crossval_folds_posterior_is_known_out_of_sample(crossval_dir):
    fold = crossval_dir / "folds" / "north"
    known = out_of_sample(PosteriorRef(directory=str(fold), hash="x"))
    assert known["known"] and "held out north" in known["text"]
    scores = pd.read_csv(crossval_dir / "scores.csv")
    held = scores[(scores["group"] == "case") & (scores["case"] == "north")]
    assert [row[3] for row in known["table"]["rows"]] == [f"{b:.4f}" for b in held["brier"]]
    assert len(known["verdicts"]) == 3  # one sentence per reference


def test_a_posterior_with_no_record_says_it_is_not_known(tmp_path):
    unknown = out_of_sample(PosteriorRef(directory=str(tmp_path / "fit"), hash="x", cases=["a"]))
    assert not unknown["known"] and unknown["text"].startswith("Not known")


def test_batch_report_under_a_crossval_fold_shows_its_held_out_scores(
    crossval_dir, monkeypatch, capsys
):
    out = crossval_dir.parent / "north_batch"
    code, printed, err = alliance(
        monkeypatch, capsys, "batch", crossval_dir.parent / "north.yaml", "--out", out,
        "--runs", 1000, "--posterior", crossval_dir / "folds" / "north", "--workers", 1,
    )  # fmt: skip
    assert code == 0, err
    printed = " ".join(printed.split())  # the console says it too
    assert "Out of sample: the posterior is the fold of" in printed
    assert re.search(r"Out of sample: On the held-out north the model (beats|is WORSE)", printed)
    text = _text(write_report(out))
    assert "held out north: its scores on that case, out of sample" in text
    scores = pd.read_csv(crossval_dir / "scores.csv")
    for row in scores[scores["case"] == "north"].to_dict("records"):
        assert _row_text(row, "case") in text
    assert re.search(r"On the held-out north the model (beats|is WORSE)", text)


def test_calibration_report_shows_the_posterior_and_says_its_record_is_not_known(
    tmp_path, monkeypatch, capsys
):
    cases = write_cases(tmp_path)
    experiment = write_experiment(
        tmp_path, cases, replications=20, points=8, walkers=4, steps=4, burn=1
    )
    out = tmp_path / "fit"
    code, _, err = alliance(
        monkeypatch, capsys, "calibrate", experiment, "--out", out, "--workers", 1
    )
    assert code == 0, err
    code, _, err = alliance(monkeypatch, capsys, "report", out)
    assert code == 0, err
    text = _text(out / "report.html")
    fitted = pd.read_csv(out / "fitted.csv")
    for row in fitted.itertuples():
        assert f"{row.parameter} {row.mean:.3g} {row.sd:.3g} {row.low:.3g} {row.high:.3g}" in text
    assert "How the posterior scored out of sample Not known" in text
    assert "north, south, east" in text
