"""Output directories that lose nothing and mix nothing: a lock, a manifest, atomic files.

Generic over kinds of run (batch, sweep, sensitivity, calibration, backtest): a run directory holds
`manifest.json` describing what was asked, and the run's files, each written to a temporary file
and renamed into place (`os.replace`), so a file either is complete or is not there. A command
holds the directory's OS-level lock (`.lock`, `fcntl.flock`) while it works there, so two commands
never write into one directory. An interrupted run is finished with `resume`, which refuses when
the new command asks for something different. Jobs use all this through `sim.batch.jobs.RunDir`;
the manifests' models and their reader: `sim.batch.manifests`; chunk files and their hashes:
`sim.batch.ledger`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.batch.manifests import (
    MANIFEST,
    SCHEMA_VERSION,
    Manifest,
    read_manifest,
    read_manifest_data,
)
from sim.model.errors import InputError

CHUNKS = "chunks"
LEDGER = "chunks.jsonl"  # each chunk file's hash, index and run (sim.batch.ledger)
LOCK = ".lock"
TEMP_PREFIX = ".tmp-"
LIBRARIES = ("alliance-defection", "mesa", "numpy", "scipy", "pandas", "pyarrow", "dask")


def versions() -> dict[str, str]:
    """Python, this package and the libraries whose versions can change results or files."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def now() -> str:
    """The current time, UTC, ISO 8601 to the second (for manifests)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def readable_by_all(path: str | Path) -> None:
    """Give a temporary file the permissions of an ordinary new file (mkstemp makes it private)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    written = False
    try:
        readable_by_all(temp)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        written = True
    except OSError as exc:
        if exc.filename is None:  # a write names no file: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        if not written:  # any exit, Ctrl-C included, takes the temporary file back
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def parquet_bytes(table: pa.Table, identity: dict[str, str] | None = None) -> bytes:
    """A table encoded as Parquet (zstd), ready to ship between processes or machines; `identity`
    (the run and chunk it belongs to) goes into the file's metadata."""
    if identity:
        marks = {key.encode(): value.encode() for key, value in identity.items()}
        meta = {**(table.schema.metadata or {}), **marks}
        table = table.replace_schema_metadata(meta)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON (indented, UTF-8) atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    write_bytes_atomic(path, text.encode())


def read_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(Path(path).read_text())


