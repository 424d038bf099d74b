"""Figures from result directories: `figure()` builds a matplotlib Figure, `plot()` saves it.

Kinds: defection-curves, alliance, trust, capacity (batch directories), compare (several batch
directories), difference (two batches with the same seed and runs: A - B), heatmap (a sweep
directory), sobol (a sensitivity directory). The functions behind them (`sim.plots.curves`,
`.fans`, `.difference`, `.experiments`) take the contract's DataFrames directly.
May import `sim.model` and `sim.batch`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from sim.batch.manifests import BatchManifest, ExperimentManifest, read_manifest
from sim.model.errors import InputError
from sim.model.stages import LATER_STAGES
from sim.plots.curves import (
    BANDS_DRAWN,
    BANDS_FIXED,
    LAYOUTS,
    alliance_chart,
    compare_curves,
    defection_curves,
)
from sim.plots.difference import difference_curves
from sim.plots.experiments import sensitivity_bars, sweep_heatmap
from sim.plots.fans import fan_chart
from sim.plots.style import FORMATS, STAGE_LABELS, save_figure

BATCH_KINDS = ("defection-curves", "alliance", "trust", "capacity")
KINDS = (*BATCH_KINDS, "compare", "difference", "heatmap", "sobol")
EVENT_KINDS_ALL = "all"
TITLE_WIDTH = 90  # characters per title line: a 10-inch figure's title stays inside it
BANDS_MIXED = "95% bands: parameter uncertainty mixed with chance"  # one run per draw
BATCH_TITLES = {
    "defection-curves": "defection curves (95% bands)",
    "alliance": "the alliance as a whole (95% bands)",
    "trust": "trust per member (median, 50% and 90% of runs)",
    "capacity": "patron's free capacity (median, 50% and 90% of runs)",
}

__all__ = [
    "FORMATS",
    "KINDS",
    "alliance_chart",
    "compare_curves",
    "defection_curves",
    "difference_curves",
    "fan_chart",
    "figure",
    "load_batch",
    "plot",
    "resolve_format",
    "sensitivity_bars",
    "sweep_heatmap",
]


def plot(
    run_dirs: Sequence[Path] | Path,
    kind: str,
    out: Path | None = None,
    fmt: str = "png",
    **options: Any,
) -> Path:
    """Draw `kind` from the result directories and save it; return the written figure's path.

    The default path is DIR/figures/<name>.<fmt> of the first directory, the name being the
    kind's (`figure_name`). `options` go to `figure()` (by, stage, events).
    """
    dirs = [Path(run_dirs)] if isinstance(run_dirs, str | Path) else [Path(d) for d in run_dirs]
    path = figure_path(dirs, figure_name(kind, options.get("by", "stage")), out, fmt)
    fig = figure(dirs, kind, **options)
    return save_figure(fig, path, fmt)


def figure_name(kind: str, by: str = "stage") -> str:
    """A figure's file name without suffix: the kind, and `-by-member` for defection curves with
    a panel per member (so that the two layouts do not overwrite each other)."""
    return f"{kind}-by-member" if kind == "defection-curves" and by == "member" else kind


def resolve_format(out: Path | None, fmt: str | None) -> str:
    """The figure format: as given, else from --out's suffix, else PNG."""
    if fmt is not None:
        return fmt.lower()
    suffix = Path(out).suffix[1:].lower() if out is not None else ""
    return suffix if suffix in FORMATS else "png"


def figure_path(dirs: Sequence[Path], name: str, out: Path | None, fmt: str) -> Path:
    """Where the figure `name` goes, checking that the format and the file name agree."""
    if fmt not in FORMATS:
        raise InputError(
            "--format", "", f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        )
    if out is None:
        if not dirs:
            raise InputError("plot", "", "no result directory given")
        return dirs[0] / "figures" / f"{name}.{fmt}"
    out = Path(out)
    if out.is_dir():
        return out / f"{name}.{fmt}"
    if out.suffix and out.suffix[1:].lower() != fmt:
        raise InputError(str(out), "", f"file suffix {out.suffix!r} does not match format {fmt!r}")
    return out if out.suffix else out.with_suffix(f".{fmt}")


