"""The ATOP case library: its data tables, the mapping rules and the builder (docs/library.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from model_helpers import alliance

from sim.library import mapping as rules
from sim.library.build import build_library, write_library
from sim.library.build_tables import read_atop
from sim.library.mapping import Spell
from sim.library.tables import COLUMNS, DATA, load_tables
from sim.model.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "scenarios" / "atop"


def write_tables(folder: Path, **tables: list[dict]) -> Path:
    """A data folder with the given rows per table (every other table empty)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, columns in COLUMNS.items():
        frame = pd.DataFrame(tables.get(name, []), columns=list(columns))
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def synthetic(folder: Path) -> Path:
    """A tiny ATOP-like world: patron 2 with members 20 (leaves early), 30 (until the end,
    when the alliance expires) and 40 (stays); a war of the patron; a dispute the patron joins
    and one it does not; a regime change; a new alliance of member 30 without the patron."""
    member = dict(phase=0, termmode=0, milaid=1, base=0, ecaid=0)
    members = [
        dict(atopid=1, ccode=2, entry="1950-01", exit="1980-12", **member),
        dict(atopid=1, ccode=20, entry="1950-01", exit="1960-06", **member),
        dict(atopid=1, ccode=30, entry="1950-01", exit="1980-12", **member),
        dict(atopid=1, ccode=40, entry="1950-01", exit="1980-12", **member),
        *(
            dict(r, atopid=3)
            for r in (  # the same record as alliance 1: built once
                dict(ccode=c, entry="1950-01", exit=x, **member)
                for c, x in ((2, "1980-12"), (20, "1960-06"), (30, "1980-12"), (40, "1980-12"))
            )
        ),
        dict(atopid=2, ccode=30, entry="1975-01", exit="", **member),
        dict(atopid=2, ccode=50, entry="1975-01", exit="", **member),
    ]
    caps = []
    for year in range(1949, 1982):
        for ccode, cinc in ((2, 0.3), (20, 0.01), (30, 0.02), (40, 0.03), (50, 0.01)):
            polity = 10.0 if ccode != 40 else (-7.0 if year < 1972 else 6.0)
            caps.append(dict(ccode=ccode, year=year, cinc=cinc, polity2=polity))
    disputes = [
        dict(dispute=100, ccode=30, opponent=999, side_a=1, start="1965-04", hostlev=4),
        dict(dispute=100, ccode=2, opponent=999, side_a=1, start="1965-05", hostlev=4),
        dict(dispute=100, ccode=999, opponent=30, side_a=0, start="1965-04", hostlev=4),
        dict(dispute=101, ccode=40, opponent=998, side_a=0, start="1970-02", hostlev=5),
        dict(dispute=101, ccode=998, opponent=40, side_a=1, start="1970-02", hostlev=5),
        dict(dispute=102, ccode=40, opponent=998, side_a=0, start="1971-02", hostlev=2),
    ]
    return write_tables(
        folder,
        members=members,
        alliances=[dict(atopid=1, start="1950-01", end="1980-12"),
                   dict(atopid=2, start="1975-01", end=""),
                   dict(atopid=3, start="1950-01", end="1980-12")],
        capabilities=caps,
        wars=[dict(war=7, name="Test War", ccode=2, principal=1, start="1955-03", end="1957-08")],
        disputes=disputes,
        majors=[dict(ccode=2, start="1900-01", end="2016-12")],
        states=[dict(ccode=c, name=n) for c, n in
                ((2, "Patronia"), (20, "Alba"), (30, "Bravo"), (40, "Cora"), (50, "Delta"),
                 (998, "Foe"), (999, "Rival"))],
    )  # fmt: skip


