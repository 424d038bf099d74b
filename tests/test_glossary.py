"""docs/glossary.md defines every term a reader meets in the output (the list of issue 21, and
the words the console prints in its headers and notes)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"
TERMS = (
    "run", "lane", "draw", "chunk", "block", "seed", "common random numbers", "imposed",
    "conditioned", "effective sample size", "sd/prior", "quasi-p", "censored", "first passage",
    "Monte Carlo error", "paired interval", "posterior", "prior", "fold", "Brier score",
    "log score", "reference forecasters", "skill", "percentage points", "reliability diagram",
    "Sobol indices", "coverage", "density", "manifest", "horizon", "spread over the parameters",
    "calibration intercept", "calibration slope", "AUC", "out of sample",
)  # fmt: skip


def defined_terms(text: str) -> set[str]:
    """The terms the glossary defines: those in bold."""
    return {t.lower() for t in re.findall(r"\*\*([^*]+)\*\*", text)}


def test_every_term_a_reader_meets_is_defined():
    defined = defined_terms(GLOSSARY.read_text(encoding="utf-8"))
    missing = [t for t in TERMS if t.lower() not in defined]
    assert not missing, f"docs/glossary.md does not define {missing}"


def test_the_readme_points_to_the_glossary():
    assert "docs/glossary.md" in (ROOT / "README.md").read_text(encoding="utf-8")
