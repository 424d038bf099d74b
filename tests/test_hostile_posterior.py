"""Hostile posteriors (issue 19): an edited posterior.json, bad samples, an empty or non-Parquet
table. A run given `--posterior DIR` must refuse each with one line naming the file and the field
or column, exit status 2, and write nothing; none may run as if the posterior were sound.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from model_helpers import DATA, alliance, write_posterior

from sim.batch.posterior import manifest_digest

SCENARIO = DATA / "many_alike.yaml"
VALUES = (-2.0, -9.0, -5.0)


def edited(folder: Path, edit: Callable[[dict[str, Any]], None], rehash: bool) -> Path:
    """Edit posterior.json by hand; with `rehash`, also forge its own hash to match."""
    path = folder / "posterior.json"
    data = json.loads(path.read_text())
    edit(data)
    if rehash:
        data["manifest_hash"] = manifest_digest(data)
    path.write_text(json.dumps(data))
    return folder


def with_table(folder: Path, table: pd.DataFrame | bytes) -> Path:
    """Replace the samples' table (and its hash in posterior.json, as a forger would)."""
    if isinstance(table, pd.DataFrame):
        sink = io.BytesIO()
        table.to_parquet(sink, index=False)
        table = sink.getvalue()
    (folder / "posterior.parquet").write_bytes(table)
    digest = hashlib.sha256(table).hexdigest()
    rows = len(pd.read_parquet(io.BytesIO(table))) if table[:4] == b"PAR1" else 3

    def edit(data: dict[str, Any]) -> None:
        data["hash"], data["samples"] = digest, rows

    return edited(folder, edit, rehash=True)


def refused(tmp_path: Path, monkeypatch, capsys, folder: Path, *phrases: str) -> str:
    out = tmp_path / "run"
    status, _, err = alliance(
        monkeypatch, capsys, "batch", SCENARIO, "--runs", "1000", "--out", out,
        "--posterior", folder,
    )  # fmt: skip
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: --posterior"), lines[0]
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    assert not out.exists()
    return lines[0]


def swap_columns(data: dict[str, Any]) -> None:
    data["parameters"]["disengage_intercept"]["parameter"] = "hazard_slope"


def negative_drain(data: dict[str, Any]) -> None:
    data["fixed"]["drain_scale"] = -1.0


def foreign_case_tag(data: dict[str, Any]) -> None:
    data["parameters"]["disengage_intercept"]["case"] = "elsewhere"


def drop_parameter(data: dict[str, Any]) -> None:
    del data["parameters"]["disengage_intercept"]


def wide_prior(data: dict[str, Any]) -> None:
    data["parameters"]["disengage_intercept"]["prior_low"] = -40.0


EDITS = {
    "swapped column": (swap_columns, "parameters.disengage_intercept"),
    "negative drain_scale": (negative_drain, "fixed.drain_scale"),
    "foreign case tag": (foreign_case_tag, "parameters.disengage_intercept"),
    "dropped parameter": (drop_parameter, "column 'disengage_intercept' is not in"),
    "prior outside the documented range": (wide_prior, "documented range"),
}


@pytest.mark.parametrize("case", EDITS, ids=list(EDITS))
def test_an_edited_posterior_json_is_refused_even_with_a_forged_hash(
    tmp_path, monkeypatch, capsys, case
):
    edit, phrase = EDITS[case]
    plain = edited(write_posterior(tmp_path / "plain", VALUES), edit, rehash=False)
    refused(tmp_path, monkeypatch, capsys, plain, "posterior.json", "manifest_hash")
    forged = edited(write_posterior(tmp_path / "forged", VALUES), edit, rehash=True)
    refused(tmp_path, monkeypatch, capsys, forged, "posterior.json", phrase)


@pytest.mark.parametrize(
    ("value", "phrase"),
    [(np.nan, "nan"), (np.inf, "inf"), (-50.0, "-50.0"), (0.5, "0.5")],
    ids=["nan", "inf", "below the prior", "above the prior"],
)
def test_samples_that_are_not_finite_or_outside_their_prior_are_refused_naming_the_column(
    tmp_path, monkeypatch, capsys, value, phrase
):
    folder = write_posterior(tmp_path / "p", VALUES)
    table = pd.DataFrame({"draw": range(3), "disengage_intercept": [-3.0, value, -4.0]})
    line = refused(
        tmp_path, monkeypatch, capsys, with_table(folder, table), "'disengage_intercept'"
    )
    assert "row 1" in line and phrase in line, line


MALFORMED = {
    "empty posterior": (
        lambda d: with_table(d, pd.DataFrame({"disengage_intercept": []})),
        "samples",
    ),
    "non-numeric fixed value": (
        lambda d: edited(d, lambda m: m["fixed"].update(contagion_weight="high"), True),
        "fixed.contagion_weight",
    ),
    "parameters as a list": (
        lambda d: edited(d, lambda m: m.update(parameters=["disengage_intercept"]), True),
        "parameters",
    ),
    "not a Parquet file": (lambda d: with_table(d, b"draw,disengage_intercept\n0,-3\n"), "Parquet"),
    "not a JSON object": (lambda d: (d / "posterior.json").write_text("[1, 2]") and d, "hash"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_posterior_gets_one_line_not_a_traceback(tmp_path, monkeypatch, capsys, case):
    make, phrase = MALFORMED[case]
    folder = make(write_posterior(tmp_path / "p", VALUES))
    refused(tmp_path, monkeypatch, capsys, folder, phrase)


def test_a_sound_posterior_still_loads(tmp_path):
    from sim.batch.posterior import load_posterior
    from sim.model.scenario import load_scenario

    draws = load_posterior(write_posterior(tmp_path / "p", VALUES), load_scenario(SCENARIO))
    assert draws.names == ("disengage_intercept", "contagion_weight")
    assert draws.samples[:, 0].tolist() == list(VALUES)


@pytest.mark.parametrize(
    ("coords", "expected"),
    [
        (np.random.default_rng(0).normal(size=(5, 8, 1)), 40.0),  # a rough tau under one step
        (np.zeros((6, 8, 2)), np.nan),  # nothing moved: no autocorrelation time
        (np.random.default_rng(1).normal(size=(200, 8, 2)), None),
    ],
    ids=["short chain", "nothing moved", "long chain"],
)
def test_the_effective_sample_size_is_never_above_the_samples_nor_infinite(coords, expected):
    import warnings

    from sim.experiments.sampler import autocorrelation, effective_sample_size

    samples = coords.shape[0] * coords.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tau = autocorrelation(coords)
        ess = effective_sample_size(tau, samples)
        for rough in (np.zeros(2), np.array([0.5, np.nan]), np.array([np.inf, 2.0])):
            value = effective_sample_size(rough, samples)
            assert not value > samples and not np.isinf(value), (rough, value)
    if expected is None:
        assert 0 < ess <= samples and ess == pytest.approx(samples / np.nanmax(tau))
    else:
        assert ess == pytest.approx(expected, nan_ok=True)
