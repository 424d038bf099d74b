"""Output directories that lose nothing: a manifest, atomic files, chunks listed by what is on disk.

Generic over kinds of run (batch, sweep, sensitivity): a run directory holds `manifest.json`
describing what was asked, and the run's files, each written to a temporary file and renamed
into place (`os.replace`), so a file either is complete or is not there. An interrupted run is
finished with `resume`, which refuses when the new command asks for something different.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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

from sim.model.errors import InputError

MANIFEST = "manifest.json"
CHUNKS = "chunks"
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
    try:
        readable_by_all(temp)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def parquet_bytes(table: pa.Table) -> bytes:
    """A table encoded as Parquet (zstd), ready to ship between processes or machines."""
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


def read_manifest(out: Path, kind: str | None = None) -> dict[str, Any]:
    """The manifest of a run directory; InputError if it is missing, unreadable or another kind."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise InputError(str(out), MANIFEST, f"no {MANIFEST}; expected a run directory")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(str(path), "", f"unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise InputError(str(path), "", "expected a JSON object")
    if kind is not None and manifest.get("kind") != kind:
        got = manifest.get("kind")
        raise InputError(str(path), "kind", f"expected a {kind} directory, this holds a {got}")
    return manifest


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically."""
    write_json_atomic(Path(out) / MANIFEST, manifest)


def prepare_output(
    out: Path,
    manifest: dict[str, Any],
    *,
    force: bool,
    resume: bool,
    compare: Sequence[str],
    owned: Iterable[str] = (),
) -> dict[str, Any]:
    """Make `out` ready for a run described by `manifest`; return the manifest in effect.

    A directory holding a run is refused unless `resume` (the manifests must agree on every
    dotted field in `compare`; the stored manifest is returned) or `force` (the previous run's
    `owned` entries, the manifest and chunks are removed first). A non-empty directory holding
    no run is used only with `force`, and then nothing in it is deleted.
    """
    out = Path(out)
    if resume and force:
        raise InputError("--resume", "", "cannot be combined with --force; choose one")
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "", "exists and is not a directory")
    holds_run = (out / MANIFEST).exists()
    if resume:
        if not holds_run:
            raise InputError(str(out), MANIFEST, "nothing to resume: no run was started here")
        previous = read_manifest(out, manifest.get("kind"))
        check_same(out, previous, manifest, compare)
        remove_temporaries(out)
        return previous
    if holds_run:
        if not force:
            kind = _peek_kind(out)
            raise InputError(
                str(out),
                "",
                f"already holds a {kind}; use --resume to finish it or --force to replace it",
            )
        for name in {MANIFEST, CHUNKS, *owned}:
            _remove(out / name)
    elif out.exists() and any(out.iterdir()) and not force:
        raise InputError(
            str(out), "", "is not empty and holds no run; choose a new directory or use --force"
        )
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)
    return manifest


def _peek_kind(out: Path) -> str:
    try:
        return str(json.loads((out / MANIFEST).read_text()).get("kind", "run"))
    except (OSError, ValueError, AttributeError):
        return "run"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_same(
    out: Path, stored: dict[str, Any], asked: dict[str, Any], fields: Sequence[str]
) -> None:
    """Raise one InputError naming the first field where the asked run differs from the stored."""
    for name in fields:
        old, new = _dig(stored, name), _dig(asked, name)
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


def chunk_path(out: Path, kind: str, index: int) -> Path:
    """Where chunk `index`'s table of a given kind lives: chunks/<kind>-<index>.parquet."""
    return Path(out) / CHUNKS / f"{kind}-{index:06d}.parquet"


def finished_chunks(out: Path, kinds: Sequence[str], count: int) -> list[int]:
    """Indices of chunks (of `count`) whose tables of every kind in `kinds` are all on disk."""
    folder = Path(out) / CHUNKS
    present = {p.name for p in folder.glob("*.parquet")} if folder.is_dir() else set()
    return [i for i in range(count) if all(chunk_path(out, k, i).name in present for k in kinds)]


def remove_temporaries(out: Path) -> None:
    """Delete temporary files left by an interrupted writer (they are never complete files)."""
    for folder in (Path(out), Path(out) / CHUNKS):
        if folder.is_dir():
            for path in folder.glob(f"{TEMP_PREFIX}*"):
                _remove(path)


def write_chunk(out: Path, index: int, files: dict[str, bytes]) -> None:
    """Write one chunk's encoded tables, each atomically; the chunk counts once all are there."""
    for kind, data in files.items():
        write_bytes_atomic(chunk_path(out, kind, index), data)


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
