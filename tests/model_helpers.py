"""Helpers for the model, CLI and bad-input tests: scenario variants and the CLI in a subprocess."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.batch.posterior import manifest_digest, record_id
from sim.model.model import AllianceModel
from sim.model.scenario import Scenario, load_scenario

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SCENARIOS = ROOT / "scenarios"


@dataclass
class Trace:
    """State at the end of every month: arrays (months, members, lanes) or (months, lanes)."""

    trust: np.ndarray
    domestic: np.ndarray
    balance: np.ndarray
    status: np.ndarray
    capacity: np.ndarray
    model: AllianceModel


def trace(
    scenario: Scenario | Path, lanes: int = 1, seed: int = 0, parameters: dict | None = None
) -> Trace:
    """Run a whole scenario and keep every month's state."""
    model = AllianceModel(scenario, lanes=lanes, parameters=parameters, rng=seed)
    rows: dict[str, list] = {k: [] for k in ("trust", "domestic", "balance", "status", "capacity")}
    while model.running:
        model.step()
        rows["trust"].append(model.trust_matrix())
        rows["domestic"].append(np.stack([m.domestic_pressure for m in model.members]))
        rows["balance"].append(np.stack([m.balance for m in model.members]))
        rows["status"].append(model.status_matrix())
        rows["capacity"].append(model.patron.capacity.copy())
    return Trace(**{k: np.array(v) for k, v in rows.items()}, model=model)


def read_yaml(path: Path) -> dict[str, Any]:
    """A scenario file as plain data, to edit into a variant."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def variant(
    tmp_path: Path,
    edit: Callable[[dict[str, Any]], None],
    base: Path = DATA / "quiet.yaml",
    name: str = "variant.yaml",
) -> Path:
    """Write a copy of `base` changed by `edit` under tmp_path and return its path."""
    data = read_yaml(base)
    edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def add_events(*events: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """An edit that appends events (each given a source) to a scenario."""

    def edit(data: dict[str, Any]) -> None:
        data.setdefault("events", [])
        data["events"] = (data["events"] or []) + [{"source": "test event", **e} for e in events]

    return edit


def run_cli(
    *args: str | Path, cwd: Path | None = None, columns: int = 250
) -> subprocess.CompletedProcess[str]:
    """Run the `alliance` command line in a fresh Python process, as a user would, in a terminal
    `columns` characters wide."""
    width = str(columns)
    env = {**os.environ, "COLUMNS": width, "TERMINAL_WIDTH": width, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from sim.cli.main import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=120,
    )


def alliance(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    """Run the command line in this process (fast, for error paths): status, stdout, stderr."""
    import pytest

    from sim.cli.main import main

    monkeypatch.setattr(sys, "argv", ["alliance", *map(str, args)])
    with pytest.raises(SystemExit) as stop:
        main()
    captured = capsys.readouterr()
    return stop.value.code, captured.out, captured.err


def _record(scenario: str) -> dict[str, str]:
    """A hand-made posterior case's record id, where its scenario is a test-data file."""
    path = DATA / f"{scenario}.yaml"
    return {"record": record_id(load_scenario(path))} if path.is_file() else {}


def write_posterior(
    folder: Path,
    values: tuple[float, ...],
    fixed: dict | None = None,
    cases: tuple[tuple[str, str], ...] = (("many_alike", "many_alike"),),
) -> Path:
    """A calibration directory's posterior of `disengage_intercept` (the samples `values`),
    written by hand; `cases` are the fit's (case, scenario) names."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"draw": range(len(values)), "disengage_intercept": values})
    sink = io.BytesIO()
    table.to_parquet(sink, index=False)
    (folder / "posterior.parquet").write_bytes(sink.getvalue())
    manifest = {
        "kind": "posterior",
        "table": "posterior.parquet",
        "hash": hashlib.sha256(sink.getvalue()).hexdigest(),
        "samples": len(values),
        "experiment": {"name": "hand_made", "path": "none"},
        "cases": [
            {"name": name, "scenario": scenario, "facts": 16, **_record(scenario)}
            for name, scenario in cases
        ],
        "parameters": {
            "disengage_intercept": {
                "parameter": "disengage_intercept",
                "case": None,
                "prior_low": -9,
                "prior_high": -2,
            }
        },
        "fixed": {"contagion_weight": 0.0} if fixed is None else fixed,
    }
    manifest["manifest_hash"] = manifest_digest(manifest)
    (folder / "posterior.json").write_text(json.dumps(manifest))
    return folder
