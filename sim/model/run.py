"""A single replication: step a one-lane model, collect its monthly table with Mesa's
DataCollector, and keep its event log."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
from mesa.datacollection import DataCollector

from sim.model.agents import Member
from sim.model.errors import InputError
from sim.model.model import AllianceModel
from sim.model.scenario import MEMBER_FIELDS, Scenario
from sim.model.stages import STAGES

VALUE_COLUMNS = (*MEMBER_FIELDS, "leverage", "balance")  # leverage: the patron's


def run_single(
    scenario: Scenario, seed: int, parameters: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, AllianceModel]:
    """Run one replication; return the tidy monthly table, the event log and the model.

    The monthly table is collected by Mesa's DataCollector: one record per agent (the patron
    first, then the members in file order) at the end of every month, lane 0's values."""
    model = AllianceModel(scenario, lanes=1, parameters=parameters, rng=seed, log_events=True)
    collector = DataCollector(agent_reporters=REPORTERS)
    while model.running:
        model.step()
        collector.collect(model)
    table = collector.get_agent_vars_dataframe().reset_index()
    table.insert(0, "date", [scenario.month_label(int(step) - 1) for step in table["Step"]])
    monthly = table.drop(columns=["Step", "AgentID"])
    log = pd.DataFrame(
        model.event_log,
        columns=["date", "event", "actor", "detail", "answered", "decided_by"],
    )
    log["answered"] = log["answered"].astype("boolean")
    return monthly, log, model


def _lane0(name: str) -> Callable[[mesa.Agent], float]:
    """A reporter of an agent's value in lane 0 (a shared float as it is); NaN if it has none."""

    def report(agent: mesa.Agent) -> float:
        value = getattr(agent, name, None)
        if value is None:
            return float("nan")
        return float(value[0]) if isinstance(value, np.ndarray) else float(value)

    return report


def _status(agent: mesa.Agent) -> str | None:
    """A member's stage in lane 0 (none for the patron)."""
    return STAGES[int(agent.status[0])] if isinstance(agent, Member) else None


REPORTERS: dict[str, Callable[[mesa.Agent], object]] = {
    "actor": lambda agent: agent.name,
    "role": lambda agent: "member" if isinstance(agent, Member) else "patron",
    **{column: _lane0(column) for column in VALUE_COLUMNS},
    "status": _status,
}


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> None:
    """Write each table as Parquet and CSV into `out` atomically: all files or none."""
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "--out", "exists and is not a directory; expected a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise InputError(
            str(out), "--out", f"cannot be created ({exc.strerror}: {exc.filename})"
        ) from None
    try:
        for name, table in tables.items():
            table.to_parquet(staging / f"{name}.parquet", index=False)
            table.to_csv(staging / f"{name}.csv", index=False)
        out.mkdir(exist_ok=True)
        for f in staging.iterdir():
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
