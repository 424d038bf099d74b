"""One way to run a job: the shared options, and a result directory written only through itself.

Every command that writes a result directory (batch, forecast, sweep, sensitivity, calibrate,
crossval, backtest and its origins) checks its inputs and options first, then runs inside

    with RunDir(out, manifest, options, inputs) as run:
        run.write_table("results", table)

which takes the directory's lock and writes the input copies and the manifest (`sim.batch.store`
.prepare_output: a new run, `--resume` or `--force`), writes the job's files only under names the
manifest's kind owns, writes the manifest last (stamped `finished` unless the job `stopped` with
its finished work kept), and releases the lock on any exit. A new run refused half-way (an
`InputError`) is taken back whole: its files, its manifest, its lock file and the directory if it
made it, so the corrected command starts as if nothing had been run.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from sim.batch import store
from sim.batch.engines import check_address
from sim.batch.manifests import Manifest
from sim.model.errors import InputError


@dataclass(frozen=True)
class RunOptions:
    """The options every job shares: where its chunks run (`workers` local processes or a Dask
    `scheduler`), what to do with a directory that holds a run (`force` replaces it, `resume`
    finishes it) and whether to show a progress bar."""

    workers: int | None = None
    scheduler: str | None = None
    force: bool = False
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.resume and self.force:
            raise InputError("--resume", "", "cannot be combined with --force; choose one")
        if self.workers is not None and self.workers < 1:
            raise InputError("--workers", str(self.workers), "expected at least 1 worker process")
        if self.scheduler is not None:
            check_address(self.scheduler)


DEFAULTS = RunOptions()


class Files:
    """A folder of a run's directory that files are written into, atomically, under owned names."""

    def __init__(self, root: Path, owned: tuple[str, ...] | None = None) -> None:
        self.root = Path(root)
        self.owned = owned  # the first part of every name written here; None: any

    def path(self, name: str) -> Path:
        """Where `name` goes (its folder made); a name the run does not own is a bug, refused."""
        head = name.split("/", 1)[0]
        if self.owned is not None and head not in self.owned:
            raise ValueError(f"{name!r} is not among the files a run here owns: {self.owned}")
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def sub(self, name: str) -> Files:
        """The files of a folder inside this one (any name may be written there)."""
        folder = self.path(name)
        folder.mkdir(exist_ok=True)
        return Files(folder)

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write `data` as `name`, atomically."""
        path = self.path(name)
        store.write_bytes_atomic(path, data)
        return path

    def write_json(self, name: str, data: Any) -> Path:
        """Write JSON (indented, UTF-8) as `name`, atomically."""
        path = self.path(name)
        store.write_json_atomic(path, data)
        return path

    def write_table(self, name: str, table: pd.DataFrame) -> None:
        """Write a table as `name`.parquet and `name`.csv, each atomically."""
        sink = io.BytesIO()
        table.to_parquet(sink, index=False)
        self.write_bytes(f"{name}.parquet", sink.getvalue())
        self.write_bytes(f"{name}.csv", table.to_csv(index=False).encode())


class RunDir(Files):
    """A job's result directory while the job runs: locked, checked, its manifest written last."""

    def __init__(
        self,
        out: Path,
        manifest: Manifest,
        options: RunOptions,
        inputs: dict[str, bytes] | None = None,
    ) -> None:
        super().__init__(Path(out), tuple(type(manifest).OWNED))
        self.asked = manifest
        self.manifest = manifest
        self.options = options
        self.inputs = inputs or {}
        self.stopped = False  # the job stopped early with its finished work kept (Ctrl-C)
        self._created = False
        self._finished = False

    @property
    def out(self) -> Path:
        """The run's directory."""
        return self.root

    def __enter__(self) -> RunDir:
        self._created = not self.root.exists()
        self.manifest = store.prepare_output(
            self.root,
            self.asked,
            force=self.options.force,
            resume=self.options.resume,
            inputs=self.inputs,
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if error is None:
                if not (self.stopped or self._finished):
                    self.manifest.finished = store.now()
                self.save()
            elif isinstance(error, InputError) and not self.options.resume:
                self._take_back()
            else:  # interrupted or stopped: keep what is done, for --resume
                with contextlib.suppress(OSError):
                    self.save()
        finally:
            store.release(self.root)

    def finish_now(self) -> None:
        """Stamp the end time now (the work is done; what follows reads the manifest)."""
        self.manifest.finished = store.now()
        self._finished = True
        self.save()

    def save(self) -> None:
        """Write the manifest as it stands (atomically)."""
        store.write_manifest(self.root, self.manifest)

    def _take_back(self) -> None:
        """Remove everything this new run wrote, so that nothing blocks the corrected command."""
        for name in store.owned_names(self.root, self.manifest.owned):
            with contextlib.suppress(OSError):
                store.remove(self.root / name)
        with contextlib.suppress(OSError):
            (self.root / store.LOCK).unlink()
            if self._created:
                self.root.rmdir()
