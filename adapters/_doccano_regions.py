"""One doccano row → its data, regions and comments.

The row's keys say what it holds (doccano renames its columns per project type):
`label` (categories, free texts, or `[start, end, label]` span triples), `cats` (intent
categories), `entities` (span triples, or `{id, label, start_offset, end_offset}` objects when
relations are on), `relations` (`{id, from_id, to_id, type}`), `bbox` (`{uuid, x, y, width,
height, label}` in pixels), `segmentation` (`{uuid, points: [x1, y1, x2, y2, ...], label}`).
A region's field is that key, so a preset binds it by kind and a mapping by the name the
export uses; `target` is the data key the region is about (`text` or `filename`).

Categories and free texts are both lists of strings: which one a `label` column is cannot be
seen in a row, so the caller decides once per export (`label_kind`). Every other key that is
not `id` or `Comments` is data: the task's input (`text`/`filename`) and the imported meta.
Problems (a span outside the text, a malformed box) are collected with file, line and field,
never raised: the record is still yielded and `convert` rejects it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from jsonl_bridge.records import Box, Choice, Polygon, Region, Relation, Span, Text

from ._common import to_id, to_number
from ._doccano_offsets import OffsetError, OffsetUnit, TextOffsets
from ._doccano_rows import Row

LabelKind = Literal["choice", "text"]
LABEL_KEYS = ("label", "cats", "entities", "relations", "bbox", "segmentation")
OWN_KEYS = frozenset({"id", "Comments", *LABEL_KEYS})
"""Keys that are doccano's own; every other key of a row is data."""


@dataclass(frozen=True)
class Settings:
    """How to read what a row cannot say about itself."""

    offsets: OffsetUnit
    label_kind: LabelKind


@dataclass
class RowContent:
    """What one file says about one example."""

    data: dict[str, Any]
    data_key: str | None
    regions: list[Region] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_row(row: Row, settings: Settings) -> RowContent:
    """The data, regions, comments and problems of one row."""
    values = row.values
    data = {key: value for key, value in values.items() if key not in OWN_KEYS}
    data_key = next((key for key in ("text", "filename") if isinstance(data.get(key), str)), None)
    content = RowContent(data, data_key)
    if data_key is None:
        content.problems.append(f"{row.where()}: the row has no 'text' or 'filename' string")
    reader = _RegionReader(row, content, settings)
    for key in LABEL_KEYS:
        if key in values:
            reader.read(key, values[key])
    content.comments = _comments(row, values.get("Comments"), content.problems)
    return content


