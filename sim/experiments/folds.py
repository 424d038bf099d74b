"""Folds of a cross-validation: one case per fold, or K folds that never split a group.

A case's group is its alliance (`group:` in the experiment's case list, by default the case's
own name): an ATOP library case and a narrative case of the same alliance (`docs/library.md`
lists them) name one group, so they are held out together and neither is fitted to forecast
the other. Groups are dealt to folds largest first (by facts),
each to the fold with the fewest facts so far, so that folds are about even and the split is
the same on every run.
"""

from __future__ import annotations

from sim.experiments.cases import Case
from sim.model.errors import InputError


def leave_one_out(cases: list[Case]) -> list[list[int]]:
    """Each case its own fold (the default of `alliance crossval`)."""
    return [[k] for k in range(len(cases))]


def group_folds(cases: list[Case], k: int) -> list[list[int]]:
    """The cases' indices in `k` folds, each group of cases whole in one fold."""
    groups: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(case.group_name, []).append(index)
    if not 2 <= k <= len(groups):
        raise InputError(
            "--folds", str(k), f"expected from 2 to the number of case groups ({len(groups)})"
        )
    size = {g: sum(cases[i].facts for i in members) for g, members in groups.items()}
    folds: list[list[int]] = [[] for _ in range(k)]
    load = [0] * k
    for group in sorted(groups, key=lambda g: (-size[g], g)):
        j = min(range(k), key=lambda f: (load[f], f))
        folds[j] += groups[group]
        load[j] += size[group]
    return [sorted(f) for f in folds]


def pick_fold(cases: list[Case], folds: list[list[int]], only: str) -> int:
    """The index in `folds` of the fold `only` names: its number (1 to len(folds)) or the name
    of a case it holds out (`alliance crossval --only-fold`: one fold, timed or checked alone)."""
    if only.isdigit() and 1 <= int(only) <= len(folds):
        return int(only) - 1
    for k, fold in enumerate(folds):
        if any(cases[i].name == only for i in fold):
            return k
    names = ", ".join(c.name for c in cases)
    raise InputError(
        "--only-fold", only, f"expected a fold number from 1 to {len(folds)} or a case ({names})"
    )
