"""Readers of the usual Label Studio result types, for the fast path (`_ls_fast`).

Each takes what every region inherits from its result (field, id, target, attributes, image
size), checked by the caller, and the result's `value`; it returns the regions exactly as the
general readers (`_ls_results`, `_ls_shapes`) build them, or None when the value is not of the
usual shape: the task then goes through the general path, which says what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

from jsonl_bridge.records import Box, Choice, Region, Span, Text

from ._common import to_number

Size = tuple[float | None, float | None] | None
"""A result's original_width/height, None when it gives none."""
Reader = Callable[
    [dict[str, Any], str, str | None, str | None, dict[str, Any], Size], list[Region] | None
]
"""(value, field, id, target, attributes, size) → the result's regions, None when unusual."""


def _strings(value: Any) -> TypeGuard[list[str]]:
    """A list of strings (what `is_str_list` accepts, checked without isinstance)."""
    if type(value) is not list:
        return False
    for item in value:  # noqa: SIM110 (a loop: all() over a generator took about 3x as long)
        if type(item) is not str:
            return False
    return True


def _choices(
    value: dict[str, Any],
    field: str,
    rid: str | None,
    target: str | None,
    attributes: dict[str, Any],
    size: Size,
) -> list[Region] | None:
    labels = value.get("choices")
    if not _strings(labels):
        return None
    return [Choice(field=field, id=rid, target=target, attributes=attributes, labels=list(labels))]


def _spans(
    value: dict[str, Any],
    field: str,
    rid: str | None,
    target: str | None,
    attributes: dict[str, Any],
    size: Size,
) -> list[Region] | None:
    """`labels` results on text: a Span per label (an empty label when all were removed)."""
    labels, start, end = value.get("labels"), value.get("start"), value.get("end")
    if type(start) is not int or type(end) is not int or start < 0 or end < 0:
        return None  # float offsets, or no offsets: a shape or tag on an image
    if not _strings(labels):
        return None
    text = value.get("text")
    text = text if type(text) is str else None
    return [
        Span(
            field=field,
            id=rid,
            target=target,
            attributes=attributes,
            start=start,
            end=end,
            text=text,
            label=label,
        )
        for label in labels or [""]
    ]


def _boxes(
    value: dict[str, Any],
    field: str,
    rid: str | None,
    target: str | None,
    attributes: dict[str, Any],
    size: Size,
) -> list[Region] | None:
    """`rectanglelabels` results: a pixel Box per label, as `_ls_shapes._box` computes it."""
    labels = value.get("rectanglelabels")
    width, height = size or (None, None)
    if not width or not height or not _strings(labels):
        return None
    x, y = to_number(value.get("x")), to_number(value.get("y"))
    w, h = to_number(value.get("width")), to_number(value.get("height"))
    if x is None or y is None or w is None or h is None:
        return None
    rotation = float(to_number(value.get("rotation")) or 0.0)
    # percent_to_px, inlined: the same operations in the same order
    x, y, w, h = x * width / 100.0, y * height / 100.0, w * width / 100.0, h * height / 100.0
    return [
        Box(
            field=field,
            id=rid,
            target=target,
            attributes=attributes,
            label=label,
            pivot="top_left",
            x=x,
            y=y,
            w=w,
            h=h,
            rotation=rotation,
        )
        for label in labels or [""]
    ]


def _texts(
    value: dict[str, Any],
    field: str,
    rid: str | None,
    target: str | None,
    attributes: dict[str, Any],
    size: Size,
) -> list[Region] | None:
    """`textarea` results: a Text per answer (older exports wrote a bare string)."""
    texts = value.get("text")
    if type(texts) is str:
        texts = [texts]
    elif not _strings(texts):
        return None
    return [
        Text(field=field, id=rid, target=target, attributes=attributes, value=text)
        for text in texts
    ]


READERS: dict[str, Reader] = {
    "choices": _choices,
    "labels": _spans,
    "rectanglelabels": _boxes,
    "textarea": _texts,
}
