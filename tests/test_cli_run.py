"""`alliance run` writes the documented tables, reproducibly, and every command's --help explains
every option. Runs the real command line in subprocesses (~8 s in all)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import typer
from model_helpers import DATA, SCENARIOS, run_cli

from sim.cli.main import app

MONTHLY_COLUMNS = [
    "date",
    "actor",
    "role",
    "trust",
    "capacity",
    "threat",
    "dependence",
    "outside_options",
    "domestic_pressure",
    "leverage",
    "balance",
    "status",
]
EVENT_COLUMNS = ["date", "event", "actor", "detail", "answered", "decided_by"]
FILES = ("monthly.parquet", "monthly.csv", "events.parquet", "events.csv")
CSTO = SCENARIOS / "csto_2022.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The CSTO scenario run three times: seed 2 twice and seed 3 once (in both, every member
    is still in the alliance when history's requests of 2022-09 come)."""
    root = tmp_path_factory.mktemp("runs")
    seeds = {"a": 2, "b": 2, "c": 3}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(run_cli, "run", CSTO, "--seed", str(seed), "--out", root / name)
            for name, seed in seeds.items()
        }
    return {name: (root / name, future.result()) for name, future in futures.items()}


def test_run_writes_monthly_and_event_tables_with_documented_columns(runs):
    out, result = runs["a"]
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    monthly = pd.read_parquet(out / "monthly.parquet")
    assert list(monthly.columns) == MONTHLY_COLUMNS
    members = ["Armenia", "Belarus", "Kazakhstan", "Kyrgyzstan", "Tajikistan"]
    dates = sorted(monthly["date"].unique())
    assert dates[0] == "2020-01" and dates[-1] == "2030-12" and len(dates) == 132
    assert len(monthly) == 132 * (len(members) + 1)
    assert set(monthly.loc[monthly["role"] == "member", "actor"]) == set(members)
    patron = monthly[monthly["role"] == "patron"]
    assert set(patron["actor"]) == {"Russia"} and patron["trust"].isna().all()
    assert patron["leverage"].between(0, 1).all()
    assert monthly.loc[monthly["role"] == "member", "leverage"].isna().all()
    member_rows = monthly[monthly["role"] == "member"]
    assert member_rows["trust"].between(0, 1).all()
    assert set(member_rows["status"]) <= {"active", "disengaged", "frozen", "withdrawn"}
    assert monthly["capacity"].between(0, 1).all()
    events = pd.read_parquet(out / "events.parquet")
    assert list(events.columns) == EVENT_COLUMNS
    sept = events[(events["date"] == "2022-09") & (events["event"] == "request")]
    assert set(sept["actor"]) == {"Armenia", "Kyrgyzstan", "Tajikistan"}
    assert sept["answered"].eq(False).all()


def test_csv_and_parquet_hold_the_same_table(runs):
    out, _ = runs["a"]
    for name in ("monthly", "events"):
        parquet = pd.read_parquet(out / f"{name}.parquet")
        csv = pd.read_csv(out / f"{name}.csv", keep_default_na=True)
        assert list(csv.columns) == list(parquet.columns)
        assert len(csv) == len(parquet)
        pd.testing.assert_series_equal(csv["date"], parquet["date"])
        numeric = parquet.select_dtypes("number").columns
        pd.testing.assert_frame_equal(csv[numeric], parquet[numeric], check_dtype=False)


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(runs):
    (a, ra), (b, rb), (c, rc) = runs["a"], runs["b"], runs["c"]
    assert ra.returncode == rb.returncode == rc.returncode == 0
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "monthly.csv").read_bytes() != (c / "monthly.csv").read_bytes()


def test_run_prints_a_summary(runs):
    out, result = runs["a"]
    text = result.stdout
    assert "csto_2022, seed 2" in text
    for member in ("Armenia", "Belarus", "Kazakhstan", "Kyrgyzstan", "Tajikistan"):
        assert member in text
    assert "Russia capacity at the end" in text
    assert re.search(r"requests: \d+, answered \d+", text)
    assert "Tables written to" in text
    assert result.stderr == ""


def test_validate_reports_ok_for_a_good_file():
    result = run_cli("validate", DATA / "busy.yaml")
    assert result.returncode == 0
    assert "ok (3 members, 36 months, 5 events, history to 2030-06)" in result.stdout


def _commands() -> dict[str, object]:
    group = typer.main.get_command(app)
    return dict(group.commands)


def _words(text: str) -> str:
    """Help text with box drawing and line breaks flattened, to search for phrases."""
    return " ".join(re.sub(r"[│╭╮╰╯─┌┐└┘|]", " ", text).split())


def test_main_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for name in _commands():
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_of_every_command_explains_every_option(name):
    command = _commands()[name]
    result = run_cli(name, "--help")
    assert result.returncode == 0, result.stderr
    text = _words(result.stdout)
    assert command.help, f"{name} has no description"
    for param in command.params:
        if param.name == "help":
            continue
        is_option = param.param_type_name == "option"
        flag = max(param.opts, key=len) if is_option else param.name
        assert flag in text, f"{name}: {flag} not in --help"
        helptext = getattr(param, "help", None)
        assert helptext, f"{name}: {flag} has no help text"
        start = " ".join(helptext.split()[:4])
        assert start in text, f"{name}: help of {flag} not shown"
