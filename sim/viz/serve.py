"""`alliance viz`: serve the SolaraViz page of `sim.viz.app` for a scenario with `solara run`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sim.model.errors import InputError
from sim.model.scenario import load_scenario

SCENARIO_ENV = "ALLIANCE_VIZ_SCENARIO"
TELEMETRY_ENV = "SOLARA_TELEMETRY_MIXPANEL_ENABLE"
STOP_TIMEOUT_S = 10


def solara_command(host: str, port: int, open_browser: bool) -> list[str]:
    """The `solara run` command line for the page in `sim.viz.app`."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "sim.viz.app",
        "--production",
        "--host",
        host,
        "--port",
        str(port),
        "--open" if open_browser else "--no-open",
    ]


def serve(scenario: Path, host: str, port: int, open_browser: bool) -> int:
    """Check the scenario and the port, then run the page until interrupted; return its status."""
    load_scenario(scenario)
    check_port_free(host, port)
    env = {
        TELEMETRY_ENV: "False",  # solara reports usage to a web service unless told not to
        **os.environ,
        SCENARIO_ENV: str(Path(scenario).resolve()),
    }
    print(f"serving {scenario} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    server = subprocess.Popen(solara_command(host, port, open_browser), env=env)
    previous = signal.signal(signal.SIGTERM, _stop)  # `kill` ends the server too, not only us
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def check_port_free(host: str, port: int) -> None:
    """Refuse a port that is taken, with a one-line error instead of a server traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(
                "--port",
                "",
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another port",
            ) from None
