"""What replayed history does to the leavers: each leaver's chance of reaching its recorded exit
stage by the month of its fact, at a shipped posterior, with the case's replayed events and
without them (issue 20, item 4; docs/calibration.md, "What replayed events do to the leavers").

A leaver is a member with a fact that it reached `frozen` or `withdrawn` (its furthest such
stage); beside the leavers, each stayer's chance of reaching the stage of its latest fact that it
had not (events that push leavers out should not push the stayers as much). "Without" drops one
family of the events that move a member's balance, or all of them:
requests (`crisis`, `intervention`), signals (`rebuke`, `summit_quarrel`,
`patron_backs_opponent`, `patron_force`, `help_request`), regime changes (`regime_change`) and
outside options (`outside_option`); drains, threat, dependence and capacity changes, statuses and
memberships stay. Every variant runs the same replications with the same parameter draws
(common random numbers), so a difference is the events', not Monte Carlo noise in the draws.
A `reached_in` fact counts as reached by its month plus `WINDOW` months, as the fit counts it.

    python -m benchmarks.replayed_events --runs 2000 --out replayed_events.csv

runs the nine cases of experiments/calibrate_history.yaml and the ATOP cases with leavers
(scenarios/atop/index.csv).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pandas as pd

from sim.batch.lanes import simulate_chunk
from sim.batch.posterior import load_posterior
from sim.experiments.observations import load_observations
from sim.model.scenario import Scenario, compile_scenario, load_scenario
from sim.model.stages import FROZEN, STAGES, WITHDRAWN

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 6
RESERVED = {"3075"}  # the Rio Treaty: an external test, never run here
FAMILIES = {
    "requests": {"crisis", "intervention"},
    "signals": {"rebuke", "summit_quarrel", "patron_backs_opponent", "patron_force"}
    | {"help_request"},
    "regimes": {"regime_change"},
    "outside": {"outside_option"},
}
FAMILIES["all"] = set().union(*FAMILIES.values())


def nine_cases() -> list[tuple[str, Path, Path]]:
    """The nine cases of the shipped pooled fit: (name, scenario, observations)."""
    import yaml

    experiment = ROOT / "experiments" / "calibrate_history.yaml"
    spec = yaml.safe_load(experiment.read_text(encoding="utf-8"))
    out = []
    for case in spec["cases"]:
        scenario = (experiment.parent / case["scenario"]).resolve()
        observations = (experiment.parent / case["observations"]).resolve()
        out.append((case.get("name", scenario.stem), scenario, observations))
    return out


def atop_cases() -> list[tuple[str, Path, Path]]:
    """The ATOP cases with at least one leaver (scenarios/atop/index.csv)."""
    folder = ROOT / "scenarios" / "atop"
    with (folder / "index.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (row["case"], folder / f"{row['case']}.yaml", folder / f"{row['case']}.obs.yaml")
        for row in rows
        if row["case"] and row["atopid"] not in RESERVED and float(row["leavers"] or 0) > 0
    ]


def without(scenario: Scenario, kinds: set[str]) -> Scenario:
    """The scenario with the events of `kinds` dropped."""
    spec = scenario.spec
    kept = [e for e in spec.events if e.kind not in kinds]
    lean = spec.model_copy(update={"events": kept})
    return compile_scenario(lean, scenario.path, f"{scenario.content_hash}-{len(kept)}")


def members_at_stake(scenario: Scenario, observations_path: Path) -> list[tuple]:
    """(member, name, stage, month, role) of each leaver's furthest frozen or withdrawn fact,
    and of each stayer (no such fact reached) its latest fact that it had not reached frozen or
    withdrawn by a month (the earlier stage on a tie): the chance is then of the fact failing,
    which a good model keeps low."""
    facts = load_observations(observations_path, scenario).facts
    left: dict[int, tuple] = {}
    stayed: dict[int, tuple] = {}
    for fact in facts:
        if fact.occurred and fact.stage >= FROZEN:
            month = fact.month + (WINDOW if fact.kind == "reached_in" else 0)
            if fact.member not in left or fact.stage > left[fact.member][2]:
                left[fact.member] = (fact.member, fact.member_name, fact.stage, month, "leaver")
        elif not fact.occurred and fact.stage >= FROZEN:
            latest = stayed.get(fact.member, (0, "", WITHDRAWN + 1, -1))
            if (fact.month, -fact.stage) > (latest[3], -latest[2]):
                stayed[fact.member] = (
                    fact.member, fact.member_name, fact.stage, fact.month, "stayer"
                )  # fmt: skip
    return list(left.values()) + [v for k, v in stayed.items() if k not in left]


def case_rows(
    name: str, scenario_path: Path, observations_path: Path, posterior: str, runs: int, seed: int
) -> list[dict]:
    """Each leaver's chance of its stage by its fact's month (a stayer's of freezing by its
    fact's), with and without each family of events."""
    scenario = load_scenario(scenario_path)
    left = members_at_stake(scenario, observations_path)
    if not any(role == "leaver" for *_, role in left):
        return []
    draws = load_posterior(posterior, scenario).grouped(10)
    lane_values = draws.lane_values(seed, 0, runs)
    months = min(max(month for *_, month, _ in left) + 1, scenario.months)
    variants = {"with": scenario} | {
        family: without(scenario, kinds) for family, kinds in FAMILIES.items()
    }
    chances = {}
    for label, variant in variants.items():
        passage = simulate_chunk(
            variant, seed, 0, runs, aggregate=False, months=months, lane_values=lane_values
        ).first_passage
        chances[label] = [
            float(((passage[:, i, stage - 1] >= 0) & (passage[:, i, stage - 1] <= month)).mean())
            for i, _, stage, month, _ in left
        ]
    counts = {
        family: sum(e.kind in kinds for e in scenario.spec.events)
        for family, kinds in FAMILIES.items()
    }
    rows = []
    for k, (_, member, stage, month, role) in enumerate(left):
        row = {
            "case": name,
            "member": member,
            "role": role,
            "stage": STAGES[stage],
            "by": scenario.month_label(min(month, scenario.months - 1)),
        }
        row |= {f"p_{label}": chances[label][k] for label in variants}
        row |= {f"events_{family}": counts[family] for family in FAMILIES}
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--posterior", default="calibrate_history")
    parser.add_argument("--out", type=Path, default=Path("replayed_events.csv"))
    parser.add_argument("--only", choices=("nine", "atop"), default=None)
    args = parser.parse_args()
    cases = ([] if args.only == "atop" else nine_cases()) + (
        [] if args.only == "nine" else atop_cases()
    )
    rows = []
    for name, scenario, observations in cases:
        rows += case_rows(name, scenario, observations, args.posterior, args.runs, args.seed)
        print(name, flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    chances = [c for c in table.columns if c.startswith("p_")]
    leaving = table[table["role"] == "leaver"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(leaving[["case", "member", "stage", "by", *chances]].round(3).to_string(index=False))
        for role, rows in table.groupby("role"):
            print(f"mean over {len(rows)} {role}s", rows[chances].mean().round(3).to_dict())
    likelier = np.count_nonzero(leaving["p_with"] > leaving["p_all"])
    print(f"{likelier} of {len(leaving)} leavers likelier with their replayed events")


if __name__ == "__main__":
    main()
