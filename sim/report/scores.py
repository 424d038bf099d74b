"""The report of a scored run (`alliance report DIR` of a backtest, crossval or score directory).

It shows what the console showed, laid out for reading and sending: every forecaster (the model,
the base rate, 50/50, the event-history logit and its cure variant) with its Brier and log
scores, calibration and AUC where scored, and the model's skill against each reference, per case
(or per member and period of a backtest) and in total; one sentence per reference and per case
where the model is worse; the reliability diagram; and the provenance. The tables are
`sim.experiments.scoring.score_table`, the console's, so both say the same.

`out_of_sample` answers, for a batch or forecast report, how the posterior its parameters were
drawn from scored out of sample, where a run on disk says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from sim.batch.manifests import (
    BacktestManifest,
    CrossvalManifest,
    OriginsManifest,
    PosteriorRef,
    ScoreManifest,
    read_manifest,
)
from sim.batch.posterior import shipped_name
from sim.experiments.loading import Backtest, CrossValidation, Result, load
from sim.experiments.origins import origin_totals, unscored, versus_by_origin
from sim.experiments.scoring import (
    SCORE_TABLE_NOTE,
    comparisons,
    score_table,
    verdict_lines,
    worse_per_case,
)
from sim.model.errors import InputError
from sim.plots.reliability import reliability_chart
from sim.report.render import inline_svg, render

SCORED_KINDS = ("backtest", "backtest-origins", "crossval", "score")
CASE_GROUPS = ("all", "case", "era", "size")  # the order of a crossval's rows in the report


def build_scores_report(result: Result) -> str:
    """The HTML document of a scored run."""
    if isinstance(result, CrossValidation):
        values = _crossval(result)
    elif isinstance(result, Backtest) and isinstance(result.manifest, BacktestManifest):
        values = _backtest(result)
    elif isinstance(result, Backtest) and isinstance(result.manifest, OriginsManifest):
        values = _origins(result)
    else:
        raise InputError(
            str(result.directory),
            "kind",
            f"a {result.kind} directory has no report; expected a batch, forecast, calibrate, "
            f"{', '.join(SCORED_KINDS)} directory",
        )
    figure = reliability_chart(result.events)
    return render(
        "scores.html.j2",
        **values,
        note=SCORE_TABLE_NOTE,
        figure=Markup(inline_svg(figure)),
        facts=provenance(result),
        command=result.manifest.resume_command(Path("DIR")).removesuffix(" --resume"),
    )


def _crossval(result: CrossValidation) -> dict[str, Any]:
    """A crossval's or a score run's title, what was scored, verdicts and tables by case."""
    manifest, summary, scores = result.manifest, result.summary, result.scores
    events = summary.get("events", len(result.events))
    cases = len(manifest.cases)
    if isinstance(manifest, ScoreManifest):
        posterior = manifest.posterior
        title = f"{manifest.experiment.name}: scores under the posterior {posterior.directory}"
        how = (
            f"{events:,} facts of {cases} cases forecast by the model under the posterior "
            f"{posterior.directory} (fitted on {', '.join(posterior.cases)}; not refitted), "
            f"{manifest.runs:,} runs a case; the base rate, the logit and the cure logit fitted on "
            "the other cases' folds"
            + (f"; left out: {', '.join(manifest.left_out)}" if manifest.left_out else "")
        )
    else:
        folds = len(manifest.folds)
        split = f"grouped {folds}-fold" if folds else "leave-one-case-out"
        title = f"{manifest.experiment.name}: {split} cross-validation scores"
        held = f"each fold of whole alliances ({folds} folds)" if folds else "each case"
        how = (
            f"{events:,} held-out facts of {cases} cases: {held} forecast by the model under "
            f"the posterior fitted on the other cases, {manifest.runs:,} runs a case, and by the "
            "base rate, the logit and the cure logit fitted on the same training cases"
        )
    ordered = pd.concat(
        [scores[scores["group"] == g] for g in CASE_GROUPS if g in set(scores["group"])]
    )
    verdicts = verdict_lines(summary["versus"], f"Over all {events:,} facts")
    return {
        "title": title,
        "how": how,
        "in_sample": None,
        "verdicts": verdicts + worse_per_case(summary.get("versus_per_case", {})),
        "tables_": [_table("Every forecaster by case, era, size and in total", ordered, "case")],
    }


def _backtest(result: Backtest) -> dict[str, Any]:
    """A backtest's title, what was scored, verdicts and tables (totals, then per fact)."""
    manifest, summary, scores = result.manifest, result.summary, result.scores
    events = summary.get("events", len(result.events))
    drawn = _parameters(manifest.posterior)
    held = "conditioned on the record up to the origin" if manifest.condition else "unconditioned"
    how = (
        f"{events:,} facts of {manifest.observations.path} after the origin {manifest.origin}, "
        f"forecast by the model from the scenario as known then ({held}; {drawn}; "
        f"{manifest.runs:,} runs), by the base rate, 50/50, the event-history logit and its cure "
        "variant"
    )
    totals = scores[scores["member"] == "all"]
    per_fact = scores[scores["member"] != "all"].assign(
        fact=lambda t: t["member"].astype(str) + " " + t["stage"].astype(str)
    )
    per_case = {label: comparisons(group) for label, group in per_fact.groupby("fact", sort=False)}
    tables = [_table("Every forecaster in total and by period", totals, "period")]
    if len(per_fact):
        tables.append(_table("Every forecaster by member and stage", per_fact, "fact"))
    verdicts = verdict_lines(summary["versus"], f"Over all {events:,} facts")
    return {
        "title": f"{manifest.scenario.name}: backtest from {manifest.origin}",
        "how": how,
        "in_sample": summary.get("in_sample"),
        "verdicts": verdicts + worse_per_case(per_case),
        "tables_": [t for t in tables if t["rows"]],
    }


