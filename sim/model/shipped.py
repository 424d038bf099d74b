"""The scenarios and experiments shipped with the program, found by name from any directory.

A name such as `NAME` (or `history/NAME`) means the shipped file of that stem:
under `sim/shipped/` in an installed wheel, or the checkout's top-level `scenarios/` and
`experiments/` folders in a source tree or an editable install. A path that exists always wins.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PACKAGE = Path(__file__).resolve().parent.parent
KINDS = ("scenarios", "experiments")
POSTERIORS = "posteriors"  # experiments/posteriors/: the shipped fits (sim.batch.posterior)


def shipped_root(kind: str) -> Path | None:
    """The folder of shipped files of a kind, installed or in the checkout (None if absent)."""
    for folder in (PACKAGE / "shipped" / kind, PACKAGE.parent / kind):
        if folder.is_dir():
            return folder
    return None


def resolve(path: str | Path, kind: str) -> Path:
    """The file a command-line argument means: the path itself if it exists, else a shipped name.

    Anything that is neither is returned unchanged, so that the loader reports it as not found."""
    given = Path(path)
    if given.exists() or given.suffix in {".yaml", ".yml"} and given.parent != Path("."):
        return given
    root = shipped_root(kind)
    if root is not None:
        stem = str(path).removesuffix(".yaml")
        candidate = root / f"{stem}.yaml"
        if candidate.is_file():
            return candidate
    return given


def shipped(kind: str) -> list[tuple[str, str]]:
    """(name, description) of every shipped file of a kind, sorted by name."""
    root = shipped_root(kind)
    if root is None:
        return []
    listing = []
    for file in sorted(root.rglob("*.yaml")):
        if file.name.endswith(".obs.yaml") or POSTERIORS in file.relative_to(root).parts:
            continue
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue
        if kind == "scenarios" and not {"calendar", "members"} <= set(data):
            continue
        description = " ".join(str(data.get("description", "")).split())
        listing.append((str(file.relative_to(root).with_suffix("")), description))
    return listing


def default_scenario() -> Path:
    """The scenario a command opens when given none: the first shipped one by name at the top of
    the folder (the case libraries in its subfolders, such as `history/`, are not defaults)."""
    listing = [name for name, _ in shipped("scenarios") if "/" not in name]
    root = shipped_root("scenarios")
    if not listing or root is None:
        return Path("scenario.yaml")
    return root / f"{listing[0]}.yaml"
