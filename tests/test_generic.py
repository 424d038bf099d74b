"""Nothing alliance-specific in sim/: no country, alliance or leader is named in the code, not
even in a parameter default's reason (those live in scenario files, with their sources).

The names checked are a fixed list (the CSTO's members and neighbours, the patrons and alliances
of the case library, leaders named in the scenarios and the facts) plus every patron and member
named by a scenario under scenarios/, so a new case file extends the check by itself. Names are
matched as whole words, case-sensitively, as proper names are written: a shipped file's stem
such as `csto_2022`, given as an example of a command-line argument, is a file name, not a name
in the model. (~1 s)
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from model_helpers import ROOT, SCENARIOS

from sim.model.parameters import PARAMETERS

SIM = ROOT / "sim"
LISTED = """
Armenia Armenian Belarus Belarusian Kazakhstan Kazakh Kyrgyzstan Kyrgyz Tajikistan Tajik Uzbekistan
Uzbek Azerbaijan Azerbaijani Georgia Georgian Russia Russian Ukraine Ukrainian Turkey Turkish China
Chinese Iran Iranian Iraq Iraqi Pakistan Pakistani India Afghanistan France French Greece Greek
Albania Albanian Romania Romanian Hungary Czechoslovakia Poland Britain British Australia Zealand
Philippines Thailand America American Soviet USSR US USA UK
CSTO CST NATO SEATO CENTO ANZUS Warsaw Baghdad CIS EU
Putin Pashinyan Tokayev Nazarbayev Lukashenko Rahmon Japarov Otunbayeva Erdogan Aliyev Shevardnadze
Karimov Mirziyoyev Gaulle Ayub Bhutto Nixon Eisenhower Dulles Qasim Papandreou Karamanlis Lange
Ceausescu Gorbachev Yeltsin
"""  # countries and their adjectives; alliances and treaties; leaders
NAMES = frozenset(LISTED.split())


@cache
def scenario_names() -> frozenset[str]:
    """Every patron's and member's name in the shipped scenarios (case library included)."""
    names: set[str] = set()
    for path in SCENARIOS.rglob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict) or "members" not in data:
            continue
        names.add(str(data.get("patron", {}).get("name", "")))
        names.update(str(m.get("name", "")) for m in data["members"] if isinstance(m, dict))
    return frozenset(n for n in names if n)


def named_in(text: str, names: set[str] | frozenset[str]) -> list[str]:
    """The names that occur in `text` as whole words."""
    words = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return sorted(set(re.findall(rf"(?<!\w)(?:{words})(?!\w)", text)))


def test_sim_names_no_country_alliance_or_leader():
    names = NAMES | scenario_names()
    assert {"Russia", "Armenia", "CSTO", "Putin"} <= names
    found = {}
    for path in sorted(SIM.rglob("*.py")):
        hits = named_in(path.read_text(encoding="utf-8"), names)
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    assert not found, f"alliance-specific names in sim/: {found}"


def test_parameter_reasons_are_generic():
    for p in PARAMETERS:
        assert not named_in(f"{p.meaning} {p.reason}", NAMES | scenario_names()), p.name


def test_the_check_sees_a_name(tmp_path: Path):
    """The matcher is not blind: it finds a name in a reason and ignores a file name."""
    names = NAMES | scenario_names()
    assert named_in('"Uzbekistan returned in 2006."', names) == ["Uzbekistan"]
    assert named_in("(US and NATO)", names) == ["NATO", "US"]
    assert named_in("alliance batch csto_2022; use the status", names) == []
