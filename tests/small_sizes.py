"""Shrink a shipped command to test size: small --runs, and experiment files with small designs.

The README test and the notebook test run the commands a reader sees; these helpers keep each
one seconds long without changing what it does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Sizes an experiment file is cut to (never raised): replications per point, design sizes, and
# the sampler's walkers and steps.
SMALL_REPLICATIONS = 20
SMALL_DESIGN = {"points": 6, "levels": 2, "samples": 4, "trajectories": 2}
# Walkers and a batch stay (at least two per fitted parameter); the sampler stops sooner.
SMALL_CALIBRATION = {"steps": 3, "burn": 1, "batch": 16, "max_evaluations": 16, "draws": 200}
# Options that set a size on the command line, and the small value each is cut to.
SMALL_OPTIONS = {"--runs": "1000", "--chunk-size": "1000", "--workers": "1"}
PATH_FIELDS = ("scenario", "observations")


def _absolute(value: str, folder: Path) -> str:
    path = Path(value)
    return value if path.is_absolute() else str((folder / path).resolve())


def shrink_experiment(path: Path, target_folder: Path) -> Path:
    """A copy of an experiment file with small sizes and absolute paths, in `target_folder`."""
    data: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    folder = Path(path).resolve().parent
    if "replications" in data:
        data["replications"] = min(int(data["replications"]), SMALL_REPLICATIONS)
    for key, small in SMALL_DESIGN.items():
        if key in (data.get("design") or {}):
            data["design"][key] = min(int(data["design"][key]), small)
    calibration = data.get("calibration") or {}
    fitted = len(data.get("parameters") or {})
    for key, small in SMALL_CALIBRATION.items():
        if key in calibration:  # a batch keeps two points per fitted parameter, as required
            keep = 2 * fitted if key in ("batch", "max_evaluations") else 0
            calibration[key] = min(int(calibration[key]), max(small, keep))
    start = calibration.get("walkers") or calibration.get("batch")
    if start and "points" in (data.get("design") or {}):  # the design must fit the first proposal
        data["design"]["points"] = max(data["design"]["points"], int(start))
    for field in PATH_FIELDS:
        if isinstance(data.get(field), str):
            data[field] = _absolute(data[field], folder)
    for case in data.get("cases") or []:
        if "replications" in case:
            case["replications"] = min(int(case["replications"]), SMALL_REPLICATIONS)
        for field in PATH_FIELDS:
            if isinstance(case.get(field), str):
                case[field] = _absolute(case[field], folder)
    target_folder.mkdir(parents=True, exist_ok=True)
    target = target_folder / Path(path).name
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def is_experiment(path: Path) -> bool:
    """Whether a YAML file is an experiment specification (it has a design or cases)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and ("design" in data or "cases" in data)


def shrink_arguments(args: list[str], root: Path, scratch: Path) -> list[str]:
    """A command's arguments with small sizes: options cut, experiment files shrunk into `scratch`.

    Paths are read relative to `root` (the checkout); output paths stay relative, so the
    command must run with `scratch` as its working directory, where relative inputs do not
    exist: every existing input path is made absolute."""
    small: list[str] = []
    expect_value: str | None = None
    for arg in args:
        if expect_value is not None:
            small.append(SMALL_OPTIONS[expect_value])
            expect_value = None
            continue
        option, _, value = arg.partition("=")
        if option in SMALL_OPTIONS:
            if value:
                small.append(f"{option}={SMALL_OPTIONS[option]}")
            else:
                small.append(arg)
                expect_value = option
            continue
        candidate = root / arg
        if not arg.startswith("-") and candidate.is_file():
            if candidate.suffix in (".yaml", ".yml") and is_experiment(candidate):
                small.append(str(shrink_experiment(candidate, scratch / "experiments")))
            else:
                small.append(str(candidate.resolve()))
            continue
        small.append(arg)
    return small
