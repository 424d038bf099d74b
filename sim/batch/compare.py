"""Paired differences between two batches run with the same seed and number of runs.

Two batches with the same seed share their random numbers replication by replication (common
random numbers, docs/batch.md), so run r of batch A and run r of batch B form a pair. For each
member, stage and month the difference of the probabilities of having reached the stage is the
mean of the paired differences D_r = [A_r reached by t] - [B_r reached by t]; its paired 95%
interval uses the variance of D_r, which is small when the pairs move together. The unpaired
interval, what two independent batches would give, uses the two variances added. Both are normal
(Wald) intervals. The chunk files are streamed in run order, pairing runs whatever each batch's
chunk size, so memory stays flat in the number of runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.batch.chunkfiles import passage_arrays, read_passage
from sim.batch.intervals import CONFIDENCE
from sim.batch.ledger import read_ledger
from sim.batch.manifests import BatchManifest
from sim.batch.results import open_batch
from sim.model.errors import InputError
from sim.model.scenario import Scenario
from sim.model.stages import LATER_STAGES

ALLIANCE_COLUMNS = ("p_any_exit_a", "p_any_exit_b")


@dataclass
class PairedCounts:
    """Per event and month: runs that reached it by then in A, in B, and in both."""

    reached_a: np.ndarray  # (events, months) int64, cumulative
    reached_b: np.ndarray
    reached_both: np.ndarray
    runs: int = 0

    @classmethod
    def empty(cls, events: int, months: int) -> PairedCounts:
        zeros = [np.zeros((events, months), dtype=np.int64) for _ in range(3)]
        return cls(*zeros)

    def add(self, first_a: np.ndarray, first_b: np.ndarray) -> None:
        """Count paired first passages (runs, events), -1 = not by the horizon."""
        months = self.reached_a.shape[1]
        for target, times in (
            (self.reached_a, first_a),
            (self.reached_b, first_b),
            (
                self.reached_both,
                np.where((first_a >= 0) & (first_b >= 0), np.maximum(first_a, first_b), -1),
            ),
        ):
            target += _cumulative_counts(times, months)
        self.runs += first_a.shape[0]


def _cumulative_counts(times: np.ndarray, months: int) -> np.ndarray:
    """(events, months): runs whose first passage is at or before each month."""
    runs, events = times.shape
    t = times.astype(np.int64)
    codes = np.where((t >= 0) & (t < months), t, months) + np.arange(events) * (months + 1)
    counts = np.bincount(codes.reshape(-1), minlength=events * (months + 1))
    return np.cumsum(counts.reshape(events, months + 1)[:, :months], axis=1)


def paired_intervals(counts: PairedCounts, confidence: float = CONFIDENCE) -> dict[str, np.ndarray]:
    """Probabilities, their difference A - B, and its paired and unpaired intervals."""
    n = max(counts.runs, 1)
    p_a, p_b = counts.reached_a / n, counts.reached_b / n
    both = counts.reached_both / n
    difference = p_a - p_b
    paired_var = np.maximum(p_a + p_b - 2 * both - difference**2, 0.0) / n
    unpaired_var = (p_a * (1 - p_a) + p_b * (1 - p_b)) / n
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    paired, unpaired = z * np.sqrt(paired_var), z * np.sqrt(unpaired_var)
    return {
        "p_a": p_a,
        "p_b": p_b,
        "difference": difference,
        "paired_low": difference - paired,
        "paired_high": difference + paired,
        "unpaired_low": difference - unpaired,
        "unpaired_high": difference + unpaired,
    }


def check_pairable(a: BatchManifest, b: BatchManifest, dir_b: Path) -> None:
    """Refuse batches whose runs do not pair (different seeds or run counts) and a batch paired
    with itself (the same directory, a link to it, or a copy of the same run)."""
    if a.run_id is not None and a.run_id == b.run_id:
        raise InputError(
            str(dir_b),
            "run_id",
            "is the same run as the first batch (the same directory, a link or a copy); "
            "expected two different batches",
        )
    for field in ("seed", "runs"):
        mine, first = getattr(b, field), getattr(a, field)
        if mine != first:
            raise InputError(
                str(dir_b),
                field,
                f"is {mine}, the first batch's is {first}; paired differences "
                "need two batches with the same seed and number of runs",
            )


def _calendar(sa: Scenario, sb: Scenario, dir_b: Path) -> int:
    """Months the two batches share; InputError when they start in different months."""
    if sa.start != sb.start:
        raise InputError(
            str(dir_b),
            "calendar.start",
            f"is {sb.month_label(0)}, the first batch's is {sa.month_label(0)}; "
            "expected batches on the same calendar",
        )
    return min(sa.months, sb.months)


def _run_blocks(
    directory: Path, manifest: BatchManifest, members: list[str]
) -> Iterator[np.ndarray]:
    """Each chunk's first passages as (runs, members * 3 + 1): the last column is first_exit
    (each chunk checked against the batch's ledger)."""
    run_id, ledger = str(manifest.run_id), read_ledger(directory)
    for index in range(manifest.chunks):
        passage = read_passage(directory, index, run_id, ledger)
        fp, first_exit = passage_arrays(passage, members)
        yield np.concatenate([fp.reshape(fp.shape[0], -1), first_exit[:, None]], axis=1)


def _paired_blocks(
    left: Iterator[np.ndarray], right: Iterator[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pair two streams of run-ordered blocks row by row, whatever their block sizes."""
    a, b = np.empty((0, 0)), np.empty((0, 0))
    while True:
        if len(a) == 0:
            a = next(left, None)
        if len(b) == 0:
            b = next(right, None)
        if a is None or b is None:
            return
        take = min(len(a), len(b))
        yield a[:take], b[:take]
        a, b = a[take:], b[take:]


def compare_batches(dir_a: Path, dir_b: Path) -> dict[str, pd.DataFrame]:
    """Tables `difference` (member x stage x month), `alliance` (any exit) and `by_date`."""
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    manifest_a, scenario_a = open_batch(dir_a)
    manifest_b, scenario_b = open_batch(dir_b)
    check_pairable(manifest_a, manifest_b, dir_b)
    months = _calendar(scenario_a, scenario_b, dir_b)
    members_a, members_b = list(scenario_a.members), list(scenario_b.members)
    shared = [m for m in members_a if m in members_b]
    stages = len(LATER_STAGES)
    pick_a = [members_a.index(m) * stages + j for m in shared for j in range(stages)] + [-1]
    pick_b = [members_b.index(m) * stages + j for m in shared for j in range(stages)] + [-1]
    counts = PairedCounts.empty(len(pick_a), months)
    blocks = _paired_blocks(
        _run_blocks(dir_a, manifest_a, members_a),
        _run_blocks(dir_b, manifest_b, members_b),
    )
    for block_a, block_b in blocks:
        counts.add(block_a[:, pick_a], block_b[:, pick_b])
    values = paired_intervals(counts)
    labels = scenario_a.month_labels()[:months]
    frames = []
    for k, (member, stage) in enumerate((m, s) for m in shared for s in LATER_STAGES):
        frame = pd.DataFrame({"member": member, "stage": stage, "month": np.arange(months)})
        frame["date"] = labels
        for name, array in values.items():
            frame[name] = array[k]
        frame["n"] = counts.runs
        frames.append(frame)
    difference = pd.concat(frames, ignore_index=True)
    alliance = pd.DataFrame({"month": np.arange(months), "date": labels})
    for name, array in values.items():
        alliance[name] = array[-1]
    alliance["n"] = counts.runs
    report = _report_months(labels)
    return {
        "difference": difference,
        "alliance": alliance,
        "by_date": difference[difference["month"].isin(report)].reset_index(drop=True),
    }


def _report_months(labels: list[str]) -> list[int]:
    """Each December and the last shared month."""
    months = [t for t, label in enumerate(labels) if label.endswith("-12")]
    return months if months and months[-1] == len(labels) - 1 else [*months, len(labels) - 1]


def width_ratio(table: pd.DataFrame) -> float:
    """Median ratio of paired to unpaired interval width over the cells where some pair differs
    (where every pair agrees the paired width is 0, which says nothing about the pairing)."""
    paired = table["paired_high"] - table["paired_low"]
    unpaired = table["unpaired_high"] - table["unpaired_low"]
    keep = (paired > 0) & (unpaired > 0)
    return float((paired[keep] / unpaired[keep]).median()) if keep.any() else float("nan")
