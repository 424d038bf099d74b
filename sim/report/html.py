"""`alliance report DIR`: one self-contained HTML file of a batch, to send and open offline.

It holds the scenario (name, description, sources, initial values with their sources, the dated
and sourced event timeline), the estimates (probability by each year end per member and stage
with 95% bands, the alliance outlook, median times), the figures as inline SVG, and the
provenance from the manifest (seed, runs, scenario hash, parameters, versions, times). Nothing in
it points outside the file: no scripts, stylesheets, fonts or images are fetched.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from sim.batch.store import write_bytes_atomic
from sim.model.parameters import BY_NAME
from sim.model.scenario import MEMBER_FIELDS
from sim.plots import alliance_chart, defection_curves, fan_chart, load_batch
from sim.plots.style import RC

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #111; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; } td.num { text-align: right; white-space: nowrap; }
.band { color: #555; font-size: 0.9em; } .note { color: #444; font-size: 0.9em; }
figure { margin: 1em 0; } figure svg { width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #333; } code { background: #f4f4f4; padding: 0 0.2em; }
tr.override td { font-weight: bold; }
"""


def write_report(directory: Path, out: Path | None = None) -> Path:
    """Build the report of a finished batch and write it atomically; return its path."""
    directory = Path(directory)
    results = load_batch(directory)
    target = Path(out) if out is not None else directory / "report.html"
    if target.is_dir():
        target = target / "report.html"
    write_bytes_atomic(target, build_report(results).encode("utf-8"))
    return target


