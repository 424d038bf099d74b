"""`alliance score`: every case of an experiment forecast under a posterior fitted elsewhere.

The out-of-sample test that needs no refit: the simulation runs each case `runs` times under
the given posterior (a calibration directory or a shipped posterior's name), exactly as a
cross-validation runs a held-out case under its fold's posterior
(`sim.experiments.crossval.held_out_tables`), while the references are fitted on the other
cases, as in `alliance crossval`: the base rate and the event-history logit fitted on the
training cases of each fold (`--folds K`: K folds of whole alliances; without it, each case
left out in turn), and 50/50. The posterior must not have seen a scored case: a case whose
record (start month and members, `sim.batch.posterior.record_id`), scenario name, case name or
group matches one of the posterior's cases is refused; a case the user knows to overlap the
posterior's training by other means (an ATOP alliance that is also a narrative case,
docs/library.md) is named with `--leave-out` and not scored. The tables, scores and summary are
those of a cross-validation (`sim.experiments.crossval_scores`, `sim.experiments.scoring`).
"""

from __future__ import annotations

from pathlib import Path

from sim.batch.engines import engine_for
from sim.batch.jobs import DEFAULTS, RunDir, RunOptions
from sim.batch.manifests import PosteriorRef, ScoreManifest
from sim.batch.posterior import (
    CASE_SEP,
    fitted_cases_of,
    load_posterior,
    read_posterior_manifest,
    resolve_posterior,
    shipped_name,
)
from sim.batch.store import now, versions
from sim.batch.tasks import check_run_count
from sim.experiments.cases import Case, load_cases
from sim.experiments.crossval import (
    HELD_OUT,
    HORIZON,
    CrossValidation,
    Folds,
    base_rates,
    finished_fold,
    held_out_tables,
    load_case_list,
    write_results,
)
from sim.experiments.folds import group_folds, leave_one_out
from sim.experiments.references import reference_fits, reference_table
from sim.experiments.sweep import experiment_ref, input_files
from sim.model.errors import InputError


def score(
    experiment_path: Path,
    posterior: str | Path,
    out: Path,
    *,
    runs: int = 2000,
    fmt: str = "png",
    options: RunOptions = DEFAULTS,
    folds: int | None = None,
    leave_out: list[str] | None = None,
) -> CrossValidation:
    """Forecast every case under `posterior` (no refit) and score it against the base rate, the
    logit (both fitted on the other cases' folds) and 50/50."""
    experiment = load_case_list(experiment_path, runs, fmt, "scoring")
    everything = load_cases(experiment, None)
    cases = scored_cases(everything, leave_out or [])
    folder = resolve_posterior(posterior)
    refuse_seen(cases, folder, str(posterior))
    draws = load_posterior(folder)
    shared = [n for n in draws.names if CASE_SEP not in n]
    check_run_count(runs * len(cases), "--runs", f"{runs} per case")
    split = group_folds(cases, folds) if folds is not None else leave_one_out(cases)
    manifest = ScoreManifest(
        experiment=experiment_ref(experiment),
        cases=[c.name for c in cases],
        runs=runs,
        seed=experiment.spec.seed,
        folds=split if folds is not None else [],
        posterior=PosteriorRef(**{**draws.describe(), "directory": shipped_name(folder)}),
        left_out=sorted(leave_out or []),
        versions=versions(),
        started=now(),
    )
    with RunDir(out, manifest, options, input_files(experiment)) as run:
        collected = Folds()
        with engine_for(options.workers, options.scheduler) as engine:
            for k, held_out in enumerate(split):
                training = [c for i, c in enumerate(cases) if i not in held_out]
                name = f"fold_{k + 1}" if folds is not None else cases[held_out[0]].name
                base = base_rates(training)
                logits = reference_fits(training)
                collected.rates.append(base.assign(held_out=name))
                collected.logits.append(reference_table(logits, held_out=name))
                for i in held_out:
                    held = cases[i]
                    place = run.sub(f"folds/{name}/{held.name}" if folds else f"folds/{name}")
                    done = finished_fold(place.root) if options.resume else None
                    if done is None:
                        done = held_out_tables(experiment, held, draws, runs, engine, base, logits)
                        place.write_table(HORIZON.removesuffix(".parquet"), done[1])
                        place.write_table(HELD_OUT.removesuffix(".parquet"), done[0])
                    collected.events.append(done[0])
                    collected.horizons.append(done[1])
        notes = {
            "posterior": shipped_name(folder),
            "posterior_cases": list(draws.cases),
            "parameters": shared,
            "left_out": sorted(leave_out or []),
            "folds": folds,
        }
        return write_results(run, collected, cases, runs, fmt, notes)


def scored_cases(cases: list[Case], leave_out: list[str]) -> list[Case]:
    """The experiment's cases without those named by `--leave-out` (each must be one of them)."""
    names = {c.name for c in cases}
    unknown = [n for n in leave_out if n not in names]
    if unknown:
        raise InputError(
            "--leave-out", unknown[0], f"expected the name of one of the {len(cases)} cases"
        )
    kept = [c for c in cases if c.name not in set(leave_out)]
    if len(kept) < 2:
        raise InputError("--leave-out", ", ".join(leave_out), "expected at least 2 cases left")
    return kept


def refuse_seen(cases: list[Case], folder: Path, given: str) -> None:
    """Refuse a posterior fitted on any scored case: its facts would be scored in sample."""
    fitted = read_posterior_manifest(folder).cases
    names = {c.name for c in fitted}
    for case in cases:
        seen = fitted_cases_of(fitted, case.scenario)
        seen += sorted({case.name, case.group_name} & names)
        if seen:
            raise InputError(
                "--posterior",
                given,
                f"was fitted on case {seen[0]!r}, which is case {case.name!r} of the experiment, "
                f"so it would be scored in sample; expected a posterior fitted without it, or "
                f"--leave-out {case.name}",
            )
