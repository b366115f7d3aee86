"""The boxes of an assistant output, back in pixels of the image they describe.

The preview draws what the model will be trained to answer, read the way its convention
defines it (`geometry.from_convention`, the inverse of what `convert` writes): swapped axes
or a wrong scale then show as boxes in the wrong place, which no check of the numbers alone
can see. The convention comes from the mapping (its `boxes('xyxy')` filter) when one is
given, else from the coordinates' key: `box_2d` is gemini, `bbox_2d` is qwen. A bare `bbox`
may be xyxy, xyxy_norm or xywh: it is not guessed, the mapping has to say.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from jsonl_bridge.geometry import CONVENTIONS, Rect, from_convention

CONVENTION_OF_KEY = {"box_2d": "gemini", "bbox_2d": "qwen"}
"""Keys that name one convention (`bbox` is used by three)."""


@dataclass(frozen=True)
class DrawnBox:
    """One box of an output: its label, and its coordinates as written."""

    label: str
    key: str
    coords: tuple[float, float, float, float]
    convention: str

    def pixels(self, width: int, height: int) -> Rect:
        """(x1, y1, x2, y2) in pixels of a `width` × `height` image, corners in order
        (an inverted box is drawn where its corners are, not refused)."""
        x1, y1, x2, y2 = from_convention(list(self.coords), width, height, self.convention)
        return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


@dataclass(frozen=True)
class OutputBoxes:
    """The drawable boxes of an output, and why the others could not be drawn."""

    boxes: list[DrawnBox]
    problems: list[str]


def boxes_of(output: str, convention: str | None = None) -> OutputBoxes | None:
    """The boxes of a JSON list of `{<coords key>: [4 numbers], "label": ...}` objects;
    None when the output is not such a list (a label, free text).

    `convention`: the mapping's (`gemini`, `xyxy`...), else found from each object's key.
    """
    text = output.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not any(_has_coords(e) for e in value):
        return None
    boxes: list[DrawnBox] = []
    problems: list[str] = []
    for index, entry in enumerate(value):
        drawn = _box(entry, convention) if isinstance(entry, dict) else "not a JSON object"
        if isinstance(drawn, DrawnBox):
            boxes.append(drawn)
        else:
            problems.append(f"box {index}: {drawn}")
    return OutputBoxes(boxes, problems)


def _has_coords(entry: Any) -> bool:
    return isinstance(entry, dict) and any(key in entry for key in CONVENTIONS.values())


def _box(entry: dict[str, Any], convention: str | None) -> DrawnBox | str:
    """The box, or why it cannot be drawn."""
    if convention is not None:
        key = CONVENTIONS[convention]
        if key not in entry:
            return f"no {key} (the mapping's {convention} key)"
    else:
        key = next((k for k in CONVENTIONS.values() if k in entry), "")
        convention = CONVENTION_OF_KEY.get(key)
        if convention is None:
            found = key or "no coordinates"
            return f"{found}: the convention is unknown (xyxy, xyxy_norm or xywh): give --mapping"
    coords = entry[key]
    numbers = isinstance(coords, list) and len(coords) == 4
    if not numbers or not all(_is_number(v) for v in coords):
        return f"{key} is not a list of 4 numbers: {coords!r}"
    label = entry.get("label")
    a, b, c, d = (float(v) for v in coords)
    return DrawnBox(label if isinstance(label, str) else "", key, (a, b, c, d), convention)


def _is_number(value: Any) -> bool:
    """A finite JSON number (Python's json reads `Infinity` and `NaN`, which cannot be drawn)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
