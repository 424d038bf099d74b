"""Write a calibrated copy of a scenario: the same file, with fitted parameters and their source.

Only the `parameters` block changes (added if absent); every other line, comment included, stays
as it was. Each fitted parameter's `source` says how it was fitted, from what, and how sure the
fit is, so the copy documents itself like any scenario value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.batch.store import now, write_bytes_atomic
from sim.experiments.experiment import Experiment
from sim.experiments.observations import Observations
from sim.model.parameters import BY_NAME
from sim.model.scenario import load_scenario

CALIBRATED = "scenario.calibrated.yaml"


def write_calibrated_scenario(
    experiment: Experiment,
    observations: Observations,
    fitted: pd.DataFrame,
    summary: dict[str, Any],
    out: Path,
) -> Path:
    """Write out/scenario.calibrated.yaml with the posterior means and check that it loads."""
    scenario = experiment.scenario
    values = dict(scenario.parameters)
    sources = {k: v.source for k, v in scenario.spec.parameters.items()}
    for row in fitted.itertuples():
        p = BY_NAME[row.parameter]  # clip to the documented range after rounding
        values[row.parameter] = min(max(float(f"{row.mean:.6g}"), p.low), p.high)
        sources[row.parameter] = (
            f"Fitted by `alliance calibrate` ({now()[:10]}): experiment {experiment.name}, "
            f"observations {observations.name} ({summary['facts']} facts to "
            f"{observations.spec.as_of}), {summary['likelihood']} simulated likelihood, "
            f"{summary['candidates']} candidates x {experiment.spec.replications} runs, "
            f"uniform prior on [{row.prior_low:g}, {row.prior_high:g}]. "
            f"Posterior mean {row.mean:.4g} (sd {row.sd:.3g}, 95% interval "
            f"[{row.low:.4g}, {row.high:.4g}]); effective sample size "
            f"{summary['effective_sample_size']:.0f}."
        )
    for name, value in experiment.fixed.items():
        values[name] = value
        sources[name] = (
            f"Held at {value:g} by experiment {experiment.name} while the parameters marked "
            "`Fitted by alliance calibrate` were fitted; the fit assumes this value."
        )
    text = Path(scenario.path).read_text(encoding="utf-8")
    header = (
        f"# Calibrated copy of {scenario.path}, written by `alliance calibrate` on {now()[:10]}.\n"
        f"# Only `parameters` differs from the original; see fitted.csv beside this file.\n"
    )
    target = out / CALIBRATED
    write_bytes_atomic(target, (header + with_parameters_block(text, values, sources)).encode())
    load_scenario(target)
    return target


def with_parameters_block(text: str, values: dict[str, float], sources: dict[str, str]) -> str:
    """The YAML text with its top-level `parameters` mapping replaced (or appended)."""
    block = "parameters:\n" + "".join(
        f"  {name}:\n    value: {values[name]!r}\n    source: {json.dumps(sources[name])}\n"
        for name in values
    )
    if not values:
        block = "parameters: {}\n"
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    for key, value in root.value if isinstance(root, yaml.MappingNode) else []:
        if isinstance(key, yaml.ScalarNode) and key.value == "parameters":
            end = _last_end(value)
            return text[: key.start_mark.index] + block.rstrip("\n") + text[end:]
    return text + ("" if text.endswith("\n") else "\n") + block


def _last_end(node: yaml.Node) -> int:
    """Where a node's own text ends: its last scalar for block collections, else its end mark."""
    if getattr(node, "flow_style", False) or not isinstance(
        node, yaml.MappingNode | yaml.SequenceNode
    ):
        return node.end_mark.index
    if not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _last_end(last[1] if isinstance(node, yaml.MappingNode) else last)
