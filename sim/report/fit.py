"""The report of a calibration (`alliance report DIR` of an `alliance calibrate` directory).

The fitted parameters against their priors (the console's table, `posterior_rows`), the pairs
the facts cannot tell apart, the sampler's diagnostics, how the posterior scored out of sample
(`sim.report.scores.out_of_sample`: known for a cross-validation's fold, else said not to be),
and the provenance.
"""

from __future__ import annotations

from pathlib import Path

from sim.batch.manifests import PosteriorRef
from sim.experiments.fit_report import POSTERIOR_HEADERS, posterior_rows
from sim.experiments.loading import Calibration
from sim.report.render import render
from sim.report.scores import out_of_sample, provenance


def build_fit_report(result: Calibration) -> str:
    """The HTML document of a calibration."""
    manifest, summary = result.manifest, result.summary
    cases = [str(case.get("name", "")) for case in manifest.cases]
    ess = summary.get("effective_sample_size")
    how = (
        f"{len(result.fitted)} parameters fitted on {summary.get('facts', '?')} facts of "
        f"{len(cases)} case(s) ({', '.join(cases)}); {summary.get('samples', 0):,} posterior "
        f"samples ({summary.get('walkers')} walkers x "
        f"{summary.get('steps', 0) - summary.get('burn', 0)} steps after burn-in), effective "
        f"sample size {'not estimated' if ess is None or ess != ess else f'{ess:.0f}'}, "
        f"acceptance {summary.get('acceptance_fraction', float('nan')):.2f}; the other "
        "parameters fixed at the experiment's or the documented values"
    )
    confounded = [
        f"{pair['parameters'][0]} and {pair['parameters'][1]} are not told apart (posterior "
        f"correlation {pair['correlation']:+.2f}): the facts fix a combination of them"
        for pair in summary.get("confounded", [])
    ]
    posterior = PosteriorRef(directory=str(result.directory), hash="", cases=cases)
    return render(
        "fit.html.j2",
        title=f"{manifest.experiment.name}: posterior against the prior",
        how=how,
        table={
            "title": "Each fitted parameter: posterior mean, sd and 95% interval against its "
            "uniform prior (sd/prior near 1: the facts said little about it)",
            "label": "parameter",
            "headers": list(POSTERIOR_HEADERS),
            "rows": posterior_rows(result.fitted),
        },
        confounded=confounded,
        out_of_sample=out_of_sample(posterior),
        facts=provenance(result),
        command=manifest.resume_command(Path("DIR")).removesuffix(" --resume"),
    )
