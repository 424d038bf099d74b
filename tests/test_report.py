"""The HTML report of a real batch: self-contained (nothing fetched from outside the file), with
the scenario, the sourced timeline, the by-year-end table, the figures and the provenance.

One 2,000-run batch is built per module; the module takes about 15 s (4 inline SVG figures, one
headless Chromium load when Chromium is installed).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import chromium
from result_dirs import make_batch

from sim.batch.results import load
from sim.model.errors import InputError
from sim.report.html import write_report

ALLIANCE = [str(Path(sys.executable).with_name("alliance"))]
LINKING_ATTRIBUTES = {
    "src",
    "href",
    "xlink:href",
    "srcset",
    "action",
    "poster",
    "data",
    "background",
}


class Collector(HTMLParser):
    """Every tag and every attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in LINKING_ATTRIBUTES and value is not None:
                self.links.append(value)
            if name == "style" and value:
                self.styles.append(value)

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("report") / "batch")


@pytest.fixture(scope="module")
def report(batch: Path) -> Path:
    return write_report(batch)


def test_report_references_nothing_outside_the_file(report):
    text = report.read_text(encoding="utf-8")
    parsed = Collector()
    parsed.feed(text)
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(parsed.tags)
    assert parsed.links, "the inline SVG figures use local references"
    assert all(link.startswith("#") for link in parsed.links), set(parsed.links)
    for css in parsed.styles:
        assert "@import" not in css
        assert not re.search(r"url\(\s*['\"]?(?!#)", css), css
    assert not re.search(r"https?://|ftp://|file:|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I)


def test_report_holds_scenario_estimates_figures_and_provenance(batch, report):
    text = html.unescape(report.read_text(encoding="utf-8"))
    results = load(batch)
    sc = results.scenario
    assert sc.name in text and " ".join(sc.spec.description.split()) in " ".join(text.split())
    from sim.report.render import _shown  # a cited file the package does not hold: its name only

    for source in sc.spec.sources:
        assert _shown(source) in text
    for event in sc.timeline:
        assert event["date"] in text and event["what"] in text and _shown(event["source"]) in text
    assert "shared/" not in text  # the project's notes are not shipped
    for row in results.by_date.itertuples():
        assert row.date in text
    horizon = results.by_date[
        (results.by_date.member == "Armenia") & (results.by_date.stage == "disengaged")
    ].iloc[-1]
    cell = f"{100 * horizon.probability:.1f}<br><span class='band'>{100 * horizon.low:.1f}"
    assert cell in report.read_text(encoding="utf-8")
    assert text.count("<figure") == 4 and text.count("<svg") == 4
    manifest = results.manifest
    for fact in (manifest.scenario.hash, "2,000", manifest.started, manifest.finished):
        assert str(fact) in text
    assert "alliance batch" in text and "--seed 1" in text


def test_report_renders_offline_in_chromium(report):
    with chromium() as browser:
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(report.as_uri())
        heights = page.evaluate(
            "Array.from(document.querySelectorAll('figure svg'))"
            ".map(s => s.getBoundingClientRect().height)"
        )
    assert requested == [report.as_uri()]
    assert len(heights) == 4 and min(heights) > 200


def test_report_command_and_its_errors(batch, tmp_path):
    out = tmp_path / "sent" / "report.html"
    done = subprocess.run(
        [*ALLIANCE, "report", str(batch), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"report: {out}" and out.stat().st_size > 100_000
    target = tmp_path / "bad.html"
    failed = subprocess.run(
        [*ALLIANCE, "report", str(tmp_path / "nowhere"), "--out", str(target)],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 2 and "not a directory" in failed.stderr, failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and not target.exists()


def test_report_of_an_unfinished_batch_is_refused_and_nothing_written(batch, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(batch, unfinished)
    next((unfinished / "chunks").iterdir()).unlink()
    with pytest.raises(InputError, match="incomplete"):
        write_report(unfinished, tmp_path / "bad.html")
    assert not (tmp_path / "bad.html").exists()
