"""The SolaraViz page (`alliance viz`): the model behind it, and the page itself served by the
real command and driven in a headless Chromium (it loads, Step advances the month, Reset goes back,
a screenshot is not blank, a slider moved and Reset runs the model with its value).

The browser test fails, rather than skips, whenever Debian's chromium is installed (tests/run.sh
installs it). The module takes about 20 s, most of it the server's start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser import chromium
from matplotlib import image
from mesa.visualization.solara_viz import _build_model_init_kwargs, _check_model_params

from sim.model.model import AllianceModel
from sim.model.parameters import BY_NAME
from sim.model.scenario import load_scenario
from sim.viz.app import SLIDER_PARAMETERS, AllianceView, model_params

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "csto_2022.yaml"
ALLIANCE = str(Path(sys.executable).with_name("alliance"))
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_view_model_steps_one_calendar_month_like_the_model():
    view = AllianceView(seed=4)
    assert isinstance(view, AllianceModel) and view.lanes == 1  # the model itself, no wrapper
    assert view.last_month == "" and view.months_done == 0
    view.step()
    view.step()
    assert view.last_month == "2020-02" and view.months_done == 2
    twin = AllianceModel(load_scenario(SCENARIO), lanes=1, rng=4)
    twin.step()
    twin.step()
    assert np.array_equal(view.trust_matrix(), twin.trust_matrix())
    data = view.datacollector.get_model_vars_dataframe()
    assert len(data) == 3 and "trust:Armenia" in data and "capacity" in data


def test_sliders_cover_documented_ranges_and_rebuild_the_model_as_solaraviz_does():
    params = model_params(load_scenario(SCENARIO))
    assert list(params) == ["seed", *SLIDER_PARAMETERS]
    for name in SLIDER_PARAMETERS:
        spec = BY_NAME[name]
        assert (params[name]["min"], params[name]["max"]) == (spec.low, spec.high)
        assert spec.low <= params[name]["value"] <= spec.high
        on_grid = (params[name]["value"] - spec.low) / params[name]["step"]
        assert abs(on_grid - round(on_grid)) < 1e-9, "a slider would move the default"
        assert (spec.high - spec.low) / params[name]["step"] >= 40
    view = AllianceView()
    _check_model_params(view, params)
    chosen = {name: p["value"] for name, p in params.items()} | {"drain_scale": 0.0, "seed": 7}
    kwargs = _build_model_init_kwargs(
        view, chosen, add_scenario_when_empty=True, require_model_accepts_scenario=True
    )
    assert "scenario" in kwargs  # SolaraViz hands the model a Mesa Scenario; it is left aside
    rebuilt = type(view)(**kwargs)
    assert rebuilt.p["drain_scale"][0] == 0.0
    twin = AllianceView(seed=7, drain_scale=0.0)
    for _ in range(36):
        rebuilt.step()
        twin.step()
    assert np.array_equal(rebuilt.trust_matrix(), twin.trust_matrix())


def test_viz_command_refuses_bad_scenarios_and_busy_ports(tmp_path):
    missing = subprocess.run(
        [ALLIANCE, "viz", str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "file not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run(
            [ALLIANCE, "viz", str(SCENARIO), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert taken.returncode == 2 and "cannot listen" in taken.stderr


@pytest.fixture
def server():
    port = free_port()
    process = subprocess.Popen(
        [ALLIANCE, "viz", str(SCENARIO), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the server and its children end with it
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"alliance viz exited early:\n{process.stdout.read()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"alliance viz did not answer at {url} in {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()  # `alliance viz` ends its `solara run` server on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        left = _group_alive(process.pid, timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # so that a failure leaves nothing running
    assert not left, "alliance viz left its solara server running after SIGTERM"


def _group_alive(group: int, timeout: float) -> bool:
    """Does any process of the group still run after `timeout` seconds?"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
    return True


def test_page_renders_steps_and_resets_in_chromium(server, tmp_path):
    shot = tmp_path / "viz.png"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(server, wait_until="domcontentloaded")
        date = page.locator(".alliance-date")
        date.wait_for(timeout=60_000)
        assert date.inner_text() == "Month: before 2020-01"
        page.get_by_role("button", name="Step").click()
        page.wait_for_function(
            "document.querySelector('.alliance-date').innerText === 'Month: 2020-01'",
            timeout=20_000,
        )
        page.get_by_role("button", name="Step").click()
        page.wait_for_function(
            "document.querySelector('.alliance-date').innerText === 'Month: 2020-02'",
            timeout=20_000,
        )
        for member in ("Armenia", "Belarus", "Kazakhstan", "Kyrgyzstan", "Tajikistan"):
            assert page.get_by_role("cell", name=member, exact=True).count() == 1
        page.wait_for_function(
            "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 200)"
            ".length >= 2",
            timeout=20_000,
        )
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(shot), full_page=True)
        drain = page.get_by_role("slider", name="drain scale")
        assert drain.get_attribute("aria-valuenow") == "1"
        drain.focus()
        page.keyboard.press("Home")  # one change event: the slider's minimum, no drain
        assert drain.get_attribute("aria-valuenow") == "0"
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Reset").click()
        page.wait_for_function(
            "document.querySelector('.alliance-date').innerText === 'Month: before 2020-01'",
            timeout=20_000,
        )
        page.get_by_text("drain scale 0,").wait_for(timeout=20_000)
        page.wait_for_load_state("networkidle")
    assert failed == [], f"requests that failed (the page must work offline): {failed}"
    pixels = image.imread(shot)[..., :3]
    not_white = (pixels < 0.9).any(axis=-1).mean()
    assert pixels.std() > 0.1 and not_white > 0.05, (pixels.std(), not_white)
