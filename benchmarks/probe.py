"""Run an `alliance` command in a fresh probe process: wall time, CPU time and peak memory of
its whole process tree (the benchmark's one way of timing a command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The probe adopts the command's orphans (Linux PR_SET_CHILD_SUBREAPER): the workers' forkserver
# ends just after the command's main process, and reaping it counts the workers too (their
# memory in ru_maxrss, their CPU seconds in ru_utime and ru_stime).
PROBE = """
import ctypes, json, os, resource, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - start
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_kb": usage.ru_maxrss, "returncode": done.returncode,
                  "stderr": done.stderr[-3000:]}))
"""


ROOT = Path(__file__).resolve().parents[1]


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment of a timed command: this checkout's `sim` first on the path (an
    installed `alliance` may import another checkout's), and `extra` variables."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


def alliance_command() -> list[str]:
    """The `alliance` console script beside this interpreter, or the CLI module through it."""
    script = Path(sys.executable).parent / "alliance"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from sim.cli.main import main; main()"]


def run_probed(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `command` under the probe (in `env`, by default `checkout_env()`): wall seconds, CPU
    seconds (user + system of every process of the tree) and the peak resident memory of its
    largest process; stop on failure."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        capture_output=True, text=True, check=True, env=env or checkout_env(),
    )  # fmt: skip
    result = json.loads(probe.stdout)
    if result["returncode"] != 0:
        raise SystemExit(f"command failed ({' '.join(command)}):\n{result['stderr']}")
    return result
