"""A single replication: step a one-lane model and collect its monthly table and event log."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from sim.model.errors import InputError
from sim.model.model import AllianceModel
from sim.model.scenario import MEMBER_FIELDS, Scenario
from sim.model.stages import STAGES

VALUE_COLUMNS = (*MEMBER_FIELDS, "leverage", "balance")  # leverage: the patron's


def run_single(
    scenario: Scenario, seed: int, parameters: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, AllianceModel]:
    """Run one replication; return the tidy monthly table, the event log and the model."""
    model = AllianceModel(scenario, lanes=1, parameters=parameters, rng=seed, log_events=True)
    rows: list[dict] = []
    while model.running:
        date = scenario.month_label(model.month)
        model.step()
        patron = model.patron
        rows.append(
            _row(
                date,
                patron.name,
                "patron",
                capacity=patron.capacity[0],
                leverage=patron.leverage[0],
            )
        )
        for m in model.members:
            rows.append(
                _row(
                    date,
                    m.name,
                    "member",
                    trust=m.trust[0],
                    capacity=m.capacity,
                    threat=m.threat,
                    dependence=m.dependence,
                    outside_options=m.outside_options,
                    domestic_pressure=m.domestic_pressure[0],
                    balance=m.balance[0],
                    status=STAGES[int(m.status[0])],
                )
            )
    monthly = pd.DataFrame(rows)
    log = pd.DataFrame(
        model.event_log,
        columns=["date", "event", "actor", "detail", "answered", "decided_by"],
    )
    log["answered"] = log["answered"].astype("boolean")
    return monthly, log, model


def _row(date: str, actor: str, role: str, **values: object) -> dict:
    numbers = {c: float(values.get(c, float("nan"))) for c in VALUE_COLUMNS}
    return {"date": date, "actor": actor, "role": role, **numbers, "status": values.get("status")}


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