def test_synthetic_alliance_gives_exactly_the_expected_events_and_facts(tmp_path: Path):
    library = build_library(load_tables(synthetic(tmp_path / "data")))
    assert [c.atopid for c in library.cases] == [1]
    assert library.skipped == [
        (2, "no major power among the founding members"),
        (3, "the same record as ATOP 1"),
    ]
    case = library.cases[0]
    scenario, facts = case.scenario, case.observations["facts"]
    assert scenario["patron"]["name"] == "Patronia"
    assert [m["name"] for m in scenario["members"]] == ["Alba", "Bravo", "Cora"]
    assert scenario["calendar"] == {"start": "1950-01", "history_end": "1980-12", "end": "1980-12"}
    outcome = {(f["member"], k, f[k]) for f in facts for k in rules.FACT_KINDS if k in f}
    assert outcome == {
        ("Alba", "reached_in", "1960-06"),  # abrogates: leaves while the alliance goes on
        ("Bravo", "not_reached_by", "1980-12"),  # censored by the alliance's expiry
        ("Cora", "not_reached_by", "1980-12"),
    }
    assert case.leavers == 1
    brief = [{k: e[k] for k in e if k not in ("source",)} for e in scenario["events"]]
    assert brief == [
        {"date": "1955-03", "kind": "drain", "id": "war_7", "monthly": 0.006, "until": "1957-08"},
        {"date": "1965-04", "kind": "crisis", "requester": "Bravo", "opponent": "Rival",
         "backed_opponent": False, "response": "answered"},
        {"date": "1970-02", "kind": "crisis", "requester": "Cora", "opponent": "Foe",
         "backed_opponent": False, "response": "unanswered"},
        {"date": "1972-01", "kind": "regime_change", "member": "Cora", "by": 0.1},
        {"date": "1975-01", "kind": "outside_option", "member": "Bravo", "by": 0.1},
    ]  # fmt: skip
    assert all("line" in e["source"] for e in scenario["events"])


def test_synthetic_case_files_load_and_run_in_the_program(tmp_path: Path):
    from sim.experiments.observations import load_observations
    from sim.model.scenario import load_scenario

    library = build_library(load_tables(synthetic(tmp_path / "data")))
    write_library(library, tmp_path / "out")
    scenario = load_scenario(tmp_path / "out" / "atop_1.yaml")
    observations = load_observations(tmp_path / "out" / "atop_1.obs.yaml", scenario)
    assert len(observations.facts) == 3
    assert (tmp_path / "out" / "index.csv").is_file()


def test_several_majors_the_clearly_strongest_is_patron_else_left_out():
    assert rules.choose_patron({2: 0.3}) == 2
    assert rules.choose_patron({2: 0.3, 200: 0.1}) == 2  # 3x the next: clear
    assert rules.choose_patron({2: 0.3, 200: 0.25}) is None  # within 1.5x: no clear patron
    assert rules.choose_patron({}) is None


def test_start_value_rules():
    assert rules.capability_share(0.1, 0.3) == 0.25
    assert rules.capability_share(math.nan, math.nan) == 0.5
    assert rules.patron_capacity(0.15, 0.3) == 0.5
    assert rules.dependence_level(0.25, 1, 1, 0) == pytest.approx(
        0.5 * 0.75 + 0.5 * 2 / 3, abs=1e-3
    )
    assert rules.threat_level(3) == 0.4
    assert rules.threat_level(20) == 1.0
    assert rules.outside_options_level(2) == 0.2
    assert rules.trust_level(10.0, 10.0) == 0.8
    assert rules.trust_level(-10.0, 10.0) == 0.4
    assert rules.trust_level(math.nan, 10.0) == 0.6
    assert rules.domestic_pressure_level(10.0) == 0.3


def test_exit_rules_censor_deaths_collective_and_alliance_ends():
    leaver = Spell(20, "1950-01", "1960-06", 5)
    assert rules.exit_fact(leaver, "1980-12", True) == ("reached_in", "1960-06")
    assert rules.exit_fact(leaver, "1980-12", False) == ("not_reached_by", "1960-05")
    assert rules.exit_fact(leaver, "1960-06", True) == ("not_reached_by", "1960-06")
    assert rules.exit_fact(leaver, "1980-12", True, {"1960-06"}) == ("not_reached_by", "1960-05")
    stayer = Spell(30, "1950-01", None, 6)
    assert rules.exit_fact(stayer, "2016-12", True) == ("not_reached_by", "2016-12")
    exits = ["1977-06", "1977-06", "1972-11", None]
    assert rules.collective_months(exits, "2016-12") == {"1977-06"}
    assert rules.collective_months(["1977-06", "1972-11", None, None], "2016-12") == set()
    years = pd.Series([1988, 1989, 1990])
    assert not rules.survives(years, "1990-10", 2012)
    assert rules.survives(years, "1989-03", 2012)


def test_phases_join_into_one_spell_and_a_return_is_ignored():
    rows = pd.DataFrame(
        [
            dict(ccode=5, phase=0, entry="1950-01", exit="1960-01", line=2),
            dict(ccode=5, phase=1, entry="1960-02", exit="1970-01", line=3),
            dict(ccode=5, phase=2, entry="1980-01", exit=None, line=4),
        ]
    )
    assert rules.first_spell(rows) == Spell(5, "1950-01", "1970-01", 3)


