"""The package layout: each stage of the pipeline imports only stages below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parent.parent / "sim"

# Lowest first: a module may import its own stage and any stage before it, never one after.
STAGES = ("model", "library", "batch", "plots", "experiments", "report", "viz", "cli")


def sim_imports(path: Path) -> set[str]:
    """The `sim.<stage>` packages a module imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "sim":
                names = [f"sim.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sim" and len(parts) > 1:
                found.add(parts[1])
    return found


def stage_of(path: Path) -> str | None:
    rel = path.relative_to(SIM).parts
    return rel[0] if len(rel) > 1 else None


MODULES = sorted(p for p in SIM.rglob("*.py") if stage_of(p) is not None)


def test_every_module_belongs_to_a_known_stage():
    assert {stage_of(p) for p in MODULES} <= set(STAGES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SIM)))
def test_imports_point_down_the_pipeline(path: Path):
    own = STAGES.index(stage_of(path))
    upward = sorted(s for s in sim_imports(path) if s in STAGES and STAGES.index(s) > own)
    assert not upward, f"{path.relative_to(SIM)} (stage {STAGES[own]}) imports higher {upward}"


def test_every_stage_says_what_it_holds_and_may_import():
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((SIM / stage / "__init__.py").read_text()))
        assert doc and "import" in doc, f"sim/{stage}/__init__.py needs a docstring"


def test_detects_an_upward_import(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from sim.cli.main import main\n")
    assert sim_imports(module) == {"cli"}


def test_the_wheel_lists_every_subpackage():
    import tomllib

    config = tomllib.loads((SIM.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = {p for p in config["packages"] if not p.startswith("sim.shipped")}
    folders = {
        ".".join(init.parent.relative_to(SIM.parent).parts) for init in SIM.rglob("__init__.py")
    }
    assert listed == folders
