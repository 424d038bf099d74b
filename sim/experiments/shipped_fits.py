"""The posteriors shipped with the program: refit them from their experiments in one command.

`experiments/posteriors/fits.yaml` lists each shipped fit: a name, a pooled calibration
experiment, and optionally a case left out (the fit a forecast of that case's scenario may use,
since it never saw that record). `alliance refit-posteriors` runs each fit exactly as
`alliance calibrate` would on those cases (`sim.experiments.calibrate.fit_cases`), then keeps
only what a run under the posterior reads, in `experiments/posteriors/NAME/`:

- `posterior.parquet`: the samples, one column per fitted parameter;
- `posterior.json`: the column map (parameter, case, prior range), the values the fit held
  fixed, the fit's cases, the table's hash (`sim.batch.posterior.load_posterior` reads it);
- `provenance.json`: the command and the commit that made it, the experiment and the input
  files' hashes, the sampler settings and diagnostics.

They are package data (pyproject), so `--posterior NAME` finds them from any directory; the
default `alliance forecast` picks the one that never saw the scenario's record.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field

from sim.batch.engines import engine_for
from sim.batch.jobs import Files, RunOptions
from sim.batch.posterior import (
    POSTERIOR_MANIFEST,
    POSTERIOR_TABLE,
    manifest_digest,
    shipped_posteriors,
)
from sim.batch.store import now, versions, write_bytes_atomic, write_json_atomic
from sim.experiments.calibrate import check_settings, fit_cases
from sim.experiments.cases import load_cases
from sim.experiments.experiment import load_experiment
from sim.model.errors import InputError
from sim.model.schema import Strict
from sim.model.shipped import shipped_root
from sim.model.yamlio import load_yaml, validate_model

FITS_FILE = "fits.yaml"
PROVENANCE = "provenance.json"
COMMAND = "alliance refit-posteriors"


class ShippedFit(Strict):
    """One shipped posterior: its name, the experiment fitted, and a case left out."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    experiment: str = Field(min_length=1)  # relative to the fits file
    without: str | None = None  # a case of the experiment left out of the fit


class FitsSpec(Strict):
    """The fits file: what `alliance refit-posteriors` rebuilds."""

    description: str = Field(min_length=1)
    fits: list[ShippedFit] = Field(min_length=1)


@dataclass
class Refitted:
    """A shipped posterior written: its folder, samples, and how long the fit took."""

    name: str
    folder: Path
    samples: int
    seconds: float


def default_fits_file() -> Path:
    """The fits file of the shipped posteriors (in the checkout or the installed package)."""
    root = shipped_root("experiments")
    return (root or Path("experiments")) / "posteriors" / FITS_FILE


def load_fits(path: Path) -> FitsSpec:
    """Read and check a fits file; InputError naming the file and field."""
    data, lines = load_yaml(path)
    return validate_model(FitsSpec, data, str(path), lines)


def refit(
    fits_file: Path | None = None,
    out: Path | None = None,
    *,
    only: list[str] | None = None,
    workers: int | None = None,
    show_progress: bool = True,
) -> list[Refitted]:
    """Fit every listed posterior (or those named in `only`) and write each compactly under
    `out` (default: beside the fits file), replacing the folder only once its fit is done."""
    fits_file = Path(fits_file or default_fits_file())
    spec = load_fits(fits_file)
    out = Path(out or fits_file.parent)
    chosen = [f for f in spec.fits if only is None or f.name in only]
    unknown = sorted(set(only or []) - {f.name for f in spec.fits})
    if unknown:
        names = ", ".join(f.name for f in spec.fits)
        raise InputError("--only", ", ".join(unknown), f"not in {fits_file}; expected {names}")
    plans = [_plan(fits_file, fit) for fit in chosen]  # every input checked before any fit
    done = []
    for fit, (experiment, cases) in zip(chosen, plans, strict=True):
        with tempfile.TemporaryDirectory(prefix=f"refit-{fit.name}-") as work:
            options = RunOptions(workers=workers, progress=show_progress)
            with engine_for(workers, None) as engine:
                posterior = fit_cases(
                    experiment, cases, Files(Path(work)), engine, options, label=fit.name
                )
            provenance = {
                "command": _command(fits_file, fit.name),
                "commit": commit(),
                "fit": fit.model_dump(),
                "experiment": {"path": fit.experiment, "hash": experiment.content_hash},
                "inputs": {
                    case.name: {
                        "scenario_hash": case.scenario.content_hash,
                        "observations_hash": case.observations.content_hash,
                    }
                    for case in cases
                },
                "summary": posterior.fit.summary,
                "versions": versions(),
                "created": now(),
            }
            folder = compact(Path(work), out / fit.name, fit.name, provenance)
        done.append(
            Refitted(fit.name, folder, len(posterior.samples), posterior.fit.summary["seconds"])
        )
    return done


