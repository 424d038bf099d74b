"""Every command the README shows runs and succeeds, at small sizes, in the order shown.

The commands are read from the README itself (its indented and fenced code blocks, and the
`alliance ...` cells of its tables), so a command added to the README is tested without touching
this file. Each runs as a user would type it, in a scratch folder, with small sizes
(`tests/small_sizes.py`: small --runs, experiment files cut to small designs) and `--force`
where the command takes it (the README runs some jobs twice into the same folder).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from small_sizes import SMALL_OPTIONS, shrink_arguments

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# Commands the test does not run, and why (each is tested elsewhere).
NOT_RUN = {
    "viz": "starts a web server that runs until stopped (tests/test_viz.py serves it)",
    "refit-posteriors": "refits the shipped posteriors in place, for minutes "
    "(tests/test_shipped_posteriors.py refits at small settings into a scratch folder)",
}
SETUP = ("python3 -m venv", "pip install", "bash tests/run.sh")


def code_lines(text: str) -> list[str]:
    """The lines of the README's code: indented blocks, fenced blocks and table cells in
    backticks that start with `alliance`."""
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or (line.startswith("    ") and line.strip()):
            lines.append(line.strip())
        elif line.startswith("|"):
            lines += [c for c in re.findall(r"`([^`]+)`", line) if c.startswith("alliance ")]
    return lines


def alliance_commands(text: str) -> list[list[str]]:
    """Each `alliance` command of the README's code, as its argument list (the program name
    dropped), in the order shown; steps joined by `&&` are split."""
    commands = []
    for line in code_lines(text):
        for step in line.split("&&"):
            words = shlex.split(step.strip())
            if words and Path(words[0]).name == "alliance":
                commands.append(words[1:])
    return commands


def _accepts(command: str) -> set[str]:
    """The options a subcommand takes, from the command line app itself."""
    import typer.main

    from sim.cli.main import app

    click_command = typer.main.get_command(app).commands.get(command)  # None: `alliance --help`
    return {opt for p in click_command.params for opt in p.opts} if click_command else set()


def small_command(args: list[str], scratch: Path) -> list[str]:
    """The command at test size: small --runs added where it takes one, --force where it may
    replace an earlier run, experiment files shrunk."""
    small = shrink_arguments(args, ROOT, scratch)
    accepts = _accepts(args[0])
    if "--runs" in accepts and "--runs" not in args:
        small += ["--runs", SMALL_OPTIONS["--runs"]]
    if "--workers" in accepts and "--workers" not in args:
        small += ["--workers", "1"]
    if "--force" in accepts and "--force" not in args and "--resume" not in args:
        small.append("--force")
    return small


README_COMMANDS = alliance_commands(README.read_text(encoding="utf-8"))


def test_the_readme_shows_commands_and_the_parser_finds_them():
    names = [c[0] for c in README_COMMANDS]
    assert len(README_COMMANDS) >= 15
    for job in ("batch", "forecast", "summarize", "compare", "plot", "report", "sweep"):
        assert job in names, job
    sample = (
        "Run:\n\n    .venv/bin/alliance batch x --runs 5 && echo done\n\n| a | `alliance plot d` |"
    )
    assert alliance_commands(sample) == [["batch", "x", "--runs", "5"], ["plot", "d"]]


def test_small_sizes_cut_runs_and_keep_everything_else(tmp_path):
    args = ["batch", "csto_2022", "--runs", "100000", "--seed", "1", "--out", "out/b"]
    small = small_command(args, tmp_path)
    assert small[small.index("--runs") + 1] == SMALL_OPTIONS["--runs"] != "100000"
    assert small[small.index("--seed") + 1] == "1" and "out/b" in small and "--force" in small
    shrunk = small_command(["sweep", "experiments/drain_vs_response.yaml", "--out", "o"], tmp_path)
    assert Path(shrunk[1]).parent == tmp_path / "experiments"


@pytest.mark.slow
def test_every_readme_command_succeeds_at_small_sizes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    ran = []
    for args in README_COMMANDS:
        if args[0] in NOT_RUN:
            continue
        command = [sys.executable, "-c", "from sim.cli.main import main; main()"]
        command += small_command(args, tmp_path)
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        shown = "alliance " + shlex.join(args)
        assert done.returncode == 0, f"{shown}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        ran.append(shown)
    assert len(ran) >= len(README_COMMANDS) - len(NOT_RUN)
