"""The wheel, installed as a user would: built with `pip wheel`, installed in a fresh virtual
environment outside the checkout, and run from a directory outside it. A batch of a shipped
scenario by name with `--plot`, its report and the list of shipped scenarios all work, which
fails if a subpackage (`sim.plots`), the templates or the shipped files are left out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "out", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)

pytestmark = pytest.mark.slow  # builds a wheel and a virtual environment (~40 s)


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the virtual environment, the wheel): a copy of the source tree built into a wheel, which
    is installed into a new environment; the checkout's own environment supplies only the
    dependencies, through a .pth file (its editable install of `sim` is not seen from there)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", source,
         cwd=work)  # fmt: skip
    (wheel,) = (work / "dist").glob("alliance_defection-*.whl")
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=work).strip())  # fmt: skip
    dependencies = sysconfig.get_paths()["purelib"]
    (purelib / "checkout_dependencies.pth").write_text(dependencies + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         "--no-index", wheel, cwd=work)  # fmt: skip
    return venv, wheel


def _user_env(venv: Path) -> dict[str, str]:
    """The environment of a user's shell with the new environment active."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "COLUMNS": "100", "NO_COLOR": "1", "MPLBACKEND": "Agg"}


def test_the_wheel_carries_every_subpackage_and_the_shipped_files(installed):
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "sim/py.typed",
        "sim/plots/__init__.py",
        "sim/report/templates/report.html.j2",
        "sim/report/templates/tables.html.j2",
        "sim/shipped/scenarios/csto_2022.yaml",
        "sim/shipped/experiments/sobol_csto.yaml",
        "sim/library/DATA.md",
        "sim/library/data/members.csv",
        "sim/shipped/scenarios/atop/index.csv",
        "sim/shipped/experiments/observations_pre2022.yaml",
        "sim/shipped/experiments/posteriors/fits.yaml",
        "sim/shipped/experiments/posteriors/calibrate_history/posterior.json",
        "sim/shipped/experiments/posteriors/calibrate_history/posterior.parquet",
        "sim/shipped/experiments/posteriors/calibrate_history/provenance.json",
    ):
        assert name in names, name
    shipped = {n for n in names if n.startswith("sim/shipped/scenarios/")}
    assert len(shipped) >= len(list((ROOT / "scenarios").rglob("*.yaml")))


def test_a_batch_with_plot_and_its_report_run_from_anywhere(installed, tmp_path):
    venv, _ = installed
    env = _user_env(venv)
    where = _run(venv / "bin" / "python", "-c", "import sim, sim.plots; print(sim.__file__)",
                 cwd=tmp_path, env=env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv), where
    out = tmp_path / "b"
    printed = _run("alliance", "batch", "csto_2022", "--runs", "2000", "--workers", "1",
                   "--out", out, "--plot", cwd=tmp_path, env=env)  # fmt: skip
    assert "P(withdrawn by date)" in printed
    figure = out / "figures" / "defection-curves.png"
    assert figure.is_file() and figure.stat().st_size > 10_000
    assert str(figure) in printed.replace("\n", "")
    _run("alliance", "report", out, cwd=tmp_path, env=env)
    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 4 and "csto_2022: probability of defection over time" in report
    listing = _run("alliance", "scenarios", cwd=tmp_path, env=env)
    for name in ("csto_2022", "csto_no_war", "csto_russia_answers"):
        assert name in listing


def test_the_programs_forecast_runs_from_anywhere_with_the_shipped_posterior(installed, tmp_path):
    venv, _ = installed
    printed = _run("alliance", "forecast", "csto_2022", "--runs", "2000", "--workers", "1",
                   cwd=tmp_path, env=_user_env(venv))  # fmt: skip
    words = " ".join(printed.split())
    assert "calibrate_history_without_csto_2020_2022" in words and "20 draws x 100 runs" in words
    assert (tmp_path / "out" / "csto_2022_forecast" / "summary" / "summary.json").is_file()
