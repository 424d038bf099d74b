"""Probabilities are percentages on the console (fractions stay in the files); differences of
probabilities are percentage points; expected numbers stay numbers."""

from __future__ import annotations

import textwrap

import pandas as pd
from model_helpers import SCENARIOS, alliance

from sim.cli.tables import percent, percent_interval, points


def test_percent_and_points_formats():
    assert percent(0.2534) == "25.3%" and percent(0.0123) == "1.23%" and percent(0) == "0%"
    assert percent_interval(0.25, 0.2, 0.3) == "25.0% (20.0-30.0)"
    assert points(0.0231) == "+2.31 pp" and points(-0.1) == "-10.00 pp"


def test_sweep_prints_probabilities_in_percent_and_counts_as_numbers(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "units.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: units
            description: console units
            scenario: {SCENARIOS / "csto_2022.yaml"}
            seed: 3
            replications: 50
            parameters:
              drain_scale: {{low: 0.0, high: 2.0}}
            design: {{method: grid, levels: 2}}
            outcomes:
              - {{kind: any_exit, by: 2030-12}}
              - {{kind: active_members, at: 2030-12}}
            """
        )
    )
    out_dir = tmp_path / "sweep"
    code, out, err = alliance(monkeypatch, capsys, "sweep", spec, "--out", out_dir, "--workers", 1)
    assert code == 0, err
    results = pd.read_csv(out_dir / "results.csv")
    lines = out.splitlines()
    exit_line = next(line for line in lines if "any exit by 2030-12" in line)
    active_line = next(line for line in lines if "active members" in line)
    assert exit_line.count("%") >= 3  # estimate and both ends of its interval
    assert "%" not in active_line
    probabilities = results[results["outcome"] == "any exit by 2030-12"]["estimate"]
    assert probabilities.between(0, 1).all()  # the file keeps fractions
    lowest = probabilities.min()
    assert percent(lowest) in exit_line
