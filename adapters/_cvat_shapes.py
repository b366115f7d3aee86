"""CVAT shape elements → regions in pixels (FORMAT.md §5-8).

Every region gets `field` = the plural of its CVAT element (`boxes`, `polygons`, `polylines`,
`points`, `ellipses`, `masks`, `cuboids`, `skeletons`, `tags`), `label` = the CVAT label as
written (an undeclared or empty label is kept as it is: `labels.allowed` decides), `target` =
"image" (the record's only media key), and `attributes` = CVAT's flags (`occluded`, `source`,
`z_order`, `group_id`; in tracks also `track_id`, `keyframe`) plus the `<attribute>` children
as text, checkbox values as booleans.

- box: corners of the unrotated box, `rotation` clockwise about the centre → Box(pivot=center).
- ellipse: centre and semi-axes, rotation likewise.
- mask: CVAT's RLE kept as is (`encoding="cvat-rle"`), with the tight envelope of the painted
  pixels as `bbox` (pixel edges: x2 = last painted column + 1).
- cuboid: a Polygon of the convex hull of its 8 corners (so its box is the cuboid's envelope);
  the named corners stay in `attributes["cuboid"]`.
- skeleton: Points of the key points that are not `outside`; every key point (label, point
  unless outside, occluded, outside) stays in `attributes["keypoints"]`. A skeleton with no
  visible point is left out, like an `outside` shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element

from jsonl_bridge.records import Box, Ellipse, Mask, Points, Polygon, Polyline, Region, Tag

from ._cvat_meta import LabelKey
from ._cvat_rle import RleError, mask_extent, parse_runs

TARGET = "image"
TRUE = frozenset({"1", "true", "True", "TRUE"})
_CUBOID = ("tl1", "bl1", "tr1", "br1", "tl2", "bl2", "tr2", "br2")
_isfinite = math.isfinite
_SMALL_INTS = {str(number): number for number in range(-255, 256)}

Attributes = dict[str, Any]
Checkboxes = dict[LabelKey, frozenset[str]]


class ShapeError(ValueError):
    """A shape element whose geometry cannot be read."""


class UnknownElement(ShapeError):
    """An element this reader does not know (a newer CVAT's): left out with a warning, not a
    reason to reject the image's other shapes."""


def read_shape(
    element: Element,
    label: str,
    checkboxes: Checkboxes,
    track: Attributes | None = None,
    region_id: str | None = None,
) -> Region | None:
    """One shape element as a region; None for a skeleton with no visible key point.

    `track`: the flags a `<track>` gives all its shapes (`source`, `group_id`, `track_id`);
    given, the shape is read as a track's (with `keyframe`). ShapeError when the element is
    unknown or its geometry is missing or not numbers.
    """
    a = element.attrib
    tag = element.tag
    reader = READERS.get(tag)
    if reader is None:
        raise UnknownElement(tag)
    if tag == "tag":
        attributes: Attributes = {"source": a["source"]} if "source" in a else {}
    else:
        attributes = flags(a)
        if track is not None:
            attributes.update(track)
            attributes["keyframe"] = a.get("keyframe") in TRUE
    if len(element):
        add_attributes(element, attributes, checkboxes.get((label, None)) if checkboxes else None)
    return reader(element, a, label, attributes, region_id, checkboxes)


def flags(a: dict[str, str]) -> Attributes:
    """CVAT's built-in flags of a shape: `occluded` (always), `source`, `z_order`, and
    `group_id` when non-zero."""
    found: Attributes = {"occluded": a.get("occluded") in TRUE}
    source = a.get("source")
    if source is not None:
        found["source"] = source
    z_order = a.get("z_order")
    if z_order is not None:
        found["z_order"] = _int(z_order, "z_order")
    group = a.get("group_id")
    if group and group != "0":
        found["group_id"] = _int(group, "group_id")
    return found


def add_attributes(
    element: Element, into: Attributes, checkboxes: frozenset[str] | None
) -> Attributes:
    """The `<attribute name="…">value</attribute>` children, checkbox values as booleans."""
    for child in element:
        if child.tag == "attribute":
            name = child.get("name") or ""
            value = child.text or ""
            if checkboxes and name in checkboxes:
                lowered = value.strip().lower()
                into[name] = lowered == "true" if lowered in ("true", "false") else value
            else:
                into[name] = value
    return into


# Readers build their Struct with keywords, without the run-time type check `records.builder`
# adds (it doubled the cost of a box, and this runs for every shape of the export): every value
# already has its field's type here (numbers parsed and checked, text from the XML), and mypy
# checks the keywords.


def _box(
    el: Element,
    a: dict[str, str],
    label: str,
    attrs: Attributes,
    region_id: str | None,
    _: Checkboxes,
) -> Region:
    try:
        xtl, ytl = float(a["xtl"]), float(a["ytl"])
        xbr, ybr = float(a["xbr"]), float(a["ybr"])
        turn = a.get("rotation")
        rotation = float(turn) if turn else 0.0
    except (KeyError, ValueError):
        raise ShapeError(_missing(a, ("xtl", "ytl", "xbr", "ybr"), ("rotation",))) from None
    if not _isfinite(xtl + ytl + xbr + ybr + rotation):
        raise ShapeError("box coordinates must be finite numbers")
    return Box(
        field="boxes",
        id=region_id,
        target=TARGET,
        attributes=attrs,
        label=label,
        x=xtl,
        y=ytl,
        w=xbr - xtl,
        h=ybr - ytl,
        rotation=rotation % 360.0 if rotation else 0.0,
        pivot="center",
    )


def _ellipse(
    el: Element,
    a: dict[str, str],
    label: str,
    attrs: Attributes,
    region_id: str | None,
    _: Checkboxes,
) -> Region:
    try:
        cx, cy, rx, ry = (float(a[key]) for key in ("cx", "cy", "rx", "ry"))
        rotation = float(a.get("rotation") or 0.0)
    except (KeyError, ValueError):
        raise ShapeError(_missing(a, ("cx", "cy", "rx", "ry"), ("rotation",))) from None
    if not _isfinite(cx + cy + rx + ry + rotation):
        raise ShapeError("ellipse geometry must be finite numbers")
    return Ellipse(
        field="ellipses",
        id=region_id,
        target=TARGET,
        attributes=attrs,
        label=label,
        cx=cx,
        cy=cy,
        rx=rx,
        ry=ry,
        rotation=rotation % 360.0,
    )


def parse_points(text: str | None) -> list[tuple[float, float]]:
    """`"x0,y0;x1,y1"` → pixel pairs; lenient about spaces and a trailing `;`."""
    if not text:
        raise ShapeError("points is missing or empty")
    found = []
    for pair in text.split(";"):
        x, comma, y = pair.partition(",")
        if not comma:
            if pair.strip():
                raise ShapeError(f"points: {pair.strip()!r} is not an x,y pair")
            continue
        try:
            point = (float(x), float(y))
        except ValueError:
            raise ShapeError(f"points: {pair.strip()!r} is not an x,y pair") from None
        if not _isfinite(point[0] + point[1]):
            raise ShapeError("points must be finite numbers")
        found.append(point)
    if not found:
        raise ShapeError("points is empty")
    return found


def _point_list(field: str, model: type[Polygon | Polyline | Points]) -> Reader:
    """The reader of a shape that is only a list of points (polygon, polyline, points)."""

    def read(
        el: Element,
        a: dict[str, str],
        label: str,
        attrs: Attributes,
        region_id: str | None,
        _: Checkboxes,
    ) -> Region:
        points = parse_points(a.get("points"))
        return model(
            field=field, id=region_id, target=TARGET, attributes=attrs, label=label, points=points
        )

    return read


def _mask(
    el: Element,
    a: dict[str, str],
    label: str,
    attrs: Attributes,
    region_id: str | None,
    _: Checkboxes,
) -> Region:
    left, top = _pixel(a, "left"), _pixel(a, "top")
    width, height = _pixel(a, "width"), _pixel(a, "height")
    try:
        runs = parse_runs(a.get("rle") or "")
        extent = mask_extent(runs, width, height)
    except RleError as exc:
        raise ShapeError(f"mask: {exc}") from None
    bbox = None
    if extent.bbox is not None:
        x1, y1, x2, y2 = extent.bbox
        bbox = (left + x1, top + y1, left + x2, top + y2)
    return Mask(
        field="masks",
        id=region_id,
        target=TARGET,
        attributes=attrs,
        label=label,
        encoding="cvat-rle",
        rle=runs,
        left=left,
        top=top,
        width=width,
        height=height,
        bbox=bbox,
    )


def _cuboid(
    el: Element,
    a: dict[str, str],
    label: str,
    attrs: Attributes,
    region_id: str | None,
    _: Checkboxes,
) -> Region:
    keys = [f"{axis}{corner}" for corner in _CUBOID for axis in ("x", "y")]
    try:
        values = [float(a[key]) for key in keys]
    except (KeyError, ValueError):
        raise ShapeError(_missing(a, tuple(keys), ())) from None
    if not _isfinite(sum(values)):
        raise ShapeError("cuboid coordinates must be finite numbers")
    corners = list(zip(values[::2], values[1::2], strict=True))
    attrs["cuboid"] = {name: [x, y] for name, (x, y) in zip(_CUBOID, corners, strict=True)}
    hull = convex_hull(corners)
    return Polygon(
        field="cuboids", id=region_id, target=TARGET, attributes=attrs, label=label, points=hull
    )


def convex_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Andrew's monotone chain: the hull's vertices, without repeats, in order around it."""
    unique = sorted(set(points))
    if len(unique) <= 2:
        return unique

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for point in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], point) <= 0:
            lower.pop()
        lower.append(point)
    for point in reversed(unique):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], point) <= 0:
            upper.pop()
        upper.append(point)
    return lower[:-1] + upper[:-1]


def _skeleton(
    el: Element,
    a: dict[str, str],
    label: str,
    attrs: Attributes,
    region_id: str | None,
    checkboxes: Checkboxes,
) -> Region | None:
    visible: list[tuple[float, float]] = []
    keypoints: list[dict[str, Any]] = []
    for child in el:
        if child.tag != "points":
            continue
        ca = child.attrib
        name = ca.get("label") or ""
        outside = ca.get("outside") in TRUE
        keypoint: dict[str, Any] = {
            "label": name,
            "point": None,
            "occluded": ca.get("occluded") in TRUE,
            "outside": outside,
        }
        if "keyframe" in ca:
            keypoint["keyframe"] = ca.get("keyframe") in TRUE
        if not outside:
            x, y = parse_points(ca.get("points"))[0]
            keypoint["point"] = [x, y]
            visible.append((x, y))
        own = add_attributes(child, {}, checkboxes.get((name, label)))
        if own:
            keypoint["attributes"] = own
        keypoints.append(keypoint)
    if not visible:
        return None
    attrs["keypoints"] = keypoints
    return Points(
        field="skeletons",
        id=region_id,
        target=TARGET,
        attributes=attrs,
        label=label,
        points=visible,
    )


def _tag(
    el: Element,
    a: dict[str, str],
    label: str,
    attrs: Attributes,
    region_id: str | None,
    _: Checkboxes,
) -> Region:
    return Tag(field="tags", id=region_id, target=TARGET, attributes=attrs, label=label)


Reader = Callable[[Element, dict[str, str], str, Attributes, str | None, Checkboxes], Region | None]
READERS: dict[str, Reader] = {
    "box": _box,
    "polygon": _point_list("polygons", Polygon),
    "polyline": _point_list("polylines", Polyline),
    "points": _point_list("points", Points),
    "ellipse": _ellipse,
    "mask": _mask,
    "cuboid": _cuboid,
    "skeleton": _skeleton,
    "tag": _tag,
}


def _missing(a: dict[str, str], required: tuple[str, ...], optional: tuple[str, ...]) -> str:
    """Which geometry attribute is missing or not a number (only computed on error)."""
    for key in required + optional:
        value = a.get(key)
        if value is None and key in optional:
            continue
        if value is None:
            return f"{key} is missing"
        try:
            float(value)
        except ValueError:
            return f"{key}={value!r} is not a number"
    return "geometry is not numbers"


def _pixel(a: dict[str, str], key: str) -> int:
    """A whole pixel count or position (`470`, also written `470.0` by some tools)."""
    value = a.get(key)
    if value is None:
        raise ShapeError(f"mask: {key} is missing")
    try:
        number = float(value)
    except ValueError:
        raise ShapeError(f"mask: {key}={value!r} is not a number") from None
    if not number.is_integer():
        raise ShapeError(f"mask: {key}={value!r} is not a whole number of pixels")
    return int(number)


def _int(value: str, key: str) -> int:
    """A whole number (`3`, also `3.0`); the usual small ones from a table, since `int(text)`
    costs as much as the rest of a shape's flags (every shape has a z_order)."""
    known = _SMALL_INTS.get(value)
    if known is not None:
        return known
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            raise ShapeError(f"{key}={value!r} is not a number") from None
        if not number.is_integer():
            raise ShapeError(f"{key}={value!r} is not a whole number") from None
        return int(number)