class _RegionReader:
    """Turns the label lists of one row into regions, noting what is malformed."""

    def __init__(self, row: Row, content: RowContent, settings: Settings):
        self.row, self.content, self.settings = row, content, settings
        self._offsets: TextOffsets | None = None

    def read(self, key: str, value: Any) -> None:
        if not isinstance(value, list):
            self._problem(key, f"expected a list, got {type(value).__name__}")
            return
        if not value:
            return  # doccano writes [] for "this user did not label it"
        if key in ("label", "cats") and all(isinstance(item, str) for item in value):
            self._strings(key, value)
            return
        readers: dict[str, Callable[[str, Any], Region]] = {
            "label": self._span,
            "entities": self._span,
            "relations": self._relation,
            "bbox": self._box,
            "segmentation": self._polygon,
        }
        read_item = readers.get(key)
        for index, item in enumerate(value):
            where = f"{key}[{index}]"
            try:
                if read_item is None:
                    raise ValueError("expected a category name")
                self.content.regions.append(read_item(key, item))
            except KeyError as exc:
                self._problem(where, f"missing {exc.args[0]!r}")
            except (ValueError, TypeError) as exc:
                self._problem(where, str(exc))
        if key == "relations":
            self._check_relations()

    def _strings(self, key: str, labels: list[str]) -> None:
        target = self.content.data_key
        if key == "label" and self.settings.label_kind == "text":
            self.content.regions.extend(Text(field=key, value=v, target=target) for v in labels)
        else:
            self.content.regions.append(Choice(field=key, labels=labels, target=target))

    def _span(self, key: str, item: Any) -> Span:
        if isinstance(item, list) and len(item) == 3:
            start, end, label, ident = item[0], item[1], item[2], None
        elif isinstance(item, dict):
            start, end = item["start_offset"], item["end_offset"]
            label, ident = item["label"], to_id(item.get("id"))
        else:
            raise ValueError("expected [start, end, label] or {start_offset, end_offset, label}")
        if not all(type(offset) is int for offset in (start, end)):
            raise ValueError(f"offsets must be integers, got {start!r} and {end!r}")
        text = self.content.data.get("text")
        if not isinstance(text, str):
            raise ValueError("a span needs the row's 'text'")
        if self._offsets is None:
            self._offsets = TextOffsets(text, self.settings.offsets)
        try:
            first, last = self._offsets.span(start, end)
        except OffsetError as exc:
            raise ValueError(str(exc)) from exc
        return Span(
            field=key,
            id=ident,
            target="text",
            start=first,
            end=last,
            text=text[first:last],
            label=_label(label),
        )

    def _relation(self, key: str, item: Any) -> Relation:
        if not isinstance(item, dict):
            raise ValueError("expected {id, from_id, to_id, type}")
        ends = to_id(item["from_id"]), to_id(item["to_id"])
        if ends[0] is None or ends[1] is None:
            raise ValueError("from_id and to_id are required")
        return Relation(
            field=key,
            id=to_id(item.get("id")),
            from_id=ends[0],
            to_id=ends[1],
            labels=[_label(item["type"])],
        )

    def _check_relations(self) -> None:
        spans = {r.id for r in self.content.regions if isinstance(r, Span) and r.id}
        for region in self.content.regions:
            if isinstance(region, Relation):
                missing = [end for end in (region.from_id, region.to_id) if end not in spans]
                if missing:
                    where = f"relations (id {region.id})"
                    self._problem(where, f"no entity with id {', '.join(missing)} in this row")

    def _box(self, key: str, item: Any) -> Box:
        if not isinstance(item, dict):
            raise ValueError("expected {x, y, width, height, label}")
        x, y, w, h = (to_number(item[name]) for name in ("x", "y", "width", "height"))
        if x is None or y is None or w is None or h is None:
            raise ValueError("x, y, width and height must be numbers")
        if w < 0 or h < 0:
            raise ValueError(f"negative size {w} x {h}")
        label = _label(item["label"])
        ident = to_id(item.get("uuid"))
        return Box(field=key, id=ident, target="filename", label=label, x=x, y=y, w=w, h=h)

    def _polygon(self, key: str, item: Any) -> Polygon:
        if not isinstance(item, dict):
            raise ValueError("expected {points, label}")
        flat = [to_number(value) for value in item["points"]]
        if len(flat) < 6 or len(flat) % 2 or any(value is None for value in flat):
            raise ValueError("points must be a flat list of at least 3 x, y number pairs")
        coords = [float(value) for value in flat if value is not None]
        points = list(zip(coords[0::2], coords[1::2], strict=True))
        label = _label(item["label"])
        return Polygon(
            field=key, id=to_id(item.get("uuid")), target="filename", label=label, points=points
        )

    def _problem(self, where: str, message: str) -> None:
        self.content.problems.append(f"{self.row.where()}: {where}: {message}")


def _label(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"a label must be a non-empty string, got {value!r}")
    return value


def _comments(row: Row, value: Any, problems: list[str]) -> list[dict[str, Any]]:
    """Comments as `{"text", "id"?}`: doccano writes strings or `{id, comment}` objects."""
    if value is None or value == []:
        return []
    if not isinstance(value, list):
        problems.append(f"{row.where()}: Comments: expected a list")
        return []
    comments: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            comments.append({"text": item})
        elif isinstance(item, dict) and isinstance(item.get("comment"), str):
            ident = to_id(item.get("id"))
            comments.append({"text": item["comment"], **({"id": ident} if ident else {})})
        else:
            problems.append(
                f"{row.where()}: Comments[{index}]: expected a string or {{id, comment}}"
            )
    return comments