def _plan(fits_file: Path, fit: ShippedFit) -> tuple[Any, list[Any]]:
    """The experiment and the cases of one fit, checked."""
    experiment = load_experiment(fits_file.parent / fit.experiment)
    cases = load_cases(experiment, None)
    names = [c.name for c in cases]
    if fit.without is not None and fit.without not in names:
        raise InputError(
            str(fits_file),
            f"{fit.name}.without",
            f"no case {fit.without!r}; expected one of {names}",
        )
    cases = [c for c in cases if c.name != fit.without]
    check_settings(experiment, cases)
    return experiment, cases


def _command(fits_file: Path, name: str) -> str:
    default = fits_file.resolve() == default_fits_file().resolve()
    return f"{COMMAND} --only {name}" + ("" if default else f" --fits {fits_file}")


def commit() -> str:
    """The checkout's commit (with `-dirty` if it has uncommitted changes), or `unknown`."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "sim", "scenarios",
             "experiments"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def compact(
    calibration: Path,
    folder: Path,
    name: str,
    provenance: dict[str, Any],
    records: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Keep what a run under a calibration directory's posterior reads: the samples of the
    fitted parameters, the column map and the held values; write them and `provenance` (its
    experiment path relative to the fits file, so no local path ships) into `folder`, which is
    replaced whole. `records` adds fields to the fit's cases (their `record`, for fits made
    before calibrate noted it)."""
    records = records or {}
    manifest = json.loads((calibration / POSTERIOR_MANIFEST).read_text(encoding="utf-8"))
    table = pd.read_parquet(calibration / manifest["table"])[list(manifest["parameters"])]
    sink = io.BytesIO()
    table.to_parquet(sink, index=False)
    data = sink.getvalue()
    compacted = {
        "kind": "posterior",
        "table": POSTERIOR_TABLE,
        "hash": hashlib.sha256(data).hexdigest(),
        "samples": len(table),
        "experiment": {"name": name, "path": provenance["experiment"]["path"]},
        "cases": [{**case, **records.get(case["name"], {})} for case in manifest["cases"]],
        "parameters": manifest["parameters"],
        "fixed": manifest["fixed"],
        "created": manifest.get("created"),
    }
    compacted["manifest_hash"] = manifest_digest(compacted)
    staging = folder.with_name(f".{folder.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_bytes_atomic(staging / POSTERIOR_TABLE, data)
    write_json_atomic(staging / POSTERIOR_MANIFEST, compacted)
    write_json_atomic(staging / PROVENANCE, provenance)
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return folder


def describe_shipped() -> list[dict[str, Any]]:
    """Each shipped posterior: name, cases, samples, and the command and commit that made it."""
    rows = []
    for folder in shipped_posteriors():
        manifest = json.loads((folder / POSTERIOR_MANIFEST).read_text(encoding="utf-8"))
        provenance_path = folder / PROVENANCE
        provenance = (
            json.loads(provenance_path.read_text(encoding="utf-8"))
            if provenance_path.is_file()
            else {}
        )
        rows.append(
            {
                "name": folder.name,
                "cases": [c["name"] for c in manifest["cases"]],
                "samples": manifest["samples"],
                "parameters": list(manifest["parameters"]),
                "command": provenance.get("command", ""),
                "commit": provenance.get("commit", ""),
            }
        )
    return rows