def build_report(results: Any) -> str:
    """The whole HTML document of a batch's results (sim.batch.results.BatchResults)."""
    sc, manifest = results.scenario, results.manifest
    history_end = sc.month_label(sc.history_end)
    timeline = sc.timeline
    figures = [
        (
            defection_curves(
                results.curves, timeline, history_end, "stage", _what(results, "defection curves")
            ),
            "Cumulative probability that each member has reached each stage, by the end of each "
            "month, with pointwise 95% bands. Shaded: replayed history; dotted lines: the "
            "scenario's dated events (numbered, listed below the panels).",
        ),
        (
            alliance_chart(
                results.alliance,
                len(sc.members),
                timeline,
                history_end,
                _what(results, "the alliance"),
            ),
            "Probability that at least one member has formally withdrawn (95% band), and the "
            "expected number of members still active.",
        ),
        (
            fan_chart(results.monthly, "trust", timeline, history_end, _what(results, "trust")),
            "Each member's trust in the patron's guarantee across runs: median, 50% and 90% of "
            "runs, and the mean.",
        ),
        (
            fan_chart(
                results.monthly, "capacity", timeline, history_end, _what(results, "capacity")
            ),
            "The patron's free capacity across runs: median, 50% and 90% of runs, and the mean.",
        ),
    ]
    runs, seed = manifest.get("runs", 0), manifest.get("seed")
    body = [
        f"<h1>{_e(sc.name)}: probability of defection over time</h1>",
        f"<p class='note'>{runs:,} replications, seed {_e(seed)}, "
        f"{_e(sc.month_label(0))} to {_e(sc.month_label(sc.months - 1))}; history replayed to "
        f"{_e(history_end)}, projected after.</p>",
        f"<p>{_e(sc.spec.description)}</p>",
        "<h2>Estimates by year end</h2>",
        _by_date_table(results.by_date),
        "<h3>The alliance</h3>",
        _alliance_table(results.alliance, results.by_date),
        "<h3>Median time to each stage</h3>",
        _median_table(results.median_time),
        "<h2>Figures</h2>",
        *(_figure(fig, caption, n) for n, (fig, caption) in enumerate(figures, start=1)),
        "<h2>Scenario</h2>",
        "<h3>Sources</h3>",
        "<ul>" + "".join(f"<li>{_e(s)}</li>" for s in sc.spec.sources) + "</ul>",
        "<h3>Initial values</h3>",
        _initial_values(sc),
        "<h3>Event timeline</h3>",
        _timeline_table(timeline),
        "<h2>Provenance</h2>",
        _provenance(results),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{_e(sc.name)}: defection report</title>\n<style>{STYLE}</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _what(results: Any, what: str) -> str:
    return f"{results.scenario.name}: {what}"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _percent(p: float, low: float, high: float) -> str:
    return f"{100 * p:.1f}<br><span class='band'>{100 * low:.1f}&ndash;{100 * high:.1f}</span>"


def _by_date_table(by_date: pd.DataFrame) -> str:
    """Rows member x stage, columns year ends: probability (%) over its 95% band."""
    dates = list(dict.fromkeys(by_date["date"]))
    head = "".join(f"<th>{_e(d)}</th>" for d in dates)
    rows = []
    for (member, stage), group in by_date.groupby(["member", "stage"], sort=False):
        cells = {r.date: _percent(r.probability, r.low, r.high) for r in group.itertuples()}
        tds = "".join(f"<td class='num'>{cells.get(d, '')}</td>" for d in dates)
        rows.append(f"<tr><th>{_e(member)}</th><td>{_e(stage)}</td>{tds}</tr>")
    return (
        "<p class='note'>Probability (%) of having reached each stage by the end of each month "
        "shown, with its 95% band below.</p>"
        f"<table><tr><th>member</th><th>stage</th>{head}</tr>{''.join(rows)}</table>"
    )


def _alliance_table(alliance: pd.DataFrame, by_date: pd.DataFrame) -> str:
    dates = list(dict.fromkeys(by_date["date"]))
    picked = alliance[alliance["date"].isin(dates)]
    head = "".join(f"<th>{_e(d)}</th>" for d in picked["date"])
    exits = "".join(
        f"<td class='num'>{_percent(r.p_any_exit, r.low, r.high)}</td>" for r in picked.itertuples()
    )
    active = "".join(f"<td class='num'>{r.expected_active:.2f}</td>" for r in picked.itertuples())
    return (
        f"<table><tr><th></th>{head}</tr>"
        f"<tr><th>at least one formal exit (%)</th>{exits}</tr>"
        f"<tr><th>expected members active</th>{active}</tr></table>"
    )


def _median_table(median_time: pd.DataFrame) -> str:
    rows = []
    for r in median_time.itertuples():
        when = r.median_date if isinstance(r.median_date, str) else "not by the horizon"
        rows.append(f"<tr><td>{_e(r.member)}</td><td>{_e(r.stage)}</td><td>{_e(when)}</td></tr>")
    return (
        "<p class='note'>First month by which the stage is reached in at least half of the runs."
        "</p><table><tr><th>member</th><th>stage</th><th>median time</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _figure(fig: Figure, caption: str, number: int) -> str:
    return (
        f"<figure id='figure-{number}'>{inline_svg(fig)}"
        f"<figcaption>Figure {number}. {_e(caption)}</figcaption></figure>"
    )


_XML_HEADER = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def inline_svg(fig: Figure) -> str:
    """The figure as an <svg> element to place in HTML: no XML header, metadata or namespace
    URIs (HTML's parser knows SVG and xlink without them), text drawn as paths."""
    buffer = io.StringIO()
    with mpl.rc_context(RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = _METADATA.sub("", _XML_HEADER.sub("", svg))
    return _NAMESPACES.sub("", svg).strip()


def _initial_values(sc: Any) -> str:
    head = "".join(f"<th>{_e(f.replace('_', ' '))}</th>" for f in MEMBER_FIELDS)
    rows = []
    for member in sc.spec.members:
        cells = []
        for field in MEMBER_FIELDS:
            value = getattr(member, field)
            cells.append(f"<td class='num' title='{_e(value.source)}'>{value.value:.2f}</td>")
        rows.append(
            f"<tr><th>{_e(member.name)}</th><td>{_e(member.status)}</td>{''.join(cells)}</tr>"
        )
    patron = sc.spec.patron
    sources = "".join(
        f"<li><b>{_e(m.name)}</b>: "
        + "; ".join(f"{_e(f.replace('_', ' '))}: {_e(getattr(m, f).source)}" for f in MEMBER_FIELDS)
        + f"; crises: {_e(m.crises.source)}</li>"
        for m in sc.spec.members
    )
    return (
        f"<p>Patron: <b>{_e(patron.name)}</b>, free capacity {patron.capacity.value:.2f} "
        f"({_e(patron.capacity.source)})</p>"
        f"<table><tr><th>member</th><th>status</th>{head}</tr>{''.join(rows)}</table>"
        f"<details><summary>Sources of the initial values</summary><ul>{sources}</ul></details>"
    )


def _timeline_table(timeline: list[dict[str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(e['date'])}</td><td>{_e(e['kind'])}</td><td>{_e(e['what'])}</td>"
        f"<td>{_e(e['source'])}</td></tr>"
        for e in timeline
    )
    return f"<table><tr><th>date</th><th>kind</th><th>what</th><th>source</th></tr>{rows}</table>"


def _provenance(results: Any) -> str:
    manifest = results.manifest
    scenario = manifest.get("scenario", {})
    facts = [
        ("scenario file", scenario.get("source")),
        ("scenario SHA-256", scenario.get("hash")),
        ("seed", manifest.get("seed")),
        ("replications", f"{manifest.get('runs', 0):,}"),
        ("chunk size", manifest.get("chunk_size")),
        ("started", manifest.get("started")),
        ("finished", manifest.get("finished")),
        ("batch directory", results.directory),
    ]
    facts += [(f"version of {k}", v) for k, v in sorted(manifest.get("versions", {}).items())]
    rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in facts)
    overrides = manifest.get("parameter_overrides", {}) or {}
    scenario_overrides = results.scenario.parameters
    params = []
    for name, value in (manifest.get("parameters") or {}).items():
        known = BY_NAME.get(name)
        changed = name in overrides or name in scenario_overrides
        origin = (
            "command line"
            if name in overrides
            else "scenario"
            if name in scenario_overrides
            else "default"
        )
        params.append(
            f"<tr class='{'override' if changed else ''}'><td>{_e(name)}</td>"
            f"<td class='num'>{_e(value)}</td><td>{_e(origin)}</td>"
            f"<td>{_e(known.meaning if known else '')}</td></tr>"
        )
    command = _reproduce(manifest)
    return (
        f"<table>{rows}</table>"
        f"<p>Reproduce with: <code>{_e(command)}</code></p>"
        "<h3>Parameters</h3><p class='note'>Bold: changed from the documented default.</p>"
        "<table><tr><th>parameter</th><th>value</th><th>from</th><th>meaning</th></tr>"
        + "".join(params)
        + "</table>"
    )


def _reproduce(manifest: dict[str, Any]) -> str:
    scenario = manifest.get("scenario", {})
    parts = [
        f"alliance batch {scenario.get('source', 'SCENARIO')} --runs {manifest.get('runs')}",
        f"--seed {manifest.get('seed')} --out DIR",
    ]
    for name, value in (manifest.get("parameter_overrides") or {}).items():
        parts.append(f"--param {name}={value}")
    return " ".join(parts)
