"""The stages of defection, by name and by code: the one definition the whole package uses.

A member's status is a code, `ACTIVE` 0 to `WITHDRAWN` 3, in the order a member moves away.
First passages are recorded for the three stages after `active` (`LATER_STAGES`), so stage code
`s` is column `s - 1` of a first-passage array.
"""

from __future__ import annotations

from typing import Literal, get_args

StageName = Literal["active", "disengaged", "frozen", "withdrawn"]
LaterStageName = Literal["disengaged", "frozen", "withdrawn"]

STAGES: tuple[str, ...] = get_args(StageName)
LATER_STAGES: tuple[str, ...] = get_args(LaterStageName)
ACTIVE, DISENGAGED, FROZEN, WITHDRAWN = range(len(STAGES))


def stage_code(name: str) -> int:
    """The status code of a stage name (`active` 0 ... `withdrawn` 3)."""
    return STAGES.index(name)
