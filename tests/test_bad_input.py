"""Every malformed scenario or bad argument gives ONE line on stderr naming the file, the line or
field and what was expected, exit status 2, no traceback and nothing written to --out.

Each case runs `alliance run BAD --out DIR` in a fresh process; the processes run a few at a time
(~6 s in all on two cores).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from model_helpers import DATA, add_events, run_cli, variant

QUIET = DATA / "quiet.yaml"


@dataclass(frozen=True)
class Case:
    """A bad scenario: how to make it from quiet.yaml and what its error line must say."""

    make: Callable[[Path], Path]
    expected: tuple[str, ...]  # phrases the one line must contain, e.g. "line 9", "members[1]"


def _text(replace: str, by: str) -> Callable[[Path], Path]:
    """A copy of quiet.yaml with one piece of text replaced (to keep line numbers known)."""

    def make(folder: Path) -> Path:
        text = QUIET.read_text(encoding="utf-8")
        assert replace in text, replace
        path = folder / "bad.yaml"
        path.write_text(text.replace(replace, by, 1), encoding="utf-8")
        return path

    return make


def _raw(content: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "bad.yaml"
        path.write_bytes(content)
        return path

    return make


def _edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    return lambda folder: variant(folder, edit, name="bad.yaml")


def _events(*events: dict[str, Any]) -> Callable[[Path], Path]:
    return _edit(add_events(*events))


CRISIS = {"date": "2030-05", "kind": "crisis", "requester": "Alpha", "opponent": "X"}

# quiet.yaml: lines 8-10 start, history_end, end; 11 `patron:`, 13 its `capacity:`, 14 the value;
# 18 Alpha's trust; 25 Beta's name.
CASES: dict[str, Case] = {
    "bad YAML": Case(_text("name: quiet", "name: [quiet"), ("line ", "invalid YAML", "expected")),
    "tab indentation": Case(_text("  name: Patron", "\tname: Patron"), ("line 12", "invalid YAML")),
    "unknown field": Case(
        _text("  end: 2032-12", "  end: 2032-12\n  finish: 2033-01"),
        ("line 11", "calendar.finish", "unknown field"),
    ),
    "duplicate key": Case(
        _text("  end: 2032-12", "  end: 2032-12\n  end: 2033-01"),
        ("line 11", "calendar.end", "duplicate key"),
    ),
    "wrong type": Case(
        _text("    value: 0.5", "    value: half"), ("line 14", "patron.capacity.value", "number")
    ),
    "value out of range": Case(
        _text("    value: 0.5", "    value: 1.5"),
        ("line 14", "patron.capacity.value", "less than or equal to 1"),
    ),
    "member value out of range": Case(
        _text("trust: {value: 0.6", "trust: {value: -0.1"),
        ("line 18", "members[0].trust.value", "greater than or equal to 0"),
    ),
    "mapping expected": Case(
        _text('  capacity:\n    value: 0.5\n    source: "test value"', "  capacity: 0.5"),
        ("line 13", "patron.capacity", "expected a mapping with fields value, source"),
    ),
    "missing field": Case(
        _text("  name: Patron\n", ""), ("line 11", "patron.name", "required field is missing")
    ),
    "unknown member in an event": Case(
        _events({**CRISIS, "requester": "Delta", "response": "model"}),
        ("events[0].requester", "unknown member 'Delta'", "expected one of Alpha, Beta, Gamma"),
    ),
    "unknown event kind": Case(
        _events({"date": "2030-05", "kind": "coup", "member": "Alpha"}),
        ("events[0].kind", "unknown kind 'coup'", "expected one of"),
    ),
    "bad response": Case(
        _events({**CRISIS, "response": "maybe"}),
        ("events[0].response", "'answered', 'unanswered' or 'model'"),
    ),
    "event outside the calendar": Case(
        _events({**CRISIS, "date": "2033-02-01", "response": "model"}),
        ("events[0].date", "outside the calendar", "expected a month from 2030-01 to 2032-12"),
    ),
    "malformed date": Case(
        _text("  start: 2030-01", "  start: 2030-13"),
        ("line 8", "calendar.start", "expected a date as YYYY-MM"),
    ),
    "end before start": Case(
        _text("  end: 2032-12", "  end: 2029-12"),
        ("line 10", "calendar.end", "end is before start; expected a later month"),
    ),
    "history_end outside the calendar": Case(
        _text("  history_end: 2030-12", "  history_end: 2033-12"),
        ("line 9", "calendar.history_end", "expected a month from"),
    ),
    "duplicate member names": Case(
        _text("  - name: Beta", "  - name: Alpha"),
        ("line 25", "members[1].name", "duplicate name 'Alpha'", "expected names that differ"),
    ),
    "unknown parameter": Case(
        _edit(lambda d: d.update(parameters={"trust_drif": {"value": 0.1, "source": "x y z"}})),
        ("parameters.trust_drif", "unknown parameter", "expected one of"),
    ),
    "parameter out of its range": Case(
        _edit(lambda d: d.update(parameters={"trust_drift": {"value": 0.5, "source": "x y z"}})),
        ("parameters.trust_drift.value", "expected a value in [0.0, 0.1]"),
    ),
    "drain_end of an unknown drain": Case(
        _events({"date": "2030-05", "kind": "drain_end", "drain": "war"}),
        ("events[0].drain", "unknown drain id"),
    ),
    "join of an unknown member": Case(
        _events({"date": "2030-05", "kind": "join", "member": "Zeta"}),
        ("events[0].member", "unknown member 'Zeta'"),
    ),
    "two joins of one member": Case(
        _events(
            {"date": "2030-05", "kind": "join", "member": "Alpha"},
            {"date": "2030-07", "kind": "join", "member": "Alpha"},
        ),
        ("events[1].member", "has a join already", "expected at most one per member"),
    ),
    "exclusion before the join": Case(
        _events(
            {"date": "2030-05", "kind": "join", "member": "Alpha"},
            {"date": "2030-03", "kind": "exclusion", "member": "Alpha"},
        ),
        ("events[1].date", "excluded before it joins", "expected a date after its join"),
    ),
    "request before the member joins": Case(
        _events(
            {"date": "2030-05", "kind": "join", "member": "Alpha"},
            {**CRISIS, "date": "2030-03", "response": "model"},
        ),
        ("events[1].date", "Alpha is not in the alliance then", "from its join (2030-05)"),
    ),
    "rebuke after the member's exclusion": Case(
        _events(
            {"date": "2030-05", "kind": "exclusion", "member": "Beta"},
            {"date": "2030-06", "kind": "rebuke", "member": "Beta"},
        ),
        ("events[1].date", "Beta is not in the alliance then", "before its exclusion (2030-05)"),
    ),
    "patron backing an opponent with a bad severity": Case(
        _events(
            {
                "date": "2030-05",
                "kind": "patron_backs_opponent",
                "member": "Alpha",
                "opponent": "X",
                "severity": 5,
            }
        ),  # fmt: skip
        ("events[0].severity", "less than or equal to 3"),
    ),
    "patron force against an unknown member": Case(
        _events({"date": "2030-05", "kind": "patron_force", "member": "Zeta"}),
        ("events[0].member", "unknown member 'Zeta'"),
    ),
    "notice taken back without a notice period": Case(
        _events({"date": "2030-05", "kind": "notice_withdrawn", "member": "Alpha"}),
        ("events[0].kind", "notice_months above 0"),
    ),
    "notice taken back to withdrawn": Case(
        _events(
            {
                "date": "2030-05",
                "kind": "notice_withdrawn",
                "member": "Alpha",
                "status": "withdrawn",
            }
        ),  # fmt: skip
        ("events[0].status", "Input should be 'active', 'disengaged' or 'frozen'"),
    ),
    "help answered by an unknown member": Case(
        _events(
            {
                "date": "2030-05",
                "kind": "help_request",
                "response": "history",
                "answered_by": ["Alpha", "Zeta"],
            }
        ),  # fmt: skip
        ("events[0].answered_by[1]", "unknown member 'Zeta'"),
    ),
    "help request without a response": Case(
        _events({"date": "2030-05", "kind": "help_request", "answered_by": ["Alpha"]}),
        ("events[0].response", "required field is missing"),
    ),
    "help request with an unknown response": Case(
        _events({"date": "2030-05", "kind": "help_request", "response": "members"}),
        ("events[0].response", "Input should be 'history' or 'model'"),
    ),
    "help the model decides, with history's answers": Case(
        _events(
            {
                "date": "2030-05",
                "kind": "help_request",
                "response": "model",
                "answered_by": ["Alpha"],
            }
        ),  # fmt: skip
        ("events[0].answered_by", "expected no answered_by with response: model"),
    ),
    "alliance value out of range": Case(
        _edit(lambda d: d["members"][0].update(alliance_value={"value": 1.5, "source": "x y"})),
        ("members[0].alliance_value.value", "less than or equal to 1"),
    ),
    "not a mapping": Case(_raw(b"- one\n- two\n"), ("line 1", "expected a YAML mapping")),
    "empty file": Case(_raw(b""), ("file is empty", "expected a YAML mapping")),
    "comments only": Case(_raw(b"# nothing here\n"), ("file is empty",)),
    "not UTF-8 text": Case(_raw(b"name: \xff\xfe\n"), ("cannot be read as UTF-8",)),
    "missing file": Case(lambda folder: folder / "absent.yaml", ("file not found", "expected")),
    "a directory": Case(lambda folder: folder, ("is a directory", "expected a YAML file")),
}


def _run_case(folder: Path, case: Case) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    path = case.make(folder)
    out = folder / "out"
    return path, out, run_cli("run", path, "--seed", "1", "--out", out)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every case once, a few processes at a time."""
    folders = {name: tmp_path_factory.mktemp("case") for name in CASES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_run_case, folders[name], c) for name, c in CASES.items()}
    return {name: future.result() for name, future in futures.items()}


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *phrases: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_scenario_gives_one_line_and_writes_nothing(results, name):
    path, out, result = results[name]
    line = _assert_one_line_error(result, *CASES[name].expected)
    assert line.startswith(f"error: {path}"), line
    assert not out.exists(), "nothing may be written for bad input"
    assert not list(out.parent.glob(".out.*")), "no staging leftovers"


