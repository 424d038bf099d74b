"""The compiled kernels: their parameter order is the parameter table's, and their on-disk cache
follows their sources."""

from __future__ import annotations

from pathlib import Path

from sim.model import kernels, rules
from sim.model.parameters import PARAMETER_NAMES, PARAMETERS, parameter_table


def test_the_kernels_read_every_parameter_in_the_tables_order():
    assert rules.RULE_PARAMETERS == PARAMETER_NAMES


def _module_folder(tmp_path: Path) -> Path:
    for name in kernels.KERNEL_MODULES:
        (tmp_path / f"{name}.py").write_text(f"# {name}\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    return tmp_path


def _compiled(folder: Path) -> list[Path]:
    cache = folder / "__pycache__"
    files = [cache / "month.step_month-160.py312.nbi", cache / "rules.drift-99.py312.1.nbc"]
    for path in files:
        path.write_bytes(b"compiled")
    return files


def test_an_edited_rule_clears_the_compiled_kernels_that_call_it(tmp_path):
    folder = _module_folder(tmp_path)
    assert kernels.refresh(folder)  # first time: no digest yet
    compiled = _compiled(folder)
    other = folder / "__pycache__" / "fold.fold_month-10.py312.nbi"  # not a kernel module
    other.write_bytes(b"compiled")
    assert not kernels.refresh(folder)
    assert all(path.exists() for path in compiled)
    (folder / "rules.py").write_text("# rules, edited\n")
    assert kernels.refresh(folder)
    assert not any(path.exists() for path in compiled)
    assert other.exists()
    assert not kernels.refresh(folder)


def test_the_kernels_read_a_row_of_every_parameter():
    table = parameter_table({}, 3)
    values = rules.row_parameters(table.values, table.row[0])
    assert values == tuple(p.default for p in PARAMETERS)
