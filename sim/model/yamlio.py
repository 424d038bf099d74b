"""Safe YAML loading that remembers the line of every field, so errors can name it.

The one loader of every file the program reads (scenario, experiment and observation files).
Only a safe loader is used (`yaml.CSafeLoader`, libyaml's parser, ten times faster than PyYAML's
own, where PyYAML has it; `yaml.SafeLoader` otherwise): no tag in a file can construct Python
objects or run code.
Dates stay text (the timestamp resolver is left out), so that the project's own month parser
(`sim.model.schema.parse_month`) judges them and names the field. What a file expands to is
capped (MAX_NODES values, aliases counted each time they are used) and an alias inside itself is
refused, so an alias bomb or a loop gets one line instead of exhausting memory or the stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from sim.model.errors import InputError

Location = tuple[str | int, ...]
MAX_NODES = 200_000  # values a file may expand to, aliases included (a scenario has ~2,000)
TIMESTAMP = "tag:yaml.org,2002:timestamp"
TOO_DEEP = "invalid YAML: nested too deeply; expected a plain file"


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same nodes, marks and errors


class TextDatesLoader(SAFE_LOADER):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader, except that an unquoted date stays a string."""


TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _refuse_control_characters(text: str, name: str) -> None:
    """Refuse a character YAML does not allow in a file (NUL, bell, ...), naming its line."""
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise InputError(
            name,
            f"line {line}",
            f"control character U+{ord(found.group()):04X} in the file; expected printable text",
        )


