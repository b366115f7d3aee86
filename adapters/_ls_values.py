"""Small pieces every Label Studio result reader shares: the error, the context, checked getters.

Label Studio result values are loosely typed JSON; each getter checks one key and raises
`ResultError` with a message that names it, so a bad result becomes one precise problem on its
record instead of a crash (or a silently wrong region).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from ._common import to_number

Sizes = dict[str | None, tuple[int, int]]
"""original_width/height seen per target, for the task's MediaRefs."""


class ResultError(ValueError):
    """A result this adapter cannot read; the message becomes one `Record.problems` entry."""


@dataclass(slots=True)
class Where:
    """What a region inherits from its result: field, id, target, image size, attributes."""

    field: str
    id: str | None = None
    target: str | None = None
    width: float | None = None
    height: float | None = None
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)

    def common(self) -> dict[str, Any]:
        """The keyword arguments every Region takes."""
        return {
            "field": self.field,
            "id": self.id,
            "target": self.target,
            "attributes": self.attributes,
        }


def is_str_list(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def str_list(value: Mapping[str, Any], key: str) -> list[str]:
    found = value.get(key)
    if not is_str_list(found):
        raise ResultError(f"value needs {key!r}: a list of strings")
    return list(found)


def labels_of(value: Mapping[str, Any], key: str) -> list[str]:
    """One region per label; a region whose labels were all removed keeps an empty label."""
    return str_list(value, key) or [""]


def optional_labels(value: Mapping[str, Any]) -> list[str]:
    """Labels of a bare shape (Rectangle without RectangleLabels): usually none."""
    labels = value.get("labels")
    return list(labels) if is_str_list(labels) and labels else [""]


def required_number(value: Mapping[str, Any], key: str) -> float:
    number = to_number(value.get(key))
    if number is None:
        raise ResultError(f"value needs {key!r}: a number")
    return number


def offset(value: Mapping[str, Any], key: str) -> int:
    """A character offset: a non-negative integer (3.0 from a CSV cell is accepted)."""
    raw = value.get(key)
    if type(raw) is int and raw >= 0:
        return raw
    number = to_number(raw)
    if number is None or not number.is_integer() or number < 0:
        raise ResultError(f"span value needs {key!r}: a character offset")
    return int(number)
