"""YAML → plain data plus the source position of every key, so errors can say `file:line:col`.

Shaped like dagster's source-position tree: compose the node graph once, record each key's
mark by its path (`("labels", "unknown")`, `("user", 1, "image")`), then construct the
Python value from the same nodes. The timestamp resolver is dropped so that a date-looking
string stays a string (templates and labels are text, never datetimes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from jsonl_bridge.errors import MappingError

KeyPath = tuple[str | int, ...]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class PositionLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver (dates stay strings)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class-level registry)
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


@dataclass(frozen=True)
class Position:
    """Where a key (or list item) is written. Lines and columns are 1-based."""

    file: str
    line: int
    column: int
    value_line: int
    block: bool = False
    """The value is a block scalar (`|` or `>`): its text starts on the line after."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def template_line(self, lineno: int | None) -> int:
        """The file line of line `lineno` (1-based) of the template written at this key."""
        if not lineno:
            return self.line
        return self.value_line + (1 if self.block else 0) + lineno - 1


def load_with_positions(text: str, file: str) -> tuple[Any, dict[KeyPath, Position]]:
    """Parse one YAML document; raise one MappingError for syntax errors and duplicate keys."""
    loader = PositionLoader(text)
    try:
        node = loader.get_single_node()
        positions: dict[KeyPath, Position] = {}
        problems: list[str] = []
        if node is not None:
            _walk(node, (), file, positions, problems, set(), node.start_mark)
        if problems:
            raise MappingError(problems)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise MappingError([_marked_problem(exc, file)]) from exc
    except yaml.YAMLError as exc:
        raise MappingError([f"{file}: {exc}"]) from exc
    finally:
        loader.dispose()
    return data, positions


def _walk(
    node: yaml.Node,
    path: KeyPath,
    file: str,
    out: dict[KeyPath, Position],
    problems: list[str],
    visited: set[int],
    holder: yaml.Mark,
) -> None:
    """`holder`: where the key (or list) holding `node` is written. An alias node is the
    anchored node itself, so its own mark would point at the anchor, not at the alias."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if id(node) in visited:  # an alias: a self-reference would recurse, nesting would explode
            at = f"{file}:{holder.line + 1}:{holder.column + 1}"
            problems.append(
                f"{at}: {'.'.join(map(str, path))}: YAML aliases of lists and maps are not "
                "supported in mappings; use `extends:` to share settings"
            )
            return
        visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_path = (*path, key)
            if key in seen:
                where = _position(key_node, value_node, file)
                dotted = ".".join(str(part) for part in key_path)
                problems.append(f"{where}: {dotted}: duplicate key (the last one would win)")
            seen.add(key)
            out[key_path] = _position(key_node, value_node, file)
            _walk(value_node, key_path, file, out, problems, visited, key_node.start_mark)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            item_path = (*path, index)
            out[item_path] = _position(item, item, file)
            _walk(item, item_path, file, out, problems, visited, node.start_mark)


def _position(key_node: yaml.Node, value_node: yaml.Node, file: str) -> Position:
    mark, value_mark = key_node.start_mark, value_node.start_mark
    block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
    return Position(file, mark.line + 1, mark.column + 1, value_mark.line + 1, block)


def _marked_problem(exc: yaml.MarkedYAMLError, file: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
    problem = exc.problem or "invalid YAML"
    context = ""
    if exc.context:
        started = exc.context_mark
        at = f" at line {started.line + 1}" if started and started is not mark else ""
        context = f" ({exc.context}{at})"
    return f"{where}: {problem}{context}"
