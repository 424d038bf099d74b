"""`alliance report DIR`: one self-contained HTML file of a batch, to send and open offline.

(A backtest, crossval or score directory gets the page of `sim.report.scores` instead, a
calibration directory that of `sim.report.fit`.)

It holds the scenario (name, description, sources, initial values with their sources, the dated
and sourced event timeline), the estimates (probability by each year end per member and stage
with 95% bands, the alliance outlook, median times), how the parameters were fitted and scored
out of sample (where that is known), the figures as inline SVG, and the provenance from the
manifest (seed, runs, scenario hash, parameters, versions, times). Nothing in
it points outside the file: no scripts, stylesheets, fonts or images are fetched.

The page is rendered from the Jinja2 templates in `sim/report/templates/` (`report.html.j2` the
page, `tables.html.j2` its tables, `report.css.j2` the style), which escape every value; this
module gathers the values and draws the figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from sim.batch.manifests import BatchManifest, read_manifest
from sim.batch.posterior import shipped_name, uncertainty_note
from sim.batch.store import write_bytes_atomic
from sim.experiments.loading import load
from sim.model.parameters import BY_NAME
from sim.model.scenario import MEMBER_FIELDS
from sim.plots import alliance_chart, defection_curves, fan_chart, load_batch
from sim.report.fit import build_fit_report
from sim.report.render import inline_svg, render
from sim.report.scores import SCORED_KINDS, build_scores_report, out_of_sample


def write_report(directory: Path, out: Path | None = None) -> Path:
    """Build the report of a finished batch, forecast, backtest, crossval or score directory
    and write it atomically (by default into the directory itself); return its path."""
    directory = Path(directory)
    kind = read_manifest(directory).kind
    if kind in SCORED_KINDS:
        page = build_scores_report(load(directory))
    elif kind == "calibrate":
        page = build_fit_report(load(directory))
    else:
        page = build_report(load_batch(directory))
    target = Path(out) if out is not None else directory / "report.html"
    if target.is_dir():
        target = target / "report.html"
    write_bytes_atomic(target, page.encode("utf-8"))
    return target


def build_report(results: Any) -> str:
    """The whole HTML document of a batch's results (sim.batch.results.BatchResults)."""
    sc, manifest = results.scenario, results.manifest
    history_end = sc.month_label(sc.history_end)
    timeline = sc.timeline
    drawn = "param_low" in results.curves and bool(results.curves["param_low"].notna().any())
    bands = (
        "pointwise 95% intervals: the wide light band is the parameter interval (the spread of "
        "the probability across the posterior's draws), the narrow dark one the Monte Carlo "
        "error"
        if drawn
        else "pointwise 95% Monte Carlo bands (the parameters are fixed)"
    )
    figures = [
        (
            defection_curves(
                results.curves, timeline, history_end, "stage", _what(results, "defection curves")
            ),
            "Cumulative probability that each member has reached each stage, by the end of each "
            f"month, with {bands}. Shaded: replayed history; dotted lines: the "
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
            f"Probability that at least one member has formally withdrawn ({bands}), and the "
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
    return render(
        "report.html.j2",
        scenario=sc,
        runs=manifest.runs,
        seed=manifest.seed,
        first_month=sc.month_label(0),
        last_month=sc.month_label(sc.months - 1),
        history_end=history_end,
        uncertainty=uncertainty_note(manifest),
        by_date=_by_date(results.by_date),
        alliance=_alliance(results.alliance, results.by_date),
        medians=_medians(results.median_time),
        figures=[{"svg": Markup(inline_svg(fig)), "caption": caption} for fig, caption in figures],
        member_fields=MEMBER_FIELDS,
        facts=_facts(results),
        command=_reproduce(manifest),
        parameters=_parameters(results),
        record=_record(manifest),
        out_of_sample=out_of_sample(manifest.posterior),
    )


def _what(results: Any, what: str) -> str:
    return f"{results.scenario.name}: {what}"


def _estimate(row: Any, p: float) -> dict[str, float | None]:
    """An estimate, its Monte Carlo interval and its parameter interval (None if fixed)."""
    param_low = getattr(row, "param_low", math.nan)
    drawn = not math.isnan(param_low)
    return {
        "p": p,
        "low": row.low,
        "high": row.high,
        "param_low": param_low if drawn else None,
        "param_high": row.param_high if drawn else None,
    }


def _by_date(by_date: pd.DataFrame) -> dict[str, Any]:
    """Rows member x stage, columns year ends: the estimate and its 95% intervals by date."""
    rows = [
        {
            "member": member,
            "stage": stage,
            "cells": {r.date: _estimate(r, r.probability) for r in group.itertuples()},
        }
        for (member, stage), group in by_date.groupby(["member", "stage"], sort=False)
    ]
    drawn = "param_low" in by_date and bool(by_date["param_low"].notna().any())
    return {"dates": list(dict.fromkeys(by_date["date"])), "rows": rows, "drawn": drawn}


def _alliance(alliance: pd.DataFrame, by_date: pd.DataFrame) -> list[dict[str, Any]]:
    """The alliance at the dates of the by-date table: any formal exit, members still active."""
    picked = alliance[alliance["date"].isin(set(by_date["date"]))]
    return [
        {
            "date": r.date,
            "exit": _estimate(r, r.p_any_exit),
            "active": r.expected_active,
        }
        for r in picked.itertuples()
    ]


def _medians(median_time: pd.DataFrame) -> list[dict[str, str]]:
    rows = []
    for r in median_time.itertuples():
        when = r.median_date if isinstance(r.median_date, str) else "not by the horizon"
        rows.append({"member": r.member, "stage": r.stage, "when": when})
    return rows


def _facts(results: Any) -> list[tuple[str, Any]]:
    """Provenance of the batch from its manifest: scenario, seed, runs, times, versions."""
    manifest: BatchManifest = results.manifest
    facts = [
        ("scenario file", manifest.scenario.source),
        ("scenario SHA-256", manifest.scenario.hash),
        ("seed", manifest.seed),
        ("replications", f"{manifest.runs:,}"),
        ("chunk size", manifest.chunk_size),
        ("started", manifest.started),
        ("finished", manifest.finished),
        ("batch directory", results.directory),
    ]
    return facts + [(f"version of {k}", v) for k, v in sorted(manifest.versions.items())]


def _parameters(results: Any) -> list[dict[str, Any]]:
    """Every parameter of the batch: drawn from the posterior (its posterior mean and 95%
    interval) or fixed (its value, and whether the fit, the command line, the scenario or the
    documented default fixed it), and what it means."""
    manifest = results.manifest
    overrides = manifest.parameter_overrides
    scenario_overrides = results.scenario.parameters
    posterior = manifest.posterior
    fitted = posterior.values if posterior is not None else {}
    rows = []
    for name, value in manifest.parameters.items():
        known = BY_NAME.get(name)
        row = {"name": name, "value": f"{value:.4g}", "status": "fixed", "origin": "default"}
        if name in fitted and fitted[name]["drawn"]:
            draws = fitted[name]
            row["value"] = f"{draws['mean']:.4g} ({draws['low']:.3g} to {draws['high']:.3g})"
            row["status"] = "drawn"
            row["origin"] = f"posterior of {posterior.experiment}: mean (95% interval)"
        elif name in fitted:
            row["value"] = f"{fitted[name]['mean']:.4g}"
            row["origin"] = f"held by the fit {posterior.experiment}"
        elif name in overrides:
            row["origin"] = "command line"
        elif name in scenario_overrides:
            row["origin"] = "scenario"
        rows.append({**row, "meaning": known.meaning if known else ""})
    return rows


def _record(manifest: BatchManifest) -> dict[str, Any] | None:
    """A forecast's record: what it was held to, how much of it the runs met, and what it did to
    the posterior draws (None for a plain batch)."""
    record, conditioning = manifest.forecast, manifest.conditioning
    if not isinstance(record, dict) or not isinstance(conditioning, dict):
        return None
    return {
        "as_of": record["as_of"],
        "observations": record["observations"]["path"],
        "facts": conditioning["facts"],
        "ess": round(conditioning["ess"]),
        "ess_share": conditioning["ess_share"],
        "log_likelihood": conditioning["log_likelihood"],
        "parameters": conditioning.get("parameters") or [],
    }


def _reproduce(manifest: BatchManifest) -> str:
    """The command that makes this batch again; a shipped posterior by its name."""
    command = manifest.command("DIR")
    if manifest.posterior is not None:
        directory = manifest.posterior.directory
        command = command.replace(directory, shipped_name(directory))
    return command
