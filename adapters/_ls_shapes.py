"""Label Studio image results → pixel geometry, and the task's image references.

Label Studio stores shapes in percent of original_width/original_height, the size of the image
as the annotator saw it (EXIF-corrected). A rectangle's x/y is its top-left corner and its
rotation is clockwise about that corner in pixel space, so the pixel box is simply x% * width
/ 100 (and so on) with the rotation carried over unchanged and the pivot recorded as top_left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jsonl_bridge.records import Box, Ellipse, Mask, MediaRef, Points, Polygon, Region

from ._common import to_number
from ._ls_rle import ls_rle_bbox
from ._ls_values import (
    ResultError,
    Sizes,
    Where,
    labels_of,
    optional_labels,
    required_number,
)

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
_LAST_LETTERS = frozenset("gpfGPF")
"""The last letters of the suffixes, in either case (no other character lowers to them)."""

ShapeReader = Callable[[Mapping[str, Any], Where, list[str]], list[Region]]


def percent_to_px(percent: float, size: float) -> float:
    """Label Studio percent of the displayed size → pixels (multiplying first rounds less)."""
    return percent * size / 100.0


def _scale(where: Where, shape: str) -> tuple[float, float]:
    if not where.width or not where.height:
        raise ResultError(
            f"{shape} value has no original_width/original_height: cannot convert percent to pixels"
        )
    return where.width, where.height


def _box(value: Mapping[str, Any], where: Where, labels: list[str]) -> list[Region]:
    width, height = _scale(where, "rectangle")
    x, y = required_number(value, "x"), required_number(value, "y")
    w, h = required_number(value, "width"), required_number(value, "height")
    x, y = percent_to_px(x, width), percent_to_px(y, height)
    w, h = percent_to_px(w, width), percent_to_px(h, height)
    rotation = float(to_number(value.get("rotation")) or 0.0)
    common = where.common()
    return [
        Box(**common, label=label, pivot="top_left", x=x, y=y, w=w, h=h, rotation=rotation)
        for label in labels
    ]


def _polygon(value: Mapping[str, Any], where: Where, labels: list[str]) -> list[Region]:
    points = _points(value.get("points"), *_scale(where, "polygon"))
    return [Polygon(**where.common(), label=label, points=points) for label in labels]


def _keypoint(value: Mapping[str, Any], where: Where, labels: list[str]) -> list[Region]:
    width, height = _scale(where, "keypoint")
    point = (
        percent_to_px(required_number(value, "x"), width),
        percent_to_px(required_number(value, "y"), height),
    )
    return [Points(**where.common(), label=label, points=[point]) for label in labels]


def _ellipse(value: Mapping[str, Any], where: Where, labels: list[str]) -> list[Region]:
    width, height = _scale(where, "ellipse")
    cx = percent_to_px(required_number(value, "x"), width)
    cy = percent_to_px(required_number(value, "y"), height)
    rx = percent_to_px(required_number(value, "radiusX"), width)
    ry = percent_to_px(required_number(value, "radiusY"), height)
    rotation = float(to_number(value.get("rotation")) or 0.0)
    common = where.common()
    return [
        Ellipse(**common, label=label, cx=cx, cy=cy, rx=rx, ry=ry, rotation=rotation)
        for label in labels
    ]


def _mask(value: Mapping[str, Any], where: Where, labels: list[str]) -> list[Region]:
    width, height = _scale(where, "brush")
    rle = value.get("rle")
    if value.get("format", "rle") != "rle" or not isinstance(rle, list):
        raise ResultError("brush value needs format 'rle' and an 'rle' list")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in rle):
        raise ResultError("brush 'rle' must hold integers")
    wide, high = int(width), int(height)
    # the tight box, for box_2d and friends: width/height alone would box the whole image
    bbox = ls_rle_bbox(rle, wide, high)
    common = where.common()
    return [
        Mask(**common, label=label, encoding="ls-rle", rle=rle, bbox=bbox, width=wide, height=high)
        for label in labels
    ]


def _points(raw: object, width: float, height: float) -> list[tuple[float, float]]:
    if not isinstance(raw, list) or not raw:
        raise ResultError("polygon value needs 'points': a list of [x, y] percent pairs")
    points = []
    for pair in raw:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ResultError("polygon 'points' must be [x, y] pairs")
        x, y = to_number(pair[0]), to_number(pair[1])
        if x is None or y is None:
            raise ResultError("polygon 'points' must be numbers")
        points.append((percent_to_px(x, width), percent_to_px(y, height)))
    return points


SHAPES: dict[str, ShapeReader] = {
    "rectangle": _box,
    "polygon": _polygon,
    "keypoint": _keypoint,
    "ellipse": _ellipse,
    "brush": _mask,
}
"""Bare shape result types (also the `<shape>labels` types) → reader."""


def shape_of(value: Mapping[str, Any]) -> str | None:
    """Which shape a value holds, from its keys (flat exports and <Labels> omit the type)."""
    if "points" in value:
        return "polygon"
    if "radiusX" in value:
        return "ellipse"
    if "rle" in value:
        return "brush"
    if "x" in value and "height" in value:
        return "rectangle"
    if "x" in value and "y" in value:
        return "keypoint"
    return None


def shape_handler(shape: str, labelled: bool) -> Callable[[Mapping[str, Any], Where], list[Region]]:
    """The reader of `rectanglelabels` (labelled) or bare `rectangle` results, and so on."""
    key = f"{shape}labels"

    def handle(value: Mapping[str, Any], where: Where) -> list[Region]:
        labels = labels_of(value, key) if labelled else optional_labels(value)
        return SHAPES[shape](value, where, labels)

    return handle


def looks_like_image(value: object) -> bool:
    """A data value that names an image: by data URL or file suffix (query strings ignored)."""
    if not isinstance(value, str) or not value or len(value) > 4096 or "\n" in value:
        return False
    if value.startswith("data:image/"):
        return True
    end = value.find("#") if "#" in value else len(value)
    if _suffixed(value, end):
        return True
    # "/data/local-files/?d=dir/a.png" names the file in its query, "https://h/a.png?sig=x" not
    query = value.find("?", 0, end) if "?" in value else -1
    return query >= 0 and _suffixed(value, query)


def _suffixed(value: str, end: int) -> bool:
    """Whether value[:end], in lower case, ends with an image suffix. This runs on every text
    of every task, so it looks at the last character first (every suffix ends in g, p or f),
    then lowers only the last five (`str.lower` maps each character to one or more, and
    where it looks around, choosing between σ and ς, both choices are no suffix letter)."""
    if value[end - 1] not in _LAST_LETTERS:
        return False
    return value[max(0, end - 5) : end].lower().endswith(_IMAGE_SUFFIXES)


def media_refs(
    data: Mapping[str, Any], keys: tuple[str, ...] | None, sizes: Sizes
) -> list[MediaRef]:
    """One MediaRef per image the task shows: the config's Image keys, else a guess from data.

    Width and height are the size the annotator saw (original_width/height of a result on that
    image), when a result says so; media resolution (issue 3) checks them against the file.
    """
    if keys is None:
        keys = _image_keys(data, sizes)
        if not keys:
            return []  # a text task
    refs = []
    for key in keys:
        uri = data.get(key)
        if not isinstance(uri, str) or not uri:
            continue
        size = sizes.get(key) or (sizes.get(None) if len(keys) == 1 else None)
        width, height = size if size else (None, None)
        refs.append(MediaRef(key=key, uri=uri, width=width, height=height))
    return refs


def _image_keys(data: Mapping[str, Any], sizes: Sizes) -> tuple[str, ...]:
    """The data keys that name an image, without a labeling config to say: by their value, or
    because a result gave the size of the image the key names."""
    found: tuple[str, ...] = ()
    for key, value in data.items():  # a loop: this runs for every task without a config
        if looks_like_image(value) or (key in sizes and isinstance(value, str)):
            found += (key,)
    return found