def _origins(result: Backtest) -> dict[str, Any]:
    """A rolling-origin backtest's title, what was scored, verdicts and table by origin."""
    manifest = result.manifest
    assert isinstance(manifest, OriginsManifest)
    scores = result.scores.assign(origin=result.scores["origin"].dt.strftime("%Y-%m"))
    held = "conditioned on the record up to each origin" if manifest.condition else "unconditioned"
    how = (
        f"the facts of {manifest.observations.path} after each origin "
        f"({', '.join(manifest.origins)}), forecast by the model from the scenario as known then "
        f"({held}; {_parameters(manifest.posterior)}; {manifest.runs:,} runs), by the base "
        "rate, 50/50 and the event-history logit"
    )
    empty = unscored(scores, manifest.origins)
    worse = worse_per_case(versus_by_origin(scores))
    return {
        "title": f"{manifest.scenario.name}: backtests from {len(manifest.origins)} origins",
        "how": how,
        "in_sample": f"No fact after {', '.join(empty)}: not scored." if empty else None,
        "verdicts": worse or ["At no origin is the model worse than a reference on a score."],
        "tables_": [_table("Every forecaster by origin", origin_totals(scores), "origin")],
    }


def _parameters(posterior: PosteriorRef | None) -> str:
    return (
        f"parameters drawn from the posterior {posterior.directory}"
        if posterior is not None
        else "parameters fixed at the scenario's values"
    )


def _table(title: str, scores: pd.DataFrame, label: str) -> dict[str, Any]:
    table = score_table(scores, label)
    return {"title": title, "label": label, "headers": table.headers, "rows": table.rows}


def provenance(result: Result) -> list[tuple[str, Any]]:
    """What a result's manifest says of where it came from: kind, seed, times, versions."""
    manifest = result.manifest
    facts = [
        ("kind", manifest.kind),
        ("seed", getattr(manifest, "seed", "")),
        ("started", manifest.started),
        ("finished", manifest.finished),
        ("result directory", result.directory),
    ]
    return facts + [(f"version of {k}", v) for k, v in sorted(manifest.versions.items())]


