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
from ._doccano_notes import Notices
from ._doccano_offsets import OffsetError, OffsetUnit, TextOffsets
from ._doccano_rows import Row

LabelKind = Literal["choice", "text"]
LABEL_KEYS = ("label", "cats", "entities", "relations", "bbox", "segmentation")
OWN_KEYS = frozenset({"id", "Comments", *LABEL_KEYS})
"""Keys that are doccano's own; every other key of a row is data."""


@dataclass(frozen=True)
class Settings:
    """How to read what a row cannot say about itself, and where to say what the export
    as a whole seems to get wrong."""

    offsets: OffsetUnit
    label_kind: LabelKind
    notices: Notices = field(default_factory=lambda: Notices(quiet=True))


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
        read_item = _ITEM_READERS.get(key)
        regions = self.content.regions
        for index, item in enumerate(value):
            try:
                if read_item is None:
                    raise ValueError("expected a category name")
                regions.append(read_item(self, key, item))
            except KeyError as exc:
                self._problem(f"{key}[{index}]", f"missing {exc.args[0]!r}")
            except (ValueError, TypeError) as exc:
                self._problem(f"{key}[{index}]", str(exc))
        if key == "relations":
            self._check_relations()

    def _strings(self, key: str, labels: list[str]) -> None:
        target = self.content.data_key
        if key == "label" and self.settings.label_kind == "text":
            self.content.regions.extend(
                Text(field=key, value=value, target=target) for value in labels
            )
        else:
            self.content.regions.append(Choice(field=key, labels=labels, target=target))

    def _span(self, key: str, item: Any) -> Span:
        if type(item) is list and len(item) == 3:
            start, end, label, ident = item[0], item[1], item[2], None
        elif isinstance(item, dict):
            start, end = item["start_offset"], item["end_offset"]
            label, ident = item["label"], to_id(item.get("id"))
        else:
            raise ValueError("expected [start, end, label] or {start_offset, end_offset, label}")
        if type(start) is not int or type(end) is not int:
            raise ValueError(f"offsets must be integers, got {start!r} and {end!r}")
        offsets = self._offsets
        if offsets is None:
            text = self.content.data.get("text")
            if not isinstance(text, str):
                raise ValueError("a span needs the row's 'text'")
            offsets = self._offsets = TextOffsets(text, self.settings.offsets)
        try:
            first, last = offsets.span(start, end)
        except OffsetError as exc:
            raise ValueError(str(exc)) from exc
        if offsets.units_differ:
            self._check_unit(key, offsets, start, end)
        if type(label) is not str or not label:
            label = _label(label)  # raises, naming the bad label
        text = offsets.text[first:last]
        return Span(
            field=key, id=ident, target="text", start=first, end=last, text=text, label=label
        )

    def _check_unit(self, key: str, offsets: TextOffsets, start: int, end: int) -> None:
        """Warn (once per export) when the other offset unit reads this span cleanly and
        the chosen one does not: a clear sign of the wrong `offsets` option."""
        other_text = offsets.misread(start, end)
        if other_text is None:
            return
        other = "codepoints" if offsets.unit == "utf16" else "utf16"
        first, last = offsets.span(start, end)
        self.settings.notices.once(
            "offsets",
            f"{self.row.where()}: {key} [{start}, {end}] reads as {offsets.text[first:last]!r} "
            f"in {offsets.unit} offsets but as {other_text!r} in {other}: the export's offsets "
            f"look like {other} (made through the API by a Python client?); "
            f"try `--option offsets={other}`",
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


_ITEM_READERS: dict[str, Callable[[_RegionReader, str, Any], Region]] = {
    "label": _RegionReader._span,
    "entities": _RegionReader._span,
    "relations": _RegionReader._relation,
    "bbox": _RegionReader._box,
    "segmentation": _RegionReader._polygon,
}
"""The reader of one item of each label list (`label` holds spans when not strings)."""


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
