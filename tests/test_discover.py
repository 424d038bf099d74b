"""`alliance discover`: PRIM scenario discovery over a sweep's points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_helpers import alliance
from result_dirs import make_sweep

from sim.batch.manifests import ExperimentManifest, FileRef
from sim.experiments.discover import discover

OUTCOME = "Member withdrawn by 2030-12"


def synthetic_sweep(folder: Path, points: int = 800, seed: int = 0) -> Path:
    """A sweep directory whose outcome is likely exactly in a >= 0.6, b <= 0.3 (c irrelevant)."""
    rng = np.random.default_rng(seed)
    x = rng.random((points, 3))
    inside = (x[:, 0] >= 0.6) & (x[:, 1] <= 0.3)
    estimate = np.where(inside, 0.4, 0.05) + rng.normal(0, 0.03, points)
    frame = pd.DataFrame({"point": np.arange(points), "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    frame["outcome"] = OUTCOME
    frame["estimate"] = estimate
    folder.mkdir()
    frame.to_parquet(folder / "results.parquet", index=False)
    manifest = ExperimentManifest(
        kind="sweep",
        experiment=FileRef(name="synthetic", path="synthetic.yaml", hash="0"),
        scenario=FileRef(name="synthetic", path="synthetic.yaml", hash="0"),
        varied=["a", "b", "c"],
        parameters={},
        design={"method": "lhs"},
        points=points,
        replications=1,
        runs=points,
        seed=seed,
        outcomes=[OUTCOME],
        chunks=1,
        lanes_per_chunk=points,
        finished="2026-01-01T00:00:00Z",
    )
    (folder / "manifest.json").write_text(json.dumps(manifest.document()))
    return folder


def test_prim_recovers_a_known_box(tmp_path):
    found = discover(synthetic_sweep(tmp_path / "s"), OUTCOME, above=0.2)
    box = found.box.set_index("parameter")
    assert box.loc["a", "restricted"] and box.loc["b", "restricted"]
    assert not box.loc["c", "restricted"]
    assert box.loc["a", "low"] == pytest.approx(0.6, abs=0.03)
    assert box.loc["b", "high"] == pytest.approx(0.3, abs=0.03)
    step = found.trajectory.iloc[found.chosen]
    assert step["coverage"] >= 0.8 and step["density"] >= 0.9
    assert found.trajectory["coverage"].iloc[0] == 1.0  # the first box is the whole space
    assert (np.diff(found.trajectory["mass"]) <= 0).all()
    assert found.points["in_box"].sum() == pytest.approx(0.4 * 0.3 * 800, rel=0.2)


def test_figure_colours_are_the_ones_its_titles_name(tmp_path):
    from matplotlib.colors import to_hex

    from sim.plots.discovery import FREE, RESTRICTED, discovery_figure

    found = discover(synthetic_sweep(tmp_path / "s"), OUTCOME, above=0.2)
    fig = discovery_figure(found.trajectory, found.box, "test")
    limits = fig.axes[1]
    assert "2 restricted (blue)" in limits.get_title(loc="left")
    assert "free (grey)" in limits.get_title(loc="left")
    assert to_hex(RESTRICTED) == "#0072b2" and to_hex(FREE) == "#cccccc"  # blue, grey
    bars = limits.patches[: len(found.box)]
    colours = [to_hex(b.get_facecolor()) for b in bars]
    expected = [to_hex(RESTRICTED if r else FREE) for r in found.box["restricted"]]
    assert colours == expected
    whole = found.box.assign(restricted=False)
    title = discovery_figure(found.trajectory, whole, "test").axes[1].get_title(loc="left")
    assert "no parameter restricted" in title


def test_below_threshold_finds_the_complement_edge(tmp_path):
    found = discover(synthetic_sweep(tmp_path / "s"), OUTCOME, below=0.2, min_coverage=0.4)
    assert found.rule == "estimate < 0.2"
    assert found.trajectory.iloc[found.chosen]["density"] == 1.0


def test_cli_on_a_real_sweep_writes_tables_and_figure(tmp_path, monkeypatch, capsys):
    sweep_dir = make_sweep(tmp_path)
    results = pd.read_csv(sweep_dir / "results.csv")
    label = "any exit by 2030-12"
    threshold = round(float(results.loc[results["outcome"] == label, "estimate"].median()), 3)
    code, out, err = alliance(
        monkeypatch, capsys, "discover", sweep_dir, "--outcome", label, "--above", threshold
    )
    assert code == 0, err
    assert "chosen box" in out
    # a probability's threshold reads in % on the console; the file keeps the fraction given
    assert f"have estimate above {100 * threshold:g}% (--above {threshold})" in out
    assert f"> {threshold}" not in out
    folder = sweep_dir / "discover"
    box = pd.read_parquet(folder / "box.parquet")
    assert set(box["parameter"]) == {"drain_scale", "answer_willingness"}
    assert pd.read_csv(folder / "trajectory.csv")["chosen"].sum() == 1
    assert (folder / "figures" / "discovery.png").stat().st_size > 10_000
    written = json.loads((folder / "discovery.json").read_text())
    assert written["outcome"] == label and written["rule"] == f"estimate > {threshold}"


def test_threshold_of_a_probability_in_percent_of_a_number_as_given(tmp_path):
    found = discover(synthetic_sweep(tmp_path / "s"), OUTCOME, below=0.2, min_coverage=0.4)
    assert found.probability is None  # the sweep keeps no experiment file: units not known
    assert found.shown_rule() == "estimate < 0.2"
    found.probability = True
    assert found.shown_rule() == "estimate below 20% (--below 0.2)"
    found.probability = False  # an expected number of members: no percent sign
    assert found.shown_rule() == "estimate < 0.2"


def test_no_point_of_interest_names_the_range_in_percent_too(tmp_path, monkeypatch, capsys):
    sweep_dir = make_sweep(tmp_path)
    code, _, err = alliance(
        monkeypatch, capsys, "discover", sweep_dir, "--outcome", "any exit by 2030-12",
        "--above", "0.999",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "% to " in err and "%)" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--outcome", "nothing by 2030-12", "--above", "0.2"], ["unknown outcome", OUTCOME]),
        (["--outcome", OUTCOME], ["exactly one threshold"]),
        (["--outcome", OUTCOME, "--above", "0.99"], ["no point", "nothing to discover"]),
    ],
)
def test_bad_requests_get_one_line(tmp_path, monkeypatch, capsys, args, words):
    sweep_dir = synthetic_sweep(tmp_path / "s", points=50)
    code, _, err = alliance(monkeypatch, capsys, "discover", sweep_dir, *args)
    assert code == 2 and err.count("\n") == 1
    for word in words:
        assert word in err
