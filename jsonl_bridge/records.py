"""The intermediate record: what every adapter yields and everything downstream reads.

The models are tool-neutral (no field is named after Label Studio, Doccano or CVAT) and
round-trip through JSON, so `bridge inspect --records` output can be read back with
`msgspec.json.decode(line, type=Record)`. Geometry is in pixels of the displayed image;
adapters do the conversion once.

They are frozen msgspec Structs, not pydantic models: a million-task export builds millions
of regions, and a Struct is built in about 0.5 µs where a validated pydantic model took 2.5-5
(docs/performance.md). Building one with keywords does not check types: adapters build them
from values they checked, or from parsed dicts with `msgspec.convert(fields, Model)` (about
0.75 µs a region), which checks them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec


class _Frozen(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Immutable; decoding refuses unknown keys, as pydantic's extra="forbid" did."""


class Source(_Frozen, frozen=True, kw_only=True):
    """Where a record came from: enough to find it again in the user's file."""

    tool: str
    format: str
    file: str
    line: int | None = None
    pointer: str | None = None

    def brief(self) -> dict[str, Any]:
        """`{"file", "line" or "pointer"}`: how rejects and disagreement files name it."""
        if self.line is not None:
            return {"file": self.file, "line": self.line}
        return {"file": self.file, "pointer": self.pointer}

    def where(self) -> str:
        """`file:line` or `file [pointer]`, the form every message uses."""
        if self.line is not None:
            return f"{self.file}:{self.line}"
        if self.pointer:
            return f"{self.file} [{self.pointer}]"
        return self.file


class MediaRef(_Frozen, frozen=True, kw_only=True):
    """An image the task shows. `path` is filled in by media resolution, not by adapters."""

    key: str
    uri: str
    path: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None


class _Region(_Frozen, tag_field="type", frozen=True, kw_only=True):
    """A region's JSON carries its kind as `type` (the tag); `region.type` reads it too."""

    type: ClassVar[str]
    field: str
    id: str | None = None
    target: str | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class Choice(_Region, tag="choice", frozen=True, kw_only=True):
    type: ClassVar[str] = "choice"
    labels: list[str]


class Taxonomy(_Region, tag="taxonomy", frozen=True, kw_only=True):
    """A taxonomy answer: each path runs from the root to the chosen node."""

    type: ClassVar[str] = "taxonomy"
    paths: list[list[str]]


class Span(_Region, tag="span", frozen=True, kw_only=True):
    type: ClassVar[str] = "span"
    start: int
    end: int
    text: str | None = None
    label: str


class Text(_Region, tag="text", frozen=True, kw_only=True):
    type: ClassVar[str] = "text"
    value: str


class Number(_Region, tag="number", frozen=True, kw_only=True):
    type: ClassVar[str] = "number"
    value: float


class Rating(_Region, tag="rating", frozen=True, kw_only=True):
    type: ClassVar[str] = "rating"
    value: float


class Box(_Region, tag="box", frozen=True, kw_only=True):
    """Pixel box of the unrotated shape; `rotation` is clockwise degrees about `pivot`."""

    type: ClassVar[str] = "box"
    label: str
    x: float
    y: float
    w: float
    h: float
    rotation: float = 0.0
    pivot: Literal["top_left", "center"] = "top_left"


class _PointList(_Region, frozen=True, kw_only=True):
    label: str
    points: list[tuple[float, float]]


class Polygon(_PointList, tag="polygon", frozen=True, kw_only=True):
    type: ClassVar[str] = "polygon"


class Polyline(_PointList, tag="polyline", frozen=True, kw_only=True):
    type: ClassVar[str] = "polyline"


class Points(_PointList, tag="points", frozen=True, kw_only=True):
    type: ClassVar[str] = "points"


class Ellipse(_Region, tag="ellipse", frozen=True, kw_only=True):
    type: ClassVar[str] = "ellipse"
    label: str
    cx: float
    cy: float
    rx: float
    ry: float
    rotation: float = 0.0


class Mask(_Region, tag="mask", frozen=True, kw_only=True):
    """Run-length encoded mask; `rle` is the tool's own counts, `encoding` names the scheme."""

    type: ClassVar[str] = "mask"
    label: str
    encoding: str
    rle: list[int]
    left: int = 0
    top: int = 0
    width: int
    height: int
    bbox: tuple[int, int, int, int] | None = None
    """Tight painted envelope x1, y1, x2, y2 in pixels when the adapter could compute it."""


class Tag(_Region, tag="tag", frozen=True, kw_only=True):
    """A label on the whole image (or frame), with no geometry."""

    type: ClassVar[str] = "tag"
    label: str


class Relation(_Region, tag="relation", frozen=True, kw_only=True):
    type: ClassVar[str] = "relation"
    from_id: str
    to_id: str
    labels: list[str] = msgspec.field(default_factory=list)
    direction: str | None = None


Region = (
    Choice
    | Taxonomy
    | Span
    | Text
    | Number
    | Rating
    | Box
    | Polygon
    | Polyline
    | Points
    | Ellipse
    | Mask
    | Tag
    | Relation
)


def labels_of(region: Region) -> list[str]:
    """The labels a region carries: choices, a span's or shape's label, taxonomy paths."""
    if isinstance(region, (Choice, Relation)):
        return list(region.labels)
    if isinstance(region, Taxonomy):
        return [" / ".join(path) for path in region.paths]
    label = getattr(region, "label", None)
    return [label] if isinstance(label, str) else []


class Annotation(_Frozen, frozen=True, kw_only=True):
    """One person's (or one model's) answer to a task."""

    id: str | None = None
    annotator: str | None = None
    kind: Literal["annotation", "prediction"] = "annotation"
    ground_truth: bool = False
    cancelled: bool = False
    created_at: str | None = None
    lead_time: float | None = None
    regions: list[Region] = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class Record(_Frozen, frozen=True, kw_only=True):
    """One task of the export with every annotation it carries."""

    id: str
    source: Source
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    media: list[MediaRef] = msgspec.field(default_factory=list)
    annotations: list[Annotation] = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    problems: list[str] = msgspec.field(default_factory=list)
    """Why this task is malformed; adapters keep streaming and `convert` rejects it."""


class FieldSchema(_Frozen, frozen=True, kw_only=True):
    """What the labeling configuration says about one annotated field."""

    name: str
    kind: str
    labels: list[str] = msgspec.field(default_factory=list)
    target: str | None = None
    multiple: bool = False


class ExportSchema(_Frozen, frozen=True, kw_only=True):
    """The export's fields in labeling order, when the tool's configuration is known."""

    fields: dict[str, FieldSchema] = msgspec.field(default_factory=dict)
    unplaced: list[str] = msgspec.field(default_factory=list)
    """Labels the configuration declares without the kind of field they are drawn in (CVAT's
    label type `any`): listed under every field that may use them, until a first pass over
    the export sees where they are used."""