def load_yaml(path: str | Path) -> tuple[Any, dict[Location, int]]:
    """Read a YAML file safely; return its data and a map from field path to 1-based line."""
    name = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(name, "", "file not found; expected a path to an existing YAML file")
    if p.is_dir():
        raise InputError(name, "", "is a directory; expected a YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            name, "", f"cannot be read as UTF-8 text ({exc.__class__.__name__})"
        ) from None
    _refuse_control_characters(text, name)
    loader = TextDatesLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_expansion(node, name)
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):  # libyaml's limit, where PyYAML recurses
            raise InputError(name, "", TOO_DEEP) from None
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}" if mark else ""
        problem = (exc.problem or exc.context or "syntax error").strip()
        raise InputError(name, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(name, "", f"invalid YAML: {exc}") from None
    except RecursionError:
        raise InputError(name, "", TOO_DEEP) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(name, "", f"invalid YAML value ({exc})") from None
    finally:
        loader.dispose()
    if node is None or data is None:
        raise InputError(name, "", "file is empty; expected a YAML mapping")
    lines: dict[Location, int] = {}
    duplicates: list[tuple[Location, int]] = []
    try:
        _record_lines(node, (), lines, duplicates)
    except RecursionError:
        raise InputError(name, "", TOO_DEEP) from None
    if duplicates:
        errors = [
            located(name, loc, {loc: line}, "duplicate key; each key may appear only once")
            for loc, line in duplicates
        ]
        raise combined(errors)
    return data, lines


def check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse a document that refers to itself or expands to more than MAX_NODES values.

    Walks the node graph as the file expands (an alias counted each time it is used), without
    recursion, keeping the nodes on the current path to recognise a loop.
    """
    count = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            continue
        if id(node) in on_path:
            line = node.start_mark.line + 1
            raise InputError(
                name,
                f"line {line}",
                "an alias refers to the value that contains it (a loop); "
                "expected a value that ends",
            )
        count += 1
        if count > MAX_NODES:
            raise InputError(
                name,
                "",
                f"expands to more than {MAX_NODES:,} values (aliases used within aliases?); "
                "expected a plain scenario, experiment or observation file",
            )
        if isinstance(node, yaml.ScalarNode):
            continue
        on_path.add(id(node))
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            stack.extend((part, False) for pair in node.value for part in pair)
        else:
            stack.extend((item, False) for item in node.value)


def _record_lines(
    node: yaml.Node,
    path: Location,
    lines: dict[Location, int],
    duplicates: list[tuple[Location, int]],
) -> None:
    """Record the line of every field path; note keys repeated in one mapping (YAML keeps the
    last silently, which would hide a typo or a pasted block)."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen and key.value != "<<":
                    duplicates.append(((*path, key.value), key.start_mark.line + 1))
                seen.add(key.value)
                _record_lines(value, (*path, key.value), lines, duplicates)
                # a field's line is its key's, not the first line of its value
                lines[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_lines(item, (*path, i), lines, duplicates)


def field_path(
    loc: Sequence[str | int], lines: dict[Location, int], tags: frozenset[str] = frozenset()
) -> tuple[str, int | None]:
    """Render a pydantic/semantic location as `events[3].requester` and find its line.

    Pydantic puts a union's tag (a name in `tags`, e.g. an event's kind) right after the union's
    location; it is skipped, but a field that happens to share a tag's name and follows it
    (`events[0].drain` of a drain_end event) is kept. `function-after[...]` steps are skipped.
    """
    kept: list[str | int] = []
    after_tag = False
    for part in loc:
        if isinstance(part, str) and "[" in part:
            continue
        if isinstance(part, str) and part in tags and not after_tag:
            after_tag = True
            continue
        after_tag = False
        kept.append(part)
    text = ""
    for part in kept:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    line = next(
        (lines[tuple(kept[:n])] for n in range(len(kept), -1, -1) if tuple(kept[:n]) in lines), None
    )
    return text, line


def located(
    file: str,
    loc: Sequence[str | int],
    lines: dict[Location, int],
    msg: str,
    tags: frozenset[str] = frozenset(),
) -> InputError:
    """An InputError for a field, naming its line and path."""
    path, line = field_path(loc, lines, tags)
    where = ", ".join(x for x in (f"line {line}" if line else "", path) if x)
    return InputError(file, where, msg)


def validate_model[M: BaseModel](
    model: type[M],
    data: Any,
    file: str,
    lines: dict[Location, int],
    tags: frozenset[str] = frozenset(),
) -> M:
    """Validate data against a pydantic model; raise one InputError listing every problem."""
    if not isinstance(data, dict):
        raise InputError(file, "line 1", f"expected a YAML mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = _fields_by_model(model)
        errors = [
            located(file, _where(e), lines, _explain(e, fields, tags), tags) for e in exc.errors()
        ]
        raise combined(errors) from None


def combined(errors: list[InputError]) -> InputError:
    """One error to raise for several problems: the first, carrying the rest."""
    first = errors[0]
    return InputError(first.file, first.where, first.message, errors[1:])


def _fields_by_model(root: type[BaseModel]) -> dict[str, list[str]]:
    """Field names of every pydantic model reachable from `root`, by class name."""
    found: dict[str, list[str]] = {}
    stack: list[Any] = [root]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                continue
            found[tp.__name__] = list(tp.model_fields)
            stack.extend(f.annotation for f in tp.model_fields.values())
        else:
            stack.extend(get_args(tp))
    return found


def _where(error: dict[str, Any]) -> tuple[str | int, ...]:
    """Point a discriminated-union error at the discriminator field itself (e.g. `kind`)."""
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return (*error["loc"], error["ctx"]["discriminator"].strip("'"))
    return tuple(error["loc"])


def _explain(
    error: dict[str, Any], fields: dict[str, list[str]], tags: frozenset[str] = frozenset()
) -> str:
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against the documented format"
    if kind == "missing":
        return "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = ctx.get("expected_tags", "").replace("'", "") or ", ".join(sorted(tags))
        one_of = f"; expected one of {expected}" if expected else ""
        if kind == "union_tag_not_found":
            return f"required field is missing{one_of}"
        return f"unknown kind {ctx.get('tag')!r}{one_of}"
    if kind == "model_type" and ctx.get("class_name") in fields:
        names = ", ".join(fields[ctx["class_name"]])
        return f"expected a mapping with fields {names} (got {_short(got)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of fields (got {_short(got)})"
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if got is not None and not isinstance(got, dict | list):
        return f"{msg} (got {got!r})"
    return msg


def _short(value: Any, limit: int = 60) -> str:
    """A value's repr, cut to fit in a one-line error."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
