"""The intermediate record: what every adapter yields and everything downstream reads.

The models are tool-neutral (no field is named after Label Studio, Doccano or CVAT) and
round-trip through JSON, so `bridge inspect --records` output can be read back with
`Record.model_validate_json`. Geometry is in pixels of the displayed image; adapters do the
conversion once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
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


class MediaRef(_Frozen):
    """An image the task shows. `path` is filled in by media resolution, not by adapters."""

    key: str
    uri: str
    path: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None


class _Region(_Frozen):
    field: str
    id: str | None = None
    target: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Choice(_Region):
    type: Literal["choice"] = "choice"
    labels: list[str]


class Taxonomy(_Region):
    """A taxonomy answer: each path runs from the root to the chosen node."""

    type: Literal["taxonomy"] = "taxonomy"
    paths: list[list[str]]


class Span(_Region):
    type: Literal["span"] = "span"
    start: int
    end: int
    text: str | None = None
    label: str


class Text(_Region):
    type: Literal["text"] = "text"
    value: str


class Number(_Region):
    type: Literal["number"] = "number"
    value: float


class Rating(_Region):
    type: Literal["rating"] = "rating"
    value: float


class Box(_Region):
    """Pixel box of the unrotated shape; `rotation` is clockwise degrees about `pivot`."""

    type: Literal["box"] = "box"
    label: str
    x: float
    y: float
    w: float
    h: float
    rotation: float = 0.0
    pivot: Literal["top_left", "center"] = "top_left"


class _PointList(_Region):
    label: str
    points: list[tuple[float, float]]


class Polygon(_PointList):
    type: Literal["polygon"] = "polygon"


class Polyline(_PointList):
    type: Literal["polyline"] = "polyline"


class Points(_PointList):
    type: Literal["points"] = "points"


class Ellipse(_Region):
    type: Literal["ellipse"] = "ellipse"
    label: str
    cx: float
    cy: float
    rx: float
    ry: float
    rotation: float = 0.0


class Mask(_Region):
    """Run-length encoded mask; `rle` is the tool's own counts, `encoding` names the scheme."""

    type: Literal["mask"] = "mask"
    label: str
    encoding: str
    rle: list[int]
    left: int = 0
    top: int = 0
    width: int
    height: int
    bbox: tuple[int, int, int, int] | None = None
    """Tight painted envelope x1, y1, x2, y2 in pixels when the adapter could compute it."""


class Tag(_Region):
    """A label on the whole image (or frame), with no geometry."""

    type: Literal["tag"] = "tag"
    label: str


class Relation(_Region):
    type: Literal["relation"] = "relation"
    from_id: str
    to_id: str
    labels: list[str] = Field(default_factory=list)
    direction: str | None = None


Region = Annotated[
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
    | Relation,
    Field(discriminator="type"),
]


def labels_of(region: Region) -> list[str]:
    """The labels a region carries: choices, a span's or shape's label, taxonomy paths."""
    if isinstance(region, (Choice, Relation)):
        return list(region.labels)
    if isinstance(region, Taxonomy):
        return [" / ".join(path) for path in region.paths]
    label = getattr(region, "label", None)
    return [label] if isinstance(label, str) else []


class Annotation(_Frozen):
    """One person's (or one model's) answer to a task."""

    id: str | None = None
    annotator: str | None = None
    kind: Literal["annotation", "prediction"] = "annotation"
    ground_truth: bool = False
    cancelled: bool = False
    created_at: str | None = None
    lead_time: float | None = None
    regions: list[Region] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class Record(_Frozen):
    """One task of the export with every annotation it carries."""

    id: str
    source: Source
    data: dict[str, Any] = Field(default_factory=dict)
    media: list[MediaRef] = Field(default_factory=list)
    annotations: list[Annotation] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    """Why this task is malformed; adapters keep streaming and `convert` rejects it."""


class FieldSchema(_Frozen):
    """What the labeling configuration says about one annotated field."""

    name: str
    kind: str
    labels: list[str] = Field(default_factory=list)
    target: str | None = None
    multiple: bool = False


class ExportSchema(_Frozen):
    """The export's fields in labeling order, when the tool's configuration is known."""

    fields: dict[str, FieldSchema] = Field(default_factory=dict)
    unplaced: list[str] = Field(default_factory=list)
    """Labels the configuration declares without the kind of field they are drawn in (CVAT's
    label type `any`): listed under every field that may use them, until a first pass over
    the export sees where they are used."""