def json_roundtrip(data: Any) -> Any:
    """`data` as it reads back from JSON (tuples become lists, numpy scalars plain numbers)."""
    return json.loads(json.dumps(data, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_manifest(out: Path, manifest: Manifest) -> None:
    """Write the manifest atomically."""
    write_json_atomic(Path(out) / MANIFEST, manifest.document())


# Directories in use: one open, flock-ed lock file per directory this process works on. The
# kernel drops the lock when the process ends however it ends, so a crash never leaves it held.
_held: dict[Path, list[int]] = {}  # directory: [lock file descriptor, times acquired]


def acquire(out: Path) -> None:
    """Hold the directory's OS-level lock until `release` (or this process's end); refuse a
    directory another command holds. Taken again by the same process, it is counted, not
    locked twice (flock would refuse a second descriptor)."""
    key = Path(out).resolve()
    if key in _held:
        _held[key][1] += 1
        return
    path = key / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(str(out), "", f"cannot write here ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip()
        os.close(fd)
        who = f" (process {holder})" if holder else ""
        raise InputError(
            str(out),
            "",
            f"is in use by another running command{who}; wait for it to end or choose another "
            "directory (--force does not take over a directory in use)",
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held[key] = [fd, 1]


def release(out: Path) -> None:
    """Let go of the directory's lock once per `acquire` (nothing if this process does not
    hold it)."""
    key = Path(out).resolve()
    held = _held.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _held[key]
        os.close(held[0])


def settings_hash(document: dict[str, Any], fields: Sequence[str]) -> str:
    """The run's identity: SHA-256 of the settings that decide its numbers (the resume fields)."""
    settings = {name: _dig(document, name) for name in fields}
    text = json.dumps(settings, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def prepare_output(
    out: Path,
    manifest: Manifest,
    *,
    force: bool,
    resume: bool,
    inputs: dict[str, bytes] | None = None,
) -> Manifest:
    """Lock `out` for a run described by `manifest`, make it ready; return the manifest in effect.

    The directory's lock is held until `release` (`sim.batch.jobs.RunDir` does both). A directory
    holding a run is refused unless `resume` (the manifests must agree on every field the kind
    lists in `RESUME_FIELDS`, and the files the stored manifest lists must be there unchanged; the
    stored manifest is returned) or `force` (every file the previous run listed as its own is
    removed first, whatever kind of run it was). A non-empty directory holding no run is used only
    with `force`, and then nothing in it is deleted. A new run's `inputs` (name: bytes) are written
    first and the manifest last, so a manifest always points at files that exist; it records their
    hashes, the run's identity (`run_id`, from the resume fields) and what the run owns.
    """
    out = Path(out)
    compare = type(manifest).RESUME_FIELDS
    if resume and force:
        raise InputError("--resume", "", "cannot be combined with --force; choose one")
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "", "exists and is not a directory")
    if resume and not (out / MANIFEST).exists():
        raise InputError(str(out), MANIFEST, "nothing to resume: no run was started here")
    if out.is_dir() and not (out / MANIFEST).exists() and _occupied(out) and not force:
        raise InputError(
            str(out), "", "is not empty and holds no run; choose a new directory or use --force"
        )
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(out), "", f"cannot create the directory ({exc.strerror})") from None
    acquire(out)
    prepared = False
    try:
        if resume:
            previous = read_manifest(out, manifest.kind)
            if previous.run_id is None:
                raise InputError(
                    str(out / MANIFEST),
                    "run_id",
                    "written by an older version, without chunk checks; use --force to start over",
                )
            check_same(out, previous.document(), manifest.document(), compare)
            check_inputs(out, previous)
            remove_temporaries(out)
            prepared = True
            return previous
        if (out / MANIFEST).exists():
            if not force:
                raise InputError(
                    str(out),
                    "",
                    f"already holds a {_peek_kind(out)}; use --resume to finish it or --force to "
                    "replace it",
                )
            for name in owned_names(out, type(manifest).OWNED, previous=True):
                remove(out / name)
        hashes: dict[str, str] = {}
        _write_inputs(out, inputs or {}, hashes)
        manifest = manifest.model_copy(
            update={
                "run_id": settings_hash(manifest.document(), compare),
                "owned": sorted({*type(manifest).OWNED, *(inputs or {})}),
                "inputs": hashes,
                "schema_version": SCHEMA_VERSION,
            }
        )
        write_manifest(out, manifest)
        prepared = True
        return manifest
    finally:
        if not prepared:  # the one place a half-made directory is taken back, on any exit
            release(out)
            if created:
                shutil.rmtree(out, ignore_errors=True)


def _occupied(out: Path) -> bool:
    """Does the directory hold anything but this program's lock file?"""
    return any(p.name != LOCK for p in out.iterdir())


def owned_names(out: Path, owned: Iterable[str], previous: bool = False) -> set[str]:
    """The names a run in `out` may remove: `owned` (with `previous`, what the manifest there
    lists, where it lists anything), and the manifest, chunks and ledger; never the lock."""
    names: Any = list(owned)
    if previous:
        try:
            listed = read_manifest_data(out).get("owned")
        except InputError:
            listed = None
        names = listed if isinstance(listed, list) else names
    safe = {n for n in names if isinstance(n, str) and n and "/" not in n and n not in (".", "..")}
    return safe | {MANIFEST, CHUNKS, LEDGER} - {LOCK}


def _write_inputs(out: Path, inputs: dict[str, bytes], hashes: dict[str, str]) -> None:
    """Write the run's input copies; a failure removes the ones written (nothing half-made)."""
    try:
        for name, data in inputs.items():
            write_bytes_atomic(out / name, data)
            hashes[name] = hashlib.sha256(data).hexdigest()
    except OSError as exc:
        for name in hashes:
            remove(out / name)
        raise InputError(
            str(out / (exc.filename and Path(exc.filename).name or "")),
            "",
            f"cannot write the run's files ({exc.strerror}); nothing was kept",
        ) from None


def check_inputs(out: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is there with the recorded hash (InputError naming it)."""
    for name, digest in manifest.inputs.items():
        path = Path(out) / name
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            actual = None
        if actual != digest:
            state = "missing" if actual is None else "changed since the run started"
            raise InputError(
                str(path), "", f"{state} (the manifest records its hash); use --force to start over"
            )


def _peek_kind(out: Path) -> str:
    try:
        return str(json.loads((out / MANIFEST).read_text()).get("kind", "run"))
    except (OSError, ValueError, AttributeError):
        return "run"


def remove(path: Path) -> None:
    """Remove a file or a folder with everything in it (nothing if it is not there)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_same(
    out: Path, stored: dict[str, Any], asked: dict[str, Any], fields: Sequence[str]
) -> None:
    """Raise one InputError naming the first field where the asked run differs from the stored."""
    for name in fields:
        old, new = _dig(stored, name), _dig(json_roundtrip(asked), name)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            keys = sorted(set(old) | set(new))
            key = next(k for k in keys if old.get(k) != new.get(k))
            name, old, new = f"{name}.{key}", old.get(key), new.get(key)
        raise InputError(
            str(Path(out) / MANIFEST),
            name,
            f"the stored run has {old!r} but this command gives {new!r}; "
            "resume with the original settings, or use --force to start over",
        )


def _dig(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def remove_temporaries(out: Path) -> None:
    """Delete temporary files left by an interrupted writer (they are never complete files)."""
    for folder in (Path(out), Path(out) / CHUNKS):
        if folder.is_dir():
            for path in folder.glob(f"{TEMP_PREFIX}*"):
                remove(path)


def arrays_table(arrays: dict[str, np.ndarray], metadata: dict[str, Any] | None = None) -> pa.Table:
    """Pack arrays that share a leading axis into one table: one row per leading index.

    A 1-d array becomes a plain column; higher ones a fixed-size list column of the flattened
    trailing axes. Shapes and `metadata` go into the Parquet metadata, so `table_arrays` restores
    the arrays exactly.
    """
    columns, shapes = {}, {}
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        shapes[name] = list(array.shape)
        if array.ndim == 1:
            columns[name] = pa.array(array)
        else:
            width = int(np.prod(array.shape[1:]))
            flat = pa.array(array.reshape(-1))
            columns[name] = pa.FixedSizeListArray.from_arrays(flat, width)
    meta = {"shapes": json.dumps(shapes), "metadata": json.dumps(metadata or {})}
    return pa.table(columns).replace_schema_metadata(meta)


def table_arrays(table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata packed by `arrays_table`."""
    meta = table.schema.metadata or {}
    shapes = json.loads(meta[b"shapes"])
    arrays = {}
    for name, shape in shapes.items():
        column = table.column(name).combine_chunks()
        if len(shape) == 1:
            arrays[name] = column.to_numpy()
        else:
            arrays[name] = column.flatten().to_numpy().reshape(shape)
    return arrays, json.loads(meta[b"metadata"])
