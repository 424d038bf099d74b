"""The workflows users wait for, timed beside the batch figures: the nine-case pooled
calibration, one fold of its cross-validation and (opt-in) the ATOP library's calibration.

Each runs as the user types it (`alliance calibrate EXPERIMENT`, `alliance crossval EXPERIMENT
--only-fold 1`) in a probe process (`benchmarks.probe`: wall and CPU seconds of the whole process
tree), at the shipped settings; the effective sample size is read from the run's summary.json
and shown per wall minute and per CPU minute, so that a slower engine or a worse sampler shows.
`--quick` runs the same commands on a copy of each experiment with a short fit and fewer
held-out runs (`QUICK`): it checks that the workflows run, and its figures meet no target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from benchmarks.probe import alliance_command, run_probed

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "experiments" / "calibrate_history.yaml"
ATOP = ROOT / "experiments" / "calibrate_atop.yaml"
# --quick: a 32-point design; the importance sampler in batches of 32 points until 20 effective
# samples or 128 evaluations (emcee: 20 steps, 10 of burn-in); 200 held-out runs.
QUICK: dict[str, Any] = {
    "points": 32,
    "importance": {"batch": 32, "effective_samples": 20, "max_evaluations": 128},
    "emcee": {"steps": 20, "burn": 10},
    "runs": 200,
}


def per_minute(count: float | None, seconds: float) -> float | None:
    """`count` per minute of `seconds` (None where the count is unknown or no time passed)."""
    if count is None or seconds <= 0:
        return None
    return count * 60.0 / seconds


def read_summary(summary: Path) -> dict[str, Any]:
    """A run's summary.json ({} where it is missing or unreadable)."""
    try:
        data = json.loads(summary.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_ess(summary: Path) -> float | None:
    """The effective sample size a calibration's summary.json gives (None where it has none)."""
    value = read_summary(summary).get("effective_sample_size")
    return float(value) if isinstance(value, int | float) else None


def quick_experiment(experiment: Path, folder: Path) -> Path:
    """A copy of `experiment` in `folder` with QUICK's short fit (for its sampler), its files
    named absolutely."""
    spec = yaml.safe_load(experiment.read_text())
    here = experiment.parent

    def absolute(path: str) -> str:
        return str((here / path).resolve())

    spec["scenario"] = absolute(spec["scenario"])
    for case in spec.get("cases") or []:
        case["scenario"], case["observations"] = (
            absolute(case["scenario"]),
            absolute(case["observations"]),
        )
    spec["design"]["points"] = QUICK["points"]
    calibration = spec.setdefault("calibration", {})
    calibration.update(QUICK[calibration.get("sampler", "importance")])
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / experiment.name
    copy.write_text(yaml.safe_dump(spec, sort_keys=False))
    return copy


def timed(command: list[str]) -> dict[str, Any]:
    """Run one workflow command under the probe: its wall and CPU seconds."""
    result = run_probed(command)
    return {
        "command": " ".join(["alliance", *command[len(alliance_command()) :]]),
        "seconds": result["seconds"],
        "cpu_seconds": result["cpu_seconds"],
    }


def with_ess(figures: dict[str, Any], summary: Path) -> dict[str, Any]:
    """`figures` with the effective sample size that `summary` gives, per wall and CPU minute."""
    ess = read_ess(summary)
    return {
        **figures,
        "effective_sample_size": ess,
        "ess_kind": read_summary(summary).get("effective_sample_size_kind"),
        "ess_per_minute": per_minute(ess, figures["seconds"]),
        "ess_per_cpu_minute": per_minute(ess, figures["cpu_seconds"]),
    }


def time_calibration(experiment: Path, workers: int, out: Path) -> dict[str, Any]:
    """`alliance calibrate EXPERIMENT` with `workers` processes."""
    command = [*alliance_command(), "calibrate", str(experiment), "--out", str(out)]
    figures = timed([*command, "--force", "--workers", str(workers)])
    return with_ess(figures, out / "summary.json")


def time_fold(experiment: Path, workers: int, out: Path, runs: int | None) -> dict[str, Any]:
    """`alliance crossval EXPERIMENT --only-fold 1` (the shipped runs unless `runs`), and the
    whole cross-validation extrapolated: the fold's time x the number of folds."""
    command = [*alliance_command(), "crossval", str(experiment), "--out", str(out)]
    command += ["--only-fold", "1", "--force", "--workers", str(workers)]
    if runs is not None:
        command += ["--runs", str(runs)]
    figures = timed(command)
    fold = next((out / "folds").glob("*/summary.json"), out / "folds" / "summary.json")
    folds = json.loads((out / "summary.json").read_text())["of_folds"]
    return {
        **with_ess(figures, fold),
        "fold": fold.parent.name,
        "folds": folds,
        "crossval_seconds": figures["seconds"] * folds,
        "crossval_cpu_seconds": figures["cpu_seconds"] * folds,
    }


def run_workflows(
    workers: int, folder: Path, quick: bool, atop: bool, say: Any = print
) -> dict[str, Any]:
    """Every workflow into `folder` (QUICK's settings where `quick`); `say` names each step."""
    history, library = HISTORY, ATOP
    if quick:
        history = quick_experiment(HISTORY, folder / "quick")
        library = quick_experiment(ATOP, folder / "quick")
    figures: dict[str, Any] = {"quick": quick}
    say(f"alliance calibrate {HISTORY.name}")
    figures["calibration"] = time_calibration(history, workers, folder / "calibrate")
    say(f"alliance crossval {HISTORY.name} --only-fold 1")
    runs = QUICK["runs"] if quick else None
    figures["fold"] = time_fold(history, workers, folder / "crossval", runs)
    if atop:
        say(f"alliance calibrate {ATOP.name}")
        figures["atop"] = time_calibration(library, workers, folder / "calibrate_atop")
    return figures


def _ess(value: float | None, digits: int = 0) -> str:
    """A count or rate for the table ('n/a' where the run gave none)."""
    return "n/a" if value is None else f"{value:,.{digits}f}"


def report_workflows(console: Any, figures: dict[str, Any]) -> None:
    """Print each workflow's wall and CPU time and its effective samples per minute."""
    from rich.table import Table

    settings = "--quick: a short fit, not the shipped settings" if figures["quick"] else ""
    table = Table(title=f"Workflows{f' ({settings})' if settings else ', shipped settings'}")
    for name in ("workflow", "wall s", "CPU s", "ESS", "ESS / min", "ESS / CPU min"):
        table.add_column(name, justify="left" if name == "workflow" else "right")
    rows = [("nine-case calibration", figures["calibration"])]
    fold = figures["fold"]
    rows.append((f"cross-validation, fold 1 ({fold['fold']})", fold))
    if "atop" in figures:
        rows.append(("ATOP library calibration", figures["atop"]))
    for label, row in rows:
        table.add_row(
            label, f"{row['seconds']:.1f}", f"{row['cpu_seconds']:.1f}",
            _ess(row["effective_sample_size"]), _ess(row["ess_per_minute"], 1),
            _ess(row["ess_per_cpu_minute"], 1),
        )  # fmt: skip
    console.print(table)
    kinds = sorted({str(row["ess_kind"]) for _, row in rows if row.get("ess_kind")})
    if kinds:
        console.print(f"ESS: the fit's effective sample size ({'; '.join(kinds)}).")
    console.print(
        f"Cross-validation, at most fold 1 x {fold['folds']} folds: "
        f"{fold['crossval_seconds']:.0f} s wall, {fold['crossval_cpu_seconds']:.0f} s CPU (an "
        "upper bound: a single fold fits alone, where a whole cross-validation with the "
        "importance sampler starts every fold from one run on all cases; at least the "
        "nine-case calibration's time)."
    )
