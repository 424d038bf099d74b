"""Chunk files that cannot be mixed up or misread: each records its run and index, and its hash.

A chunk's tables are written under DIR/chunks/ (`<kind>-<index>.parquet`, atomically); each file's
Parquet metadata names the run (`alliance.run`, the manifest's `run_id`, and `alliance.seed`) and
the chunk index (`alliance.chunk`), and once a file is in place a line with its SHA-256, size,
index and run is appended to the ledger DIR/chunks.jsonl. A chunk counts as done only when the
ledger vouches for every one of its files and the files match; reading a chunk checks the same,
so a truncated, zeroed, swapped or foreign chunk is named instead of being read as data. Shared
by batches and point runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.batch.store import CHUNKS, LEDGER, write_bytes_atomic
from sim.model.errors import InputError

RUN_KEY, CHUNK_KEY, SEED_KEY = "alliance.run", "alliance.chunk", "alliance.seed"
REDO = "run the same command with --resume to compute it again"


def chunk_path(out: Path, kind: str, index: int) -> Path:
    """Where chunk `index`'s table of a given kind lives: chunks/<kind>-<index>.parquet."""
    return Path(out) / CHUNKS / f"{kind}-{index:06d}.parquet"


def identity(run_id: str, index: int, seed: int) -> dict[str, str]:
    """The metadata every file of a chunk carries: which run (its settings hash and seed) and
    which chunk it belongs to."""
    return {RUN_KEY: run_id, CHUNK_KEY: str(index), SEED_KEY: str(seed)}


def write_chunk(out: Path, index: int, files: dict[str, bytes], run_id: str) -> None:
    """Write one chunk's encoded tables, each atomically, then vouch for them in the ledger."""
    lines = []
    for kind, data in files.items():
        write_bytes_atomic(chunk_path(out, kind, index), data)
        entry = {"kind": kind, "chunk": index, "run": run_id, "bytes": len(data)}
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        lines.append(json.dumps(entry) + "\n")
    with open(Path(out) / LEDGER, "a", encoding="utf-8") as ledger:
        ledger.write("".join(lines))
        ledger.flush()
        os.fsync(ledger.fileno())


def read_ledger(out: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The latest ledger entry of every (kind, chunk); a line torn by a crash is ignored."""
    path = Path(out) / LEDGER
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            entries[(str(entry["kind"]), int(entry["chunk"]))] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return entries


def end_ledger_line(out: Path) -> None:
    """Close a line torn by a crash, so the next entry starts on a line of its own."""
    path = Path(out) / LEDGER
    if path.is_file() and path.stat().st_size:
        with open(path, "rb+") as ledger:
            ledger.seek(-1, os.SEEK_END)
            if ledger.read(1) != b"\n":
                ledger.write(b"\n")


def finished_chunks(
    out: Path, kinds: Sequence[str], count: int, run_id: str, verify: bool = True
) -> list[int]:
    """Chunks (of `count`) whose every kind of file the ledger vouches for, for this run.

    With `verify` each file is read and its run, size and hash compared (what a resume does, so
    it runs again every chunk that fails); without, the files need only be recorded and there
    (what counting a batch's chunks before a summary does: reading them then checks each, naming
    a bad one).
    """
    ledger = read_ledger(out)
    done = []
    for index in range(count):
        entries = [ledger.get((kind, index)) for kind in kinds]
        if all(e is not None and _matches(out, e, run_id, verify) for e in entries):
            done.append(index)
    return done


def _matches(out: Path, entry: dict[str, Any], run_id: str, verify: bool) -> bool:
    path = chunk_path(out, entry["kind"], entry["chunk"])
    if not verify:
        return path.is_file()
    if entry.get("run") != run_id:
        return False
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return len(data) == entry.get("bytes") and hashlib.sha256(data).hexdigest() == entry["sha256"]


def read_chunk(
    out: Path,
    kind: str,
    index: int,
    run_id: str,
    ledger: dict[tuple[str, int], dict[str, Any]] | None = None,
) -> pa.Table:
    """Chunk `index`'s table of `kind`, checked against the ledger and the run; InputError naming
    the chunk file and what is wrong with it otherwise."""
    path = chunk_path(out, kind, index)
    entry = (read_ledger(out) if ledger is None else ledger).get((kind, index))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), "", f"cannot be read ({exc.strerror}); {REDO}") from None
    if entry is None:
        raise InputError(
            str(path), "", f"is not in {LEDGER} (not written by this run, or cut short); {REDO}"
        )
    if entry.get("run") != run_id:
        raise InputError(str(path), "", f"was written by another run ({entry.get('run')}); {REDO}")
    if len(data) != entry.get("bytes") or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise InputError(
            str(path),
            "",
            f"damaged or replaced: its content differs from what {LEDGER} recorded; {REDO}",
        )
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(str(path), "", f"is not a readable Parquet file ({exc}); {REDO}") from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if meta.get(RUN_KEY) != run_id or meta.get(CHUNK_KEY) != str(index):
        raise InputError(
            str(path),
            "",
            f"holds chunk {meta.get(CHUNK_KEY)} of run {meta.get(RUN_KEY)} (seed "
            f"{meta.get(SEED_KEY)}), not chunk {index} of run {run_id}; {REDO}",
        )
    return table
