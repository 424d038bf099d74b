"""Real result directories for the figure and report tests: small batches, a sweep, a Sobol run.

Each is made through the same engines as the CLI (serial, fixed seeds), in well under a second.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from sim.batch.jobs import RunOptions
from sim.batch.results import summarize
from sim.batch.runner import run_batch
from sim.experiments.sensitivity import sensitivity
from sim.experiments.sweep import sweep

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BATCH_RUNS = 2000


def make_batch(out: Path, scenario: str = "csto_2022.yaml", runs: int = BATCH_RUNS) -> Path:
    """A finished, summarized batch of `runs` replications (seed 1) in `out`."""
    run_batch(SCENARIOS / scenario, out, runs=runs, seed=1, options=RunOptions(workers=1))
    summarize(out)
    return out


def make_sweep(folder: Path) -> Path:
    """A 3 x 3 grid over drain_scale and answer_willingness, 200 runs per point, two outcomes."""
    out = folder / "sweep"
    sweep(sweep_spec(folder), out, options=RunOptions(workers=1, progress=False))
    return out


def sweep_spec(folder: Path) -> Path:
    """The experiment file of `make_sweep` (9 points, 2 outcomes), written into `folder`."""
    spec = folder / "sweep.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: tiny_sweep
            description: Drain intensity against willingness to answer, for the figure tests.
            scenario: {SCENARIOS / "csto_2022.yaml"}
            seed: 3
            replications: 200
            parameters:
              drain_scale: {{low: 0.0, high: 2.0}}
              answer_willingness: {{low: -4.0, high: 1.0}}
            design: {{method: grid, levels: 3}}
            outcomes:
              - {{kind: reach_stage, member: Armenia, stage: frozen, by: 2030-12}}
              - {{kind: any_exit, by: 2030-12}}
            """
        )
    )
    return spec


def make_sensitivity(folder: Path) -> Path:
    """A small Sobol analysis of three parameters (8 base samples, 100 runs per point)."""
    spec = folder / "sobol.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: tiny_sobol
            description: Three parameters' influence, for the figure tests.
            scenario: {SCENARIOS / "csto_2022.yaml"}
            seed: 3
            replications: 100
            parameters:
              drain_scale:
              answer_willingness:
              trust_loss_unanswered:
            design: {{method: sobol, samples: 8}}
            outcomes:
              - {{kind: reach_stage, member: Armenia, stage: frozen, by: 2030-12}}
              - {{kind: any_exit, by: 2030-12}}
            """
        )
    )
    out = folder / "sobol"
    sensitivity(spec, out, options=RunOptions(workers=1, progress=False))
    return out
