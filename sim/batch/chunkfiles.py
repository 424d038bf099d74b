"""The Parquet tables of one chunk: what is kept per run, month or point, and how to read it.

A chunk k of a batch is three files under DIR/chunks/ (docs/batch.md describes every column):
- `passage-k.parquet`: one row per run: `run`, `first_exit`, under a posterior `draw` (the
  run's parameter draw, `sim.batch.posterior`; a conditioned run keeps its ancestor's), and one
  int16 column
  `<member>:<stage>` per member and stage (first month the stage was reached, -1 = censored);
- `aggregates-k.parquet`: the chunk's MonthlyAggregates, one row per month (sim.batch.lanes);
- `trajectories-k.parquet` (only with --trajectories): run, month, actor, variable, value.
A chunk of a point run (sweep, sensitivity, calibration, backtest) is one table of tallies, one
row per parameter point (`point`, `n`, `total`, `total_sq`). Every file carries its run and chunk
in its metadata and is read through `sim.batch.ledger.read_chunk`, which checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from sim.batch.lanes import ChunkResult, MonthlyAggregates
from sim.batch.ledger import read_chunk
from sim.batch.outcomes import Tally
from sim.batch.store import arrays_table, parquet_bytes, table_arrays
from sim.model.stages import LATER_STAGES

PASSAGE, AGGREGATES, TRAJECTORIES = "passage", "aggregates", "trajectories"
TRAJECTORY_VARIABLES = ("trust", "status", "capacity")
DRAW = "draw"  # the passage column of each run's parameter draw (runs under a posterior only)
Ledger = dict[tuple[str, int], dict[str, Any]]


def passage_column(member: str, stage: str) -> str:
    """Name of the first-passage column of a member and stage."""
    return f"{member}:{stage}"


def encode_chunk(
    result: ChunkResult, first: int, members: list[str], patron: str, identity: dict[str, str]
) -> dict[str, bytes]:
    """The chunk's tables as Parquet bytes, keyed by kind (what workers send back), each file
    marked with the run and chunk it belongs to (`identity`)."""
    lanes = result.first_passage.shape[0]
    columns: dict[str, pa.Array] = {
        "run": pa.array(np.arange(first, first + lanes, dtype=np.int64)),
        "first_exit": pa.array(result.first_exit.astype(np.int16)),
    }
    if result.draw is not None:
        columns[DRAW] = pa.array(result.draw.astype(np.int64))
    for i, member in enumerate(members):
        for j, stage in enumerate(LATER_STAGES):
            columns[passage_column(member, stage)] = pa.array(result.first_passage[:, i, j])
    files = {PASSAGE: parquet_bytes(pa.table(columns), identity)}
    if result.aggregates is not None:
        agg = result.aggregates
        table = arrays_table(agg.arrays(), {"runs": agg.runs})
        files[AGGREGATES] = parquet_bytes(table, identity)
    if result.trajectories is not None:
        files[TRAJECTORIES] = parquet_bytes(
            _trajectory_table(result.trajectories, first, members, patron), identity
        )
    return files


def _trajectory_table(
    traj: dict[str, np.ndarray], first: int, members: list[str], patron: str
) -> pa.Table:
    """Long table run, month, actor, variable, value from (months, actors, lanes) arrays."""
    months, n_members, lanes = traj["trust"].shape
    actors = pa.array([*members, patron])
    variables = pa.array(list(TRAJECTORY_VARIABLES))
    blocks = [
        (traj["trust"], np.arange(n_members), 0),
        (traj["status"], np.arange(n_members), 1),
        (traj["capacity"][:, None, :], np.array([n_members]), 2),
    ]
    runs, month, actor, variable, value = [], [], [], [], []
    for values, actor_codes, code in blocks:
        m, a, r = np.meshgrid(
            np.arange(months, dtype=np.int16),
            actor_codes.astype(np.int32),
            np.arange(first, first + lanes, dtype=np.int64),
            indexing="ij",
        )
        runs.append(r.reshape(-1))
        month.append(m.reshape(-1))
        actor.append(a.reshape(-1))
        variable.append(np.full(m.size, code, dtype=np.int32))
        value.append(values.astype(np.float32).reshape(-1))
    runs_all, month_all = np.concatenate(runs), np.concatenate(month)
    order = np.lexsort((month_all, runs_all))
    return pa.table(
        {
            "run": runs_all[order],
            "month": month_all[order],
            "actor": pa.DictionaryArray.from_arrays(np.concatenate(actor)[order], actors),
            "variable": pa.DictionaryArray.from_arrays(np.concatenate(variable)[order], variables),
            "value": np.concatenate(value)[order],
        }
    )


def read_passage(out: Path, index: int, run_id: str, ledger: Ledger | None = None) -> pa.Table:
    """Chunk `index`'s per-run first-passage table (checked against the ledger and the run)."""
    return read_chunk(out, PASSAGE, index, run_id, ledger)


def passage_arrays(table: pa.Table, members: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """First passages (runs, members, 3) and first exits (runs,) from a passage table."""
    runs = table.num_rows
    first_passage = np.empty((runs, len(members), len(LATER_STAGES)), dtype=np.int16)
    for i, member in enumerate(members):
        for j, stage in enumerate(LATER_STAGES):
            first_passage[:, i, j] = table.column(passage_column(member, stage)).to_numpy()
    return first_passage, table.column("first_exit").to_numpy()


def read_aggregates(
    out: Path, index: int, run_id: str, ledger: Ledger | None = None
) -> MonthlyAggregates:
    """Chunk `index`'s monthly aggregates (checked against the ledger and the run)."""
    arrays, meta = table_arrays(read_chunk(out, AGGREGATES, index, run_id, ledger))
    return MonthlyAggregates(runs=int(meta["runs"]), **arrays)


def read_trajectories(out: Path, index: int, run_id: str, ledger: Ledger | None = None) -> pa.Table:
    """Chunk `index`'s long trajectory table (checked against the ledger and the run)."""
    return read_chunk(out, TRAJECTORIES, index, run_id, ledger)


def encode_tally(
    tally: Tally, start: int, first: int, replications: int, identity: dict[str, str]
) -> bytes:
    """A point-run chunk's tallies as Parquet bytes: one row per point, from point `start`."""
    points = tally.n.shape[0]
    arrays = {
        "point": np.arange(start, start + points),
        "n": tally.n,
        "total": tally.total,
        "total_sq": tally.total_sq,
    }
    meta = {"first": first, "reps": replications}
    return parquet_bytes(arrays_table(arrays, meta), identity)


def add_tally(
    total: Tally, out: Path, kind: str, index: int, run_id: str, ledger: Ledger | None = None
) -> None:
    """Add chunk `index`'s tallies (checked against the ledger and the run) into `total`."""
    arrays, _ = table_arrays(read_chunk(out, kind, index, run_id, ledger))
    rows = arrays["point"]
    total.n[rows] += arrays["n"]
    total.total[rows] += arrays["total"]
    total.total_sq[rows] += arrays["total_sq"]
