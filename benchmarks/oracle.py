"""Does the lane engine follow the reference's rules? Compare their runs statistically.

Two-sample tests between the reference (benchmarks/reference.py) and the lane engine
(sim.batch.lanes.simulate_chunk): for every member and stage, Fisher's exact test on reached / not
reached by the horizon and Kolmogorov-Smirnov on the month among runs that reached it; for every
member, Kolmogorov-Smirnov on trust at the horizon. Holm's correction keeps the chance of any
false alarm over all tests at `alpha`.

    .venv/bin/python -m benchmarks.oracle scenarios/csto_2022.yaml --perturb hazard_slope=2.7

runs the comparison from the command line, optionally with a parameter of the lane engine changed
(to see the comparison fail, as it must).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.reference import ReferenceModel
from sim.batch.lanes import simulate_chunk
from sim.model.scenario import Scenario, load_scenario
from sim.model.stages import LATER_STAGES

MIN_REACHED = 20  # below this many runs reaching a stage in a sample, months are not compared
TRUST_RUNS = 10_000  # lane-engine runs whose trust at the horizon is compared (full trajectories)


@dataclass
class Sample:
    """What the comparison reads from a set of runs of one engine."""

    first_passage: np.ndarray  # (runs, members, 3) int16 months, -1 = not reached
    final_trust: np.ndarray  # (runs', members) trust at the end of the horizon


def reference_sample(
    scenario: Scenario, runs: int, seed: int, parameters: dict[str, float] | None = None
) -> Sample:
    """`runs` reference models seeded seed, seed + 1, ..."""
    first_passage = np.empty((runs, len(scenario.members), 3), dtype=np.int16)
    final_trust = np.empty((runs, len(scenario.members)))
    for r in range(runs):
        model = ReferenceModel(scenario, parameters, rng=seed + r)
        while model.running:
            model.step()
        first_passage[r] = model.first_passage
        final_trust[r] = [member.trust for member in model.members]
    return Sample(first_passage, final_trust)


def engine_sample(
    scenario: Scenario, runs: int, seed: int, parameters: dict[str, float] | None = None
) -> Sample:
    """The lane engine's replications 0..runs-1 (trust from the first TRUST_RUNS of them)."""
    passage = simulate_chunk(scenario, seed, 0, runs, parameters, aggregate=False).first_passage
    paths = simulate_chunk(
        scenario, seed, 0, min(runs, TRUST_RUNS), parameters, aggregate=False, trajectories=True
    ).trajectories
    return Sample(passage, paths["trust"][-1].T.astype(float))


def compare_samples(
    reference: Sample, engine: Sample, members: list[str], alpha: float = 0.001
) -> pd.DataFrame:
    """One row per member, stage and test: p-value, Holm-adjusted p-value and rejection.

    Per member and stage: reached by the horizon (Fisher) and month if reached (KS); per
    member: trust at the horizon (KS), which sees rules that move trust without moving exits.
    """
    rows = []
    for i, member in enumerate(members):
        for s, stage in enumerate(LATER_STAGES):
            a, b = reference.first_passage[:, i, s], engine.first_passage[:, i, s]
            reached_a, reached_b = a[a >= 0], b[b >= 0]
            table = [
                [len(reached_a), len(a) - len(reached_a)],
                [len(reached_b), len(b) - len(reached_b)],
            ]
            share = (len(reached_a) / len(a), len(reached_b) / len(b))
            p_reached = stats.fisher_exact(table).pvalue
            rows.append((member, stage, "reached (Fisher)", *share, p_reached))
            if min(len(reached_a), len(reached_b)) >= MIN_REACHED:
                p_month = stats.ks_2samp(reached_a, reached_b).pvalue
                medians = (float(np.median(reached_a)), float(np.median(reached_b)))
                rows.append((member, stage, "month if reached (KS)", *medians, p_month))
        # Both at the float32 precision of stored trajectories: trust that reaches a level
        # exactly (a regime change's `to`) must tie in both samples, or KS sees the rounding.
        trust_a, trust_b = (np.float32(s.final_trust[:, i]) for s in (reference, engine))
        medians = (float(np.median(trust_a)), float(np.median(trust_b)))
        p_trust = stats.ks_2samp(trust_a, trust_b).pvalue
        rows.append((member, "-", "trust at the horizon (KS)", *medians, p_trust))
    table = pd.DataFrame(
        rows, columns=["member", "stage", "test", "reference", "engine", "p_value"]
    )
    table["p_holm"] = holm(table["p_value"].to_numpy())
    table["rejected"] = table["p_holm"] < alpha
    return table


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p_values[order]).clip(max=1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def main() -> None:
    """Command line: compare the engine with the reference and print the table of tests."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--reference-runs", type=int, default=5000, help="reference models")
    parser.add_argument("--engine-runs", type=int, default=50_000, help="lane replications")
    parser.add_argument("--seed", type=int, default=20221123, help="seed of both samples")
    parser.add_argument("--alpha", type=float, default=0.001, help="family-wise error rate")
    parser.add_argument(
        "--perturb",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a parameter of the lane engine only (repeatable)",
    )
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    perturbed = {k: float(v) for k, v in (item.split("=", 1) for item in args.perturb)}
    reference = reference_sample(scenario, args.reference_runs, args.seed)
    engine = engine_sample(scenario, args.engine_runs, args.seed, perturbed)
    table = compare_samples(reference, engine, scenario.members, args.alpha)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    verdict = "DIFFER" if table["rejected"].any() else "agree"
    print(f"\n{int(table['rejected'].sum())} of {len(table)} tests rejected: the samples {verdict}")


if __name__ == "__main__":
    main()
