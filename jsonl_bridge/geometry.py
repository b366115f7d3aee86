"""Box geometry: region shapes → axis-aligned pixel envelopes → the output conventions.

Regions arrive in pixels of the displayed image (adapters converted percents and pivots).
Everything a model is trained on is an axis-aligned box, so rotated rectangles, ellipses,
polygons and masks become the envelope of their outline, clamped to the image, and only then
are they expressed in a convention (DESIGN §5). Pure math: no jinja, no pydantic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

Rect = tuple[float, float, float, float]
"""x1, y1, x2, y2 in pixels (x right, y down)."""

CONVENTIONS: dict[str, str] = {
    "gemini": "box_2d",
    "qwen": "bbox_2d",
    "xyxy": "bbox",
    "xyxy_norm": "bbox",
    "xywh": "bbox",
}
"""Output convention → the key its JSON objects use for the coordinates."""

GEOMETRY_KINDS = frozenset({"box", "polygon", "polyline", "points", "ellipse", "mask"})
BOXED_KINDS = GEOMETRY_KINDS - {"points"}
"""Regions with an area to box: bare key points mark places, not extents."""


def rotated_corners(
    x: float, y: float, w: float, h: float, rotation: float = 0.0, pivot: str = "top_left"
) -> list[tuple[float, float]]:
    """The four corners of a box rotated clockwise (on screen, y down) about its pivot.

    `pivot` is "top_left" (Label Studio: about (x, y)) or "center" (CVAT).
    """
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    if not rotation:
        return corners
    if pivot == "center":
        px, py = x + w / 2, y + h / 2
    elif pivot == "top_left":
        px, py = x, y
    else:
        raise ValueError(f"unknown rotation pivot {pivot!r} (top_left or center)")
    theta = math.radians(rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    # With y pointing down, this standard rotation matrix turns clockwise on screen.
    return [
        (px + (cx - px) * cos - (cy - py) * sin, py + (cx - px) * sin + (cy - py) * cos)
        for cx, cy in corners
    ]


def points_envelope(points: Iterable[Iterable[float]]) -> Rect:
    """The smallest axis-aligned rectangle holding every point."""
    pairs = [tuple(p) for p in points]
    if not pairs:
        raise ValueError("a shape without points has no box")
    xs = [float(p[0]) for p in pairs]
    ys = [float(p[1]) for p in pairs]
    return min(xs), min(ys), max(xs), max(ys)


def box_envelope(
    x: float, y: float, w: float, h: float, rotation: float = 0.0, pivot: str = "top_left"
) -> Rect:
    """Axis-aligned envelope of a (possibly rotated) box."""
    return points_envelope(rotated_corners(x, y, w, h, rotation, pivot))


def ellipse_envelope(cx: float, cy: float, rx: float, ry: float, rotation: float = 0.0) -> Rect:
    """Exact axis-aligned envelope of an ellipse rotated about its centre."""
    theta = math.radians(rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    half_w = math.hypot(rx * cos, ry * sin)
    half_h = math.hypot(rx * sin, ry * cos)
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def has_box(shape: Mapping[str, Any]) -> bool:
    """Does a region (`msgspec.to_builtins(region)`) have an area to box? Not bare key points,
    not choices or texts, not a mask with nothing painted (its adapter found no bbox)."""
    if shape.get("type") not in BOXED_KINDS:
        return False
    return not _empty_mask(shape)


DECODED_MASKS = frozenset({"ls-rle", "cvat-rle"})
"""Mask encodings whose adapters decode the painted pixels into `bbox` (None: none painted)."""


def _empty_mask(shape: Mapping[str, Any]) -> bool:
    return (
        shape.get("type") == "mask"
        and shape.get("encoding") in DECODED_MASKS
        and shape.get("bbox") is None
    )


def envelope(shape: Mapping[str, Any]) -> Rect:
    """Envelope of a region as a dict (`msgspec.to_builtins(region)`), dispatched on `type`."""
    kind = shape.get("type")
    if kind == "box":
        return box_envelope(
            shape["x"],
            shape["y"],
            shape["w"],
            shape["h"],
            shape.get("rotation") or 0.0,
            shape.get("pivot") or "top_left",
        )
    if kind in ("polygon", "polyline", "points"):
        return points_envelope(shape["points"])
    if kind == "ellipse":
        return ellipse_envelope(
            shape["cx"], shape["cy"], shape["rx"], shape["ry"], shape.get("rotation") or 0.0
        )
    if kind == "mask":
        bbox = shape.get("bbox")
        if bbox is not None:
            x1, y1, x2, y2 = bbox
            return x1, y1, x2, y2
        if _empty_mask(shape):
            # a decoded mask without a box has nothing painted (for a Label Studio brush,
            # left/top/width/height are the whole image, never the mask's box)
            raise ValueError("an empty mask has no box")
        # A pixel run covers [left, left + width): the right edge is left + width.
        left, top = shape.get("left", 0), shape.get("top", 0)
        return left, top, left + shape["width"], top + shape["height"]
    raise ValueError(f"a {kind or 'non-region'} value has no box geometry")


def scale(rect: Rect, sx: float, sy: float) -> Rect:
    """A rectangle measured on another size of the same image (e.g. after a downscale)."""
    x1, y1, x2, y2 = rect
    return x1 * sx, y1 * sy, x2 * sx, y2 * sy


def clamp(rect: Rect, width: float, height: float) -> Rect:
    """Clip a rectangle to the image [0, width] × [0, height] (corners normalised first)."""
    x1, y1, x2, y2 = rect
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


def to_convention(rect: Rect, width: float, height: float, convention: str) -> list[Any]:
    """Express a pixel rectangle in an output convention, after clamping it to the image.

    gemini: [ymin, xmin, ymax, xmax] as integers 0-1000 per axis; qwen and xyxy: pixel
    [x1, y1, x2, y2]; xyxy_norm: 0-1 floats (4 places); xywh: pixel [x, y, w, h] (COCO).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} is not positive")
    x1, y1, x2, y2 = clamp(rect, width, height)
    if convention == "gemini":
        return [
            _per_mille(y1, height),
            _per_mille(x1, width),
            _per_mille(y2, height),
            _per_mille(x2, width),
        ]
    if convention in ("qwen", "xyxy"):
        return [round(x1), round(y1), round(x2), round(y2)]
    if convention == "xyxy_norm":
        return [
            round(x1 / width, 4),
            round(y1 / height, 4),
            round(x2 / width, 4),
            round(y2 / height, 4),
        ]
    if convention == "xywh":
        left, top = round(x1), round(y1)
        return [left, top, round(x2) - left, round(y2) - top]
    raise ValueError(f"unknown box convention {convention!r} (one of {', '.join(CONVENTIONS)})")


def from_convention(coords: list[Any], width: float, height: float, convention: str) -> Rect:
    """The pixel rectangle (x1, y1, x2, y2) that `coords` in `convention` stand for: the
    inverse of `to_convention`, up to its rounding (for checking and drawing boxes)."""
    a, b, c, d = (float(v) for v in coords)
    if convention == "gemini":
        return b / 1000 * width, a / 1000 * height, d / 1000 * width, c / 1000 * height
    if convention in ("qwen", "xyxy"):
        return a, b, c, d
    if convention == "xyxy_norm":
        return a * width, b * height, c * width, d * height
    if convention == "xywh":
        return a, b, a + c, b + d
    raise ValueError(f"unknown box convention {convention!r} (one of {', '.join(CONVENTIONS)})")


def _per_mille(value: float, size: float) -> int:
    return min(max(round(value / size * 1000), 0), 1000)