def out_of_sample(posterior: PosteriorRef | None, scored: Path | None = None) -> dict[str, Any]:
    """How the posterior a batch drew from scored out of sample: from `scored` (an `alliance
    score` or `alliance backtest` run under the same posterior, checked by its hash) where given;
    else `known` with the held-out case's table where the posterior is a fold of a
    cross-validation on disk (the fold's held-out case is its out-of-sample test); else a
    sentence saying it is not known."""
    if scored is not None:
        return _recorded(posterior, Path(scored))
    if posterior is None:
        return {
            "known": False,
            "short": "not known: the parameters are fixed, not fitted",
            "text": "The parameters are fixed, not fitted: no out-of-sample score of them is "
            "known. `alliance backtest` scores a scenario against its record; `alliance "
            "crossval` scores a fit of a case library, case by case.",
        }
    folder = Path(posterior.directory)
    crossval = folder.parent.parent
    if folder.parent.name == "folds" and (crossval / "manifest.json").is_file():
        try:
            manifest = read_manifest(crossval)
            scores = pd.read_csv(crossval / "scores.csv")
        except (InputError, OSError, ValueError):
            manifest, scores = None, None
        if isinstance(manifest, CrossvalManifest) and manifest.finished and scores is not None:
            held = scores[(scores["group"] == "case") & (scores["case"] == folder.name)]
            if len(held):
                versus = comparisons(held)
                return {
                    "known": True,
                    "short": f"the posterior is the fold of {crossval} that held out {folder.name}",
                    "text": f"The posterior is the fold of the cross-validation {crossval} that "
                    f"held out {folder.name}: its scores on that case, out of sample.",
                    "verdicts": verdict_lines(versus, f"On the held-out {folder.name}"),
                    "table": _table("held out", held, "case"),
                }
    name = shipped_name(posterior.directory)
    return {
        "known": False,
        "short": f"not known: no score is recorded with the posterior {name} (alliance "
        "crossval or alliance score measures one)",
        "text": f"Not known: no out-of-sample score is recorded with the posterior {name} "
        f"(fitted on {', '.join(posterior.cases) or 'its cases'}). `alliance crossval` on its "
        "experiment scores the fit that made it case by case (each case forecast by a fit of "
        "the others), and `alliance score` scores it on cases it never saw; `alliance report` "
        "of either directory shows every forecaster's scores.",
    }


def _recorded(posterior: PosteriorRef | None, scored: Path) -> dict[str, Any]:
    """The totals of a score or backtest run under this very posterior (same samples' hash)."""
    if posterior is None:
        raise InputError(
            "--scores", str(scored), "the batch's parameters are fixed; expected a batch run "
            "under a posterior (--posterior) to give the scores of that posterior",
        )  # fmt: skip
    result = load(scored)
    theirs = getattr(result.manifest, "posterior", None)
    if result.kind not in ("score", "backtest") or not isinstance(theirs, PosteriorRef):
        raise InputError(
            "--scores", str(scored), f"is a {result.kind} run; expected an alliance score or "
            "alliance backtest run under the batch's posterior",
        )  # fmt: skip
    if theirs.hash != posterior.hash:
        raise InputError(
            "--scores", str(scored), f"scored the posterior {theirs.directory} (samples "
            f"{theirs.hash[:12]}), not the batch's {shipped_name(posterior.directory)} (samples "
            f"{posterior.hash[:12]}); expected a run under the same samples",
        )  # fmt: skip
    scores, summary = result.scores, result.summary
    events = summary.get("events", len(result.events))
    if result.kind == "score":
        total = scores[scores["group"] == "all"].assign(case="all")
        where = f"over {events:,} facts of {len(result.manifest.cases)} cases it was not fitted on"
    else:
        total = scores[(scores["member"] == "all") & (scores["period"] == "all")].assign(case="all")
        where = f"over {events:,} facts after the origin {result.manifest.origin}"
    caveat = f" {summary['in_sample']}" if summary.get("in_sample") else ""
    return {
        "known": True,
        "short": f"the {result.kind} run {scored} scored this posterior {where}",
        "text": f"The {result.kind} run {scored} scored this posterior {where}.{caveat}",
        "verdicts": verdict_lines(summary["versus"], f"Over all {events:,} facts"),
        "table": _table("in total", total, "case"),
    }
