"""Write a calibrated copy of a scenario: the same file, with fitted parameters and their source.

Only the `parameters` block changes (added at the end if absent). The file is read and written
with ruamel.yaml's round-trip mode, which keeps comments, key order, quoting and every source as
they were (in the shipped files' layout: mappings indented by 2, list items by 4 with the dash at
2). Each fitted parameter's `source` says how it was fitted, from what, and how sure the fit is,
so the copy documents itself like any scenario value.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from sim.batch.store import now, write_bytes_atomic
from sim.experiments.experiment import Experiment
from sim.model.parameters import BY_NAME
from sim.model.scenario import load_scenario

CALIBRATED = "scenario.calibrated.yaml"


def write_calibrated_scenario(
    experiment: Experiment,
    fitted: pd.DataFrame,
    note: str,
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
            f"{note}; uniform prior on [{row.prior_low:g}, {row.prior_high:g}]. "
            f"Posterior mean {row.mean:.4g} (sd {row.sd:.3g}, {row.sd_ratio:.2f} of the "
            f"prior's: {row.identification}; 95% interval [{row.low:.4g}, {row.high:.4g}])."
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
    """The YAML text with its top-level `parameters` mapping set to `values` and `sources`.

    Entries already in the block are updated in place, so their comments stay; new ones go
    first (after the last one would put them below the comment that opens the next key); a
    missing block is added at the end of the file.
    """
    yaml = _round_trip()
    data = yaml.load(text)
    block = data.get("parameters")
    if not isinstance(block, CommentedMap):
        block = data["parameters"] = CommentedMap()
    block.fa.set_block_style()
    for name in reversed(values):
        entry = block.get(name)
        if not isinstance(entry, CommentedMap):
            entry = CommentedMap()
            block.insert(0, name, entry)
        entry.fa.set_block_style()
        entry["value"] = values[name]
        entry["source"] = DoubleQuotedScalarString(sources[name])
    if not values:
        block.fa.set_flow_style()
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _round_trip() -> YAML:
    """A ruamel.yaml round-trip reader and writer laid out like the shipped scenario files."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long source onto several lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(float, _float)
    return yaml


def _float(representer: RoundTripRepresenter, value: float) -> object:
    """A float as YAML 1.1 readers (PyYAML, which loads scenarios) read one: `1.0e-05`, not
    `1e-05`, which they would take for a string."""
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)
