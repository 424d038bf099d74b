"""Read a batch directory: `load(DIR)` gives every estimand as a pandas DataFrame.

Summaries are computed by streaming the chunk files (first passages are counted per month,
monthly aggregates merged), so memory stays flat in the number of runs. `alliance summarize DIR`
stores them under DIR/summary/; `load` reads those when they match the batch, and otherwise
computes them (without writing anything).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.batch import store
from sim.batch.chunkfiles import (
    DRAW,
    passage_arrays,
    read_aggregates,
    read_passage,
    read_trajectories,
)
from sim.batch.conditioning import padded
from sim.batch.draws import DrawCounts
from sim.batch.estimands import PassageCounts, report_months, summary_tables
from sim.batch.lanes import MonthlyAggregates
from sim.batch.ledger import read_ledger
from sim.batch.manifests import BatchManifest, read_manifest
from sim.batch.posterior import interval_notes, run_label, runs_per_draw, uncertainty_note
from sim.batch.runner import KIND, SCENARIO_COPY, is_complete
from sim.model.errors import InputError, RunStopped
from sim.model.run import write_tables
from sim.model.scenario import Scenario, load_scenario
from sim.model.stages import LATER_STAGES

SUMMARY = "summary"
SUMMARY_JSON = "summary.json"
TABLES = ("curves", "alliance", "by_date", "median_time", "monthly", "stage_shares")


@dataclass
class BatchResults:
    """Every estimand of a finished batch (docs/batch.md describes each table and column)."""

    directory: Path
    manifest: BatchManifest
    scenario: Scenario
    curves: pd.DataFrame
    alliance: pd.DataFrame
    by_date: pd.DataFrame
    median_time: pd.DataFrame
    monthly: pd.DataFrame
    stage_shares: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The summary tables by name."""
        return {name: getattr(self, name) for name in TABLES}

    def first_passage(
        self, members: Sequence[str] | None = None, stages: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Per run, member and stage: first month the stage was reached (-1 = censored).

        Long table run, member, stage, month; 15 rows per run for 5 members, so filter by
        `members` and `stages` for large batches.
        """
        names = list(self.scenario.members)
        pick_members = _checked(members, names, "member")
        pick_stages = _checked(stages, list(LATER_STAGES), "stage")
        frames = []
        run_id, ledger = str(self.manifest.run_id), read_ledger(self.directory)
        for index in range(self.manifest.chunks):
            table = read_passage(self.directory, index, run_id, ledger)
            fp, _ = passage_arrays(table, names)
            runs = table.column("run").to_numpy()
            for i in pick_members:
                for j in pick_stages:
                    frames.append(
                        pd.DataFrame(
                            {
                                "run": runs,
                                "member": names[i],
                                "stage": LATER_STAGES[j],
                                "month": fp[:, i, j],
                            }
                        )
                    )
        frame = pd.concat(frames, ignore_index=True)
        frame["member"] = pd.Categorical(frame["member"], categories=names)
        frame["stage"] = pd.Categorical(frame["stage"], categories=list(LATER_STAGES))
        return frame.sort_values(["run", "member", "stage"], ignore_index=True)

    def trajectories(self) -> pd.DataFrame:
        """Long table run, month, date, actor, variable, value (batches run with --trajectories).

        Variables: trust (members), status (members: 0 active, 1 disengaged, 2 frozen,
        3 withdrawn) and capacity (the patron), each at the end of the month.
        """
        if not self.manifest.trajectories:
            raise InputError(
                str(self.directory), "trajectories", "this batch ran without --trajectories"
            )
        run_id, ledger = str(self.manifest.run_id), read_ledger(self.directory)
        tables = [
            read_trajectories(self.directory, i, run_id, ledger)
            for i in range(self.manifest.chunks)
        ]
        frame = pa.concat_tables(tables).to_pandas()
        labels = np.array(self.scenario.month_labels())
        frame.insert(2, "date", labels[frame["month"].to_numpy()])
        return frame


def _checked(picked: Sequence[str] | None, names: list[str], what: str) -> list[int]:
    if picked is None:
        return list(range(len(names)))
    unknown = [p for p in picked if p not in names]
    if unknown:
        raise InputError(what, ", ".join(unknown), f"unknown {what}; expected one of {names}")
    return [names.index(p) for p in picked]


def open_batch(directory: Path) -> tuple[BatchManifest, Scenario]:
    """Manifest and scenario of a complete batch; InputError if unfinished or altered."""
    directory = Path(directory)
    manifest = read_manifest(directory, KIND, BatchManifest)
    done, total = is_complete(directory, manifest)
    if done < total:
        raise InputError(
            str(directory),
            "chunks",
            f"batch incomplete: {done} of {total} chunks finished; finish it with: "
            + manifest.resume_command(directory),
        )
    if manifest.run_id is None:
        raise InputError(
            str(directory / store.MANIFEST),
            "run_id",
            "written by an older version without chunk checks; run the batch again with --force",
        )
    copy = directory / SCENARIO_COPY
    scenario = load_scenario(copy)
    if scenario.content_hash != manifest.scenario.hash:
        raise InputError(str(copy), "", "changed since the batch ran (its hash differs)")
    return manifest, scenario


def compute_summary(
    directory: Path,
    manifest: BatchManifest,
    scenario: Scenario,
    on_chunk: Callable[[int, int], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every summary table of a batch, streaming its chunk files one at a time."""
    members = list(scenario.members)
    counts = PassageCounts.empty(len(members), scenario.months)
    aggregates = MonthlyAggregates.empty(scenario.months, len(members))
    draws = draw_counts(manifest, len(members), scenario.months)
    total, run_id, ledger = manifest.chunks, str(manifest.run_id), read_ledger(directory)
    for index in range(total):
        passage = read_passage(directory, index, run_id, ledger)
        fp, first_exit = passage_arrays(passage, members)
        counts.add(fp, first_exit)
        if draws is not None:
            draws.add(fp, first_exit, passage.column(DRAW).to_numpy())
        aggregates = aggregates.merge(read_aggregates(directory, index, run_id, ledger))
        if on_chunk:
            on_chunk(index + 1, total)
    if counts.runs != manifest.runs or aggregates.runs != manifest.runs:
        raise InputError(
            str(directory),
            "chunks",
            f"chunk files hold {counts.runs} runs, the manifest says {manifest.runs}",
        )
    return summary_tables(scenario, counts, aggregates, draws)


def draw_counts(manifest: BatchManifest, members: int, months: int) -> DrawCounts | None:
    """Empty per-draw counts for a batch whose runs are grouped by parameter draw, else None."""
    k = runs_per_draw(manifest)
    if k < 2:
        return None
    lanes = padded(manifest.runs)  # a conditioned run may descend from a padding lane
    return DrawCounts.empty(-(-lanes // k), members, len(LATER_STAGES), months)


def _fingerprint(manifest: BatchManifest) -> dict[str, Any]:
    keys = ("seed", "runs", "chunk_size", "finished", "parameters")
    return {"scenario_hash": manifest.scenario.hash, **{k: getattr(manifest, k) for k in keys}}


def write_summary(
    directory: Path, manifest: BatchManifest, scenario: Scenario, tables: dict[str, pd.DataFrame]
) -> Path:
    """Write DIR/summary/<table>.{csv,parquet} and summary.json (last, marking it complete)."""
    folder = Path(directory) / SUMMARY
    write_tables(tables, folder)
    store.write_json_atomic(folder / SUMMARY_JSON, summary_document(manifest, scenario, tables))
    return folder


def summary_document(
    manifest: BatchManifest, scenario: Scenario, tables: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    """The headline numbers as JSON: by-date probabilities, medians and the alliance outlook."""
    alliance = tables["alliance"]
    at_dates = alliance[alliance["month"].isin(report_months(scenario))]
    return {
        "fingerprint": _fingerprint(manifest),
        "scenario": manifest.scenario.name,
        "runs": manifest.runs,
        "seed": manifest.seed,
        "horizon": scenario.month_label(scenario.months - 1),
        "confidence": 0.95,
        "uncertainty": uncertainty_note(manifest),
        "label": run_label(manifest),
        "intervals": interval_notes(manifest),
        "posterior": manifest.posterior and manifest.posterior.model_dump(mode="json"),
        "tables": {name: f"{name}.csv" for name in tables},
        "by_date": _records(tables["by_date"]),
        "median_time": _records(tables["median_time"]),
        "alliance_by_date": _records(at_dates),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict(orient="records")


def _stored_summary(directory: Path, manifest: BatchManifest) -> dict[str, pd.DataFrame] | None:
    folder = Path(directory) / SUMMARY
    marker = folder / SUMMARY_JSON
    if not marker.is_file():
        return None
    try:
        document = store.read_json(marker)
        if document.get("fingerprint") != store.json_roundtrip(_fingerprint(manifest)):
            return None
        return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    except (OSError, ValueError):
        return None


def load(directory: str | Path) -> BatchResults:
    """Every estimand of a finished batch, from DIR/summary when current, else from the chunks."""
    directory = Path(directory)
    manifest, scenario = open_batch(directory)
    tables = _stored_summary(directory, manifest)
    if tables is None:
        tables = compute_summary(directory, manifest, scenario)
    return BatchResults(directory, manifest, scenario, **tables)


def summarize(
    directory: str | Path, on_chunk: Callable[[int, int], None] | None = None
) -> tuple[BatchResults, Path]:
    """Compute a batch's summaries from its chunks and write them under DIR/summary/."""
    directory = Path(directory)
    manifest, scenario = open_batch(directory)
    store.acquire(directory)  # nothing else may write here while the summary is written
    try:
        tables = compute_summary(directory, manifest, scenario, on_chunk)
        folder = write_summary(directory, manifest, scenario, tables)
    except OSError as exc:
        raise RunStopped(
            str(exc.filename or directory),
            f"cannot write the summary ({exc.strerror})",
            f"alliance summarize {directory}",
        ) from None
    finally:
        store.release(directory)
    return BatchResults(directory, manifest, scenario, **tables), folder