def test_validate_lists_every_problem_one_per_line(tmp_path):
    def schema_errors(data):
        data["members"][2]["trust"]["value"] = 2
        data["members"][0]["threat"]["value"] = "high"

    def name_errors(data):
        data["members"][1]["name"] = "Alpha"
        add_events({**CRISIS, "requester": "Zeta", "response": "model"})(data)

    for edit, fields in (
        (schema_errors, ["members[0].threat.value", "members[2].trust.value"]),
        (name_errors, ["members[1].name", "events[0].requester"]),
    ):
        path = variant(tmp_path, edit, name="bad.yaml")
        result = run_cli("validate", path)
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert len(lines) == len(fields), lines
        for line, field in zip(lines, fields, strict=True):
            assert line.startswith(f"{path}: line ") and field in line, line


BAD_ARGUMENTS = {
    "negative seed": (["run", DATA / "quiet.yaml", "--out", "{out}", "--seed", "-1"], "--seed"),
    "seed not a number": (["run", DATA / "quiet.yaml", "--out", "{out}", "--seed", "x"], "--seed"),
    "missing --out": (["run", DATA / "quiet.yaml"], "--out"),
    "unknown option": (["run", DATA / "quiet.yaml", "--out", "{out}", "--bogus"], "--bogus"),
    "unknown command": (["runn"], "No such command"),
    "missing scenario": (["validate"], "Missing argument"),
    "extra argument": (["validate", DATA / "quiet.yaml", "more"], "unexpected extra argument"),
    "--out is a file": (["run", DATA / "quiet.yaml", "--out", "{file}"], "not a directory"),
}


@pytest.mark.parametrize("name", list(BAD_ARGUMENTS))
def test_bad_arguments_give_one_line_and_exit_status_2(tmp_path, name):
    args, phrase = BAD_ARGUMENTS[name]
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    out = tmp_path / "out"
    args = [str(a).format(out=out, file=afile) for a in args]
    line = _assert_one_line_error(run_cli(*args), phrase)
    assert line.startswith("error: ")
    assert not out.exists()
    assert afile.read_text() == "keep me"
