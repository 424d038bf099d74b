"""Rendering the report's pages: the Jinja2 templates, how a value is shown, inline figures.

Every page of `alliance report` (a batch's in `sim.report.html`, a scored run's in
`sim.report.scores`) is rendered here from `sim/report/templates/`, which escape every value.
"""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import matplotlib as mpl
from markupsafe import Markup
from matplotlib.figure import Figure

from sim.model.shipped import KINDS, PACKAGE, shipped_root
from sim.plots.style import RC


def render(template: str, **values: Any) -> str:
    """The named template of sim/report/templates filled with `values`."""
    return _environment().get_template(template).render(**values)


@cache
def _environment() -> jinja2.Environment:
    """The templates in sim/report/templates, escaping every value unless marked as markup."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sim.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=_shown,
    )
    environment.filters["thousands"] = lambda number: f"{number:,}"
    return environment


_PATH = re.compile(r"(?<![\w/.])(?:[\w.-]+/)+[\w.-]+\.(?:md|txt|yaml|yml|csv|json|py)\b")


def _shown(value: Any) -> Any:
    """A value as the page shows it: None as nothing, and in text every file path a reader of
    the installed program cannot open (not in the package, not on this machine) as its name
    marked "not shipped" (scenario sources cite the project's notes and docs)."""
    if value is None:
        return ""
    if not isinstance(value, str) or isinstance(value, Markup):
        return value
    return _PATH.sub(_shipped_or_named, value)


def _shipped_or_named(match: re.Match[str]) -> str:
    path = match.group(0)  # relative: an absolute path (provenance) is never matched
    relative = Path(path.split("../")[-1])
    head, rest = relative.parts[0], Path(*relative.parts[1:]) if len(relative.parts) > 1 else None
    candidates = [PACKAGE.parent / relative] if head == PACKAGE.name else []
    for kind in KINDS:
        root = shipped_root(kind)
        if root is not None:
            candidates += [root / relative] + ([root / rest] if head == kind and rest else [])
    if any(candidate.exists() for candidate in candidates):
        return path
    return f"{relative.name} (not shipped with the program)"


_XML_HEADER = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def inline_svg(fig: Figure) -> str:
    """The figure as an <svg> element to place in HTML: no XML header, metadata or namespace
    URIs (HTML's parser knows SVG and xlink without them), text drawn as paths."""
    buffer = io.StringIO()
    with mpl.rc_context(RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = _METADATA.sub("", _XML_HEADER.sub("", svg))
    return _NAMESPACES.sub("", svg).strip()
