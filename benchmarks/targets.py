"""Issue 22's targets, each met or not by the figures of one benchmark run (never a timed test).

`verdicts(figures)` reads the dictionary `benchmarks/bench.py` builds (and writes with --json)
and returns one `Verdict` per target: the limit, the measured value, met (True or False), or
None with the reason where this run did not measure it (--quick, other sizes, --atop not given).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

MILLION, TEN_THOUSAND = 1_000_000, 10_000


@dataclass(frozen=True)
class Verdict:
    """One target: what it asks, the limit, the measured value, and whether it is met."""

    target: str
    limit: str
    value: str
    met: bool | None  # None: not measured by this run (`value` says why)

    def label(self) -> str:
        """met, NOT MET, or not measured."""
        return {True: "met", False: "NOT MET", None: "not measured"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        """The verdict for the JSON output."""
        return {**asdict(self), "verdict": self.label()}


def at_most(target: str, value: float | None, limit: float, unit: str, why: str) -> Verdict:
    """A target of the form `value <= limit` (None: not measured, `why` says why)."""
    if value is None:
        return Verdict(target, f"<= {limit:g}{unit}", why, None)
    return Verdict(target, f"<= {limit:g}{unit}", f"{value:.2f}{unit}", value <= limit)


def crossval_verdict(calibration: dict | None, fold: dict | None, why: str) -> Verdict:
    """The cross-validation's target from its bounds: at least the nine-case calibration (the
    run on every case that a whole cross-validation starts its folds from), at most one fold
    fitted alone x the number of folds; between the two, this run cannot tell."""
    target, limit = "its cross-validation, wall (bounds: the calibration; fold 1 x folds)", 120
    if calibration is None or fold is None:
        return at_most(target, None, limit, " s", why)
    low, high = calibration["seconds"], fold["crossval_seconds"]
    value = f"{low:.0f} to {high:.0f} s"
    met = True if high <= limit else False if low > limit else None
    return Verdict(target, f"<= {limit} s", value, met)


def verdicts(figures: dict[str, Any]) -> list[Verdict]:
    """Every target of issue 22 against this run's figures."""
    flows = figures.get("workflows")
    quick = "--quick settings (not the shipped ones)"
    skipped = "workflows not run (--no-workflows)"
    why = skipped if flows is None else quick if flows.get("quick") else ""
    shipped = flows if flows is not None and not flows.get("quick") else {}
    calibration, fold = shipped.get("calibration"), shipped.get("fold")
    atop = shipped.get("atop")
    workers = f"{figures.get('workers')} worker(s)"
    rows = [
        at_most(
            f"nine-case pooled calibration, wall, {workers} (2 cores)",
            calibration and calibration["seconds"], 20, " s", why,
        ),
        crossval_verdict(calibration, fold, why),
        at_most(
            "ATOP library's pooled calibration, wall",
            atop and atop["seconds"], 600, " s", why or "not run (give --atop)",
        ),
    ]  # fmt: skip
    batches = figures.get("batches") or []
    sizes = [b["runs"] for b in batches]
    largest = max(sizes, default=None) == MILLION
    pair = largest and min(sizes) == TEN_THOUSAND
    no_million = (
        f"largest batch {max(sizes):,} runs, not 10^6"
        if sizes
        else "batch figures not run (--workflows-only)"
    )
    rows.append(
        at_most(
            "10^6 runs of the scenario, x the numpy floor",
            figures.get("floor_ratio") if largest else None, 3, "x", no_million,
        )
    )  # fmt: skip
    ratio = figures.get("ratio") if largest else None
    rows.append(
        Verdict(
            "10^6 runs: runs per second x mesa.batch_run's, same run",
            ">= 1000x",
            no_million if ratio is None else f"{ratio:,.0f}x",
            None if ratio is None else ratio >= 1000,
        )
    )
    small, floor = figures.get("small_default"), figures.get("startup_floor")
    startup = (
        small["seconds"] / floor["seconds"]
        if small and floor and small["runs"] == TEN_THOUSAND
        else None
    )
    verdict = at_most(
        "10^4 runs end to end (one process), x the start-up floor",
        startup, 1.25, "x", "smallest batch not 10^4 runs" if sizes else no_million,
    )  # fmt: skip
    if startup is not None and small.get("cpu_seconds") and floor.get("cpu_seconds"):
        cpu = small["cpu_seconds"] / floor["cpu_seconds"]  # what a shared machine can compare
        verdict = replace(verdict, value=f"{verdict.value} (CPU {cpu:.2f}x)")
    rows.append(verdict)
    rows.append(
        at_most(
            "peak memory, 10^6 runs over 10^4",
            figures.get("memory_ratio") if pair else None, 1.5, "x",
            "sizes do not include both 10^4 and 10^6" if sizes else no_million,
        )
    )  # fmt: skip
    return rows


def report_targets(console: Any, rows: list[Verdict]) -> None:
    """Print each target with its limit, this run's value and met / NOT MET / not measured."""
    from rich.table import Table

    table = Table(title="Targets of issue 22, from this run's figures")
    for name in ("target", "limit", "this run", "verdict"):
        table.add_column(name, justify="left" if name == "target" else "right")
    for row in rows:
        style = {True: "green", False: "bold red", None: "dim"}[row.met]
        table.add_row(row.target, row.limit, row.value, f"[{style}]{row.label()}[/]")
    console.print(table)