def figure(
    run_dirs: Sequence[Path],
    kind: str,
    by: str = "stage",
    stage: str = "withdrawn",
    events: str = EVENT_KINDS_ALL,
) -> Figure:
    """Build the figure of `kind` from result directories without saving it.

    by: panels per 'stage' or per 'member' (defection-curves); stage: the stage compared across
    scenarios (compare); events: 'all', 'none' or comma-separated event kinds to mark.
    """
    dirs = [Path(d) for d in run_dirs]
    if kind not in KINDS:
        raise InputError("--kind", "", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if by not in LAYOUTS:
        raise InputError("--by", "", f"unknown layout {by!r}; expected one of {', '.join(LAYOUTS)}")
    if stage not in LATER_STAGES:
        raise InputError(
            "--stage", "", f"unknown stage {stage!r}; expected one of {', '.join(LATER_STAGES)}"
        )
    if kind == "compare":
        if len(dirs) < 2:
            raise InputError("plot", "", "compare needs two or more batch directories")
        return _compare(dirs, stage)
    if kind == "difference":
        return _difference(dirs, stage)
    if len(dirs) != 1:
        raise InputError("plot", "", f"--kind {kind} takes one directory; use compare for several")
    directory = dirs[0]
    if kind == "heatmap":
        manifest = read_manifest(directory, "sweep", ExperimentManifest)
        return sweep_heatmap(
            _sweep_results(directory), manifest.varied, _title(manifest, "parameter sweep")
        )
    if kind == "sobol":
        manifest = read_manifest(directory, "sensitivity", ExperimentManifest)
        return sensitivity_bars(
            _table(directory / "indices.csv"), _title(manifest, "global sensitivity")
        )
    return _batch_figure(directory, kind, by, _event_kinds(events))


def _batch_figure(directory: Path, kind: str, by: str, kinds: set[str] | None) -> Figure:
    results = load_batch(directory)
    sc = results.scenario
    timeline = sc.timeline
    history_end = sc.month_label(sc.history_end)
    title = _batch_title(results, BATCH_TITLES[kind])
    if kind == "defection-curves":
        return defection_curves(results.curves, timeline, history_end, by, title, kinds)
    if kind == "alliance":
        return alliance_chart(
            results.alliance, len(sc.members), timeline, history_end, title, kinds
        )
    return fan_chart(results.monthly, kind, timeline, history_end, title, kinds)


def _compare(dirs: Sequence[Path], stage: str) -> Figure:
    loaded = [load_batch(d) for d in dirs]
    names = [r.scenario.name for r in loaded]
    labels = (
        names
        if len(set(names)) == len(names)
        else [f"{n} ({d.name})" for n, d in zip(names, dirs, strict=True)]
    )
    runs = [(label, r.curves, r.alliance) for label, r in zip(labels, loaded, strict=True)]
    return compare_curves(runs, stage)


def _difference(dirs: Sequence[Path], stage: str) -> Figure:
    if len(dirs) != 2:
        raise InputError("plot", "", "--kind difference takes two batch directories, A and B")
    for directory in dirs:
        read_manifest(directory, "batch")
    from sim.batch.compare import compare_batches

    tables = compare_batches(dirs[0], dirs[1])
    manifests = [read_manifest(d, "batch", BatchManifest) for d in dirs]
    names = [m.scenario.name for m in manifests]
    if names[0] == names[1]:
        names = [f"{n} ({d.name})" for n, d in zip(names, dirs, strict=True)]
    runs = int(tables["alliance"]["n"].iloc[0])
    title = (
        f"{names[0]} (A) - {names[1]} (B): {STAGE_LABELS[stage]}, paired 95% (shaded) "
        f"and unpaired (dotted)\n{runs:,} runs each, seed {manifests[0].seed}"
    )
    return difference_curves(tables["difference"], tables["alliance"], stage, title)


def load_batch(directory: Path) -> Any:
    """`sim.results.load(directory)`, with a clear error when it is not a batch directory."""
    read_manifest(directory, "batch")
    from sim.batch.results import load

    return load(directory)


def _sweep_results(directory: Path) -> pd.DataFrame:
    parquet = directory / "results.parquet"
    return pd.read_parquet(parquet) if parquet.is_file() else _table(directory / "results.csv")


def _table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(str(path), "", "file not found; was the run finished?")
    return pd.read_csv(path)


def _event_kinds(events: str) -> set[str] | None:
    from sim.model.schema import EVENT_KINDS

    text = events.strip()
    if text == EVENT_KINDS_ALL:
        return None
    if text == "none":
        return set()
    kinds = {k.strip() for k in text.split(",") if k.strip()}
    unknown = kinds - EVENT_KINDS
    if unknown:
        expected = ", ".join(sorted(EVENT_KINDS))
        raise InputError(
            "--events",
            "",
            f"unknown event kind(s) {', '.join(sorted(unknown))}; "
            f"expected all, none or some of {expected}",
        )
    return kinds


def _batch_title(results: Any, what: str) -> str:
    drawn = results.curves["param_low"].notna().any() if "param_low" in results.curves else False
    fixed = results.manifest.posterior is None
    bands = BANDS_DRAWN if drawn else BANDS_FIXED if fixed else BANDS_MIXED
    what = what.replace("95% bands", bands)
    title = textwrap.fill(f"{results.scenario.name}: {what}", TITLE_WIDTH)
    return title + _runs_note(results.manifest)


def _title(manifest: ExperimentManifest, what: str) -> str:
    name = " on ".join(n for n in (manifest.experiment.name, manifest.scenario.name) if n)
    return (f"{name}: {what}" if name else what[:1].upper() + what[1:]) + _runs_note(manifest)


def _runs_note(manifest: BatchManifest | ExperimentManifest) -> str:
    parts = [f"{manifest.runs:,} runs", f"seed {manifest.seed}"]
    posterior = manifest.posterior
    record = getattr(manifest, "forecast", None)
    if posterior is not None:
        cases = _count(len(posterior.cases), "case")
        parts.append(f"parameters drawn from the posterior of {posterior.experiment} ({cases})")
    elif isinstance(manifest, BatchManifest):
        parts.append("parameters fixed" if record else "uncalibrated: parameters fixed")
    if isinstance(record, dict):
        facts = _count(len(record["facts"]), "fact")
        parts.append(f"held to the {facts} known by {record['as_of']}")
    elif isinstance(manifest, BatchManifest):
        parts.append("not held to the record")
    note = textwrap.fill(", ".join(p for p in parts if p), TITLE_WIDTH)
    return f"\n{note}" if note else ""


def _count(n: int, noun: str) -> str:
    """`1 case`, `8 cases`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