def test_rio_treaty_is_absent_from_every_table_and_the_library():
    members = pd.read_csv(DATA / "members.csv")
    alliances = pd.read_csv(DATA / "alliances.csv")
    assert 3075 not in set(members["atopid"]) and 3075 not in set(alliances["atopid"])
    assert not list(SHIPPED.glob("atop_3075*"))
    index = pd.read_csv(SHIPPED / "index.csv")
    assert 3075 not in set(index["atopid"])


def test_the_build_step_drops_the_reserved_alliance_on_read(tmp_path: Path):
    raw = tmp_path / "atop.csv"
    raw.write_text("atopid,member\n3075,2\n3285,365\n")
    assert list(read_atop(raw)["atopid"]) == [3285]


def test_a_malformed_table_names_file_line_and_column(tmp_path: Path):
    data = synthetic(tmp_path / "data")
    text = (data / "members.csv").read_text().splitlines()
    text[2] = text[2].replace("1960-06", "1960-13")
    (data / "members.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(InputError) as err:
        load_tables(data)
    assert str(err.value) == (
        f"{data / 'members.csv'}: line 3, column exit: '1960-13' is not a month; expected YYYY-MM"
    )


def test_cli_bad_table_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys):
    data = synthetic(tmp_path / "data")
    (data / "capabilities.csv").write_text("ccode,year,cinc,polity2\n2,1950,abc,1\n")
    status, _, err = alliance(
        monkeypatch, capsys, "library", "build", "--out", tmp_path / "out", "--data", data
    )
    assert status == 2
    assert err.strip().splitlines() == [
        f"error: {data / 'capabilities.csv'}: line 2, column cinc: 'abc' is not a number"
    ]
    assert not (tmp_path / "out").exists()


def test_shipped_experiment_lists_every_shipped_case():
    spec = yaml.safe_load((ROOT / "experiments" / "calibrate_atop.yaml").read_text())
    listed = {Path(c["scenario"]).name for c in spec["cases"]}
    shipped = {p.name for p in SHIPPED.glob("atop_*.yaml") if not p.name.endswith(".obs.yaml")}
    assert listed == shipped and len(shipped) > 100


@pytest.mark.slow
def test_rebuilding_reproduces_the_shipped_library(tmp_path: Path):
    out = tmp_path / "scenarios" / "atop"
    experiment = tmp_path / "experiments" / "calibrate_atop.yaml"
    status = _build(out, experiment)
    assert status == 0
    for path in sorted(SHIPPED.iterdir()):
        assert (out / path.name).read_text() == path.read_text(), path.name
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in SHIPPED.iterdir())
    shipped = ROOT / "experiments" / "calibrate_atop.yaml"
    assert experiment.read_text() == shipped.read_text()


def _build(out: Path, experiment: Path) -> int:
    from sim.library.build import build

    build(out, experiment)
    return 0


@pytest.mark.slow
def test_every_shipped_case_loads_with_its_facts():
    from sim.experiments.observations import load_observations
    from sim.model.scenario import load_scenario

    for path in sorted(SHIPPED.glob("atop_*.yaml")):
        if path.name.endswith(".obs.yaml"):
            continue
        scenario = load_scenario(path)
        load_observations(path.with_name(path.stem + ".obs.yaml"), scenario)


@pytest.mark.slow
def test_shipped_experiment_loads_every_case():
    from sim.experiments.cases import load_cases
    from sim.experiments.experiment import load_experiment

    experiment = load_experiment(ROOT / "experiments" / "calibrate_atop.yaml")
    cases = load_cases(experiment, None)
    assert len(cases) == len(list(SHIPPED.glob("atop_*.obs.yaml")))


def test_cli_builds_the_library_from_a_data_folder(tmp_path, monkeypatch, capsys):
    data = synthetic(tmp_path / "data")
    out = tmp_path / "out"
    status, printed, _ = alliance(
        monkeypatch, capsys, "library", "build", "--out", out, "--data", data,
        "--experiment", tmp_path / "exp" / "pool.yaml",
    )  # fmt: skip
    assert status == 0
    assert "1 alliances built (3 founding members, 1 leavers" in " ".join(printed.split())
    assert sorted(p.name for p in out.iterdir()) == ["atop_1.obs.yaml", "atop_1.yaml", "index.csv"]
    spec = yaml.safe_load((tmp_path / "exp" / "pool.yaml").read_text())
    assert spec["cases"] == [
        {"scenario": "../out/atop_1.yaml", "observations": "../out/atop_1.obs.yaml"}
    ]
