"""Label Studio results → tool-neutral regions: one small reader per result type.

A result is `{"type", "from_name", "to_name", "id", "value": {...}}` in the JSON export; the
flat exports (JSON_MIN, CSV, TSV) keep only the `value` dicts. Both paths end in
`regions_from_value`, a table keyed by result type (no if/elif chain), so a new type is one
function and one table entry. An unknown type is a problem on the record, not a crash.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from jsonl_bridge.records import (
    Choice,
    Number,
    Rating,
    Region,
    Relation,
    Span,
    Tag,
    Taxonomy,
    Text,
)

from ._common import to_id, to_number
from ._ls_shapes import SHAPES, shape_handler, shape_of
from ._ls_values import (
    ResultError,
    Sizes,
    Where,
    is_str_list,
    labels_of,
    offset,
    required_number,
    str_list,
)

RELATION_FIELD = "relations"
"""Field name of relation regions: Label Studio relations have no from_name."""

KEPT_ATTRIBUTES = ("score", "origin", "meta")
_BARE_SHAPES = frozenset(SHAPES)

Reader = Callable[[Mapping[str, Any], Where], list[Region]]


def regions_from_results(
    results: list[Any],
    pointer: str,
    target_of: Callable[[str | None], str | None],
    sizes: Sizes,
    unknown_types: set[str] | None = None,
) -> tuple[list[Region], list[str]]:
    """Regions of one annotation's `result` list, and a problem per result it cannot read.

    With `unknown_types` (the types met so far in this export), a result of a type this
    version does not know (a newer Label Studio's) is left out, with one warning per type and
    export, instead of rejecting its task: the task's other answers are still good.
    """
    regions: list[Region] = []
    problems: list[str] = []
    labelled: set[Any] | None = None  # found when the first bare shape needs it
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            problems.append(f"{pointer}/{index}: expected a result object")
            continue
        rtype = result.get("type")
        if isinstance(rtype, str) and rtype in _BARE_SHAPES:
            labelled = _labelled_ids(results) if labelled is None else labelled
            if _id_key(result) in labelled:
                continue  # the same region, exported again with its labels under a Labels control
        elif unknown_types is not None and _is_unknown(rtype):
            _ignore(str(rtype), f"{pointer}/{index}", unknown_types)
            continue
        try:
            regions.extend(read_result(result, target_of, sizes))
        except ResultError as exc:
            problems.append(f"{pointer}/{index}: {exc}")
    return regions, problems


def _is_unknown(rtype: object) -> bool:
    return isinstance(rtype, str) and rtype != "relation" and not known_type(rtype)


def _ignore(rtype: str, where: str, seen: set[str]) -> None:
    if rtype not in seen:
        seen.add(rtype)
        warnings.warn(
            f"results of type {rtype!r} (first at {where}) are of a type this version does not "
            "read (a newer Label Studio?): they are left out, the other results of their tasks "
            "are kept",
            stacklevel=2,
        )


def _labelled_ids(results: list[Any]) -> set[Any]:
    """Ids of labelled results, which a bare shape result may repeat."""
    return {
        _id_key(r)
        for r in results
        if isinstance(r, dict) and str(r.get("type", "")).endswith("labels")
    }


def _id_key(result: dict[str, Any]) -> Any:
    """A result's id as a set member; a list or an object (no id) is a key no other has."""
    ident = result.get("id")
    return object() if isinstance(ident, list | dict) else ident


def read_result(
    result: dict[str, Any], target_of: Callable[[str | None], str | None], sizes: Sizes
) -> list[Region]:
    """The regions of one result object of the JSON export; ResultError when it is unreadable.
    An image result's original size is noted in `sizes`, for the task's MediaRefs."""
    rtype = result.get("type")
    if not isinstance(rtype, str):
        raise ResultError("result has no 'type'")
    if rtype == "relation":
        return [_relation(result)]
    value = result.get("value")
    from_name = result.get("from_name")
    if not isinstance(value, dict):
        raise ResultError(f"{rtype} result has no 'value' object")
    if not isinstance(from_name, str):
        raise ResultError(f"{rtype} result has no 'from_name'")
    to_name = result.get("to_name")
    target = target_of(to_name if isinstance(to_name, str) else None)
    width = height = None
    if "original_width" in result:  # image results only; text results skip the size work
        width, height = original_size(result, target, sizes)
    where = Where(
        from_name, to_id(result.get("id")), target, width, height, kept_attributes(result)
    )
    return regions_from_value(rtype, value, where)


def original_size(
    result: dict[str, Any], target: str | None, sizes: Sizes
) -> tuple[float | None, float | None]:
    """An image result's original_width/height, noted in `sizes` (the first per target wins)."""
    width = to_number(result.get("original_width"))
    height = to_number(result.get("original_height"))
    if width and height:
        sizes.setdefault(target, (int(width), int(height)))
    return width, height


def kept_attributes(result: dict[str, Any]) -> dict[str, Any]:
    """What a region keeps of its result besides the answer: score, origin, meta, rotation."""
    attributes = {}
    for key in KEPT_ATTRIBUTES:
        kept = result.get(key)
        # kept unless None, {} or []: 0 and "" say something (and this runs for every result)
        if kept or (kept is not None and not isinstance(kept, (dict, list))):
            attributes[key] = kept
    if rotation := result.get("image_rotation"):
        attributes["image_rotation"] = rotation
    return attributes


def _relation(result: dict[str, Any]) -> Relation:
    from_id, to_id_ = to_id(result.get("from_id")), to_id(result.get("to_id"))
    if from_id is None or to_id_ is None:
        raise ResultError("relation result needs 'from_id' and 'to_id'")
    labels = result.get("labels") or []
    if not is_str_list(labels):
        raise ResultError("relation 'labels' must be a list of strings")
    direction = result.get("direction")
    return Relation(
        field=RELATION_FIELD,
        from_id=from_id,
        to_id=to_id_,
        labels=labels,
        direction=direction if isinstance(direction, str) else None,
    )


def known_type(rtype: str) -> bool:
    """Whether `regions_from_value` reads results of this type."""
    return rtype in _READERS


def regions_from_value(rtype: str, value: Mapping[str, Any], where: Where) -> list[Region]:
    """The regions of one result value; ResultError when the value does not fit its type."""
    reader = _READERS.get(rtype)
    if reader is None:
        raise ResultError(f"unknown result type {rtype!r}")
    return reader(value, where)


def _choices(value: Mapping[str, Any], where: Where) -> list[Region]:
    labels = str_list(value, "choices")
    return [
        Choice(
            field=where.field,
            id=where.id,
            target=where.target,
            attributes=where.attributes,
            labels=labels,
        )
    ]


def _textarea(value: Mapping[str, Any], where: Where) -> list[Region]:
    texts = value.get("text")
    if isinstance(texts, str):  # older exports wrote a bare string
        texts = [texts]
    if not is_str_list(texts):
        raise ResultError("textarea value needs 'text': a list of strings")
    return [Text(**where.common(), value=text) for text in texts]


def _datetime(value: Mapping[str, Any], where: Where) -> list[Region]:
    stamp = value.get("datetime")
    if not isinstance(stamp, str):
        raise ResultError("datetime value needs 'datetime': a string")
    return [Text(**where.common(), value=stamp)]


def _number(value: Mapping[str, Any], where: Where) -> list[Region]:
    return [Number(**where.common(), value=required_number(value, "number"))]


def _rating(value: Mapping[str, Any], where: Where) -> list[Region]:
    return [Rating(**where.common(), value=required_number(value, "rating"))]


def _taxonomy(value: Mapping[str, Any], where: Where) -> list[Region]:
    paths = value.get("taxonomy")
    if not isinstance(paths, list) or not all(is_str_list(p) for p in paths):
        raise ResultError("taxonomy value needs 'taxonomy': a list of label paths")
    return [Taxonomy(**where.common(), paths=paths)]


def _spans(value: Mapping[str, Any], where: Where, labels: list[str]) -> list[Region]:
    start, end = offset(value, "start"), offset(value, "end")
    text = value.get("text")
    text = text if isinstance(text, str) else None
    return [
        Span(**where.common(), start=start, end=end, text=text, label=label) for label in labels
    ]


def _hypertext(value: Mapping[str, Any], where: Where) -> list[Region]:
    offsets = value.get("globalOffsets")
    if not isinstance(offsets, dict):
        raise ResultError("hypertextlabels value has no 'globalOffsets': character offsets unknown")
    labels = labels_of(value, "hypertextlabels")
    return _spans({**offsets, "text": value.get("text")}, where, labels)


def _labels(value: Mapping[str, Any], where: Where) -> list[Region]:
    """`labels` results: text spans, or a shape labelled by <Labels> on an image, or a tag."""
    labels = labels_of(value, "labels")
    if "start" in value and "end" in value:
        return _spans(value, where, labels)
    shape = shape_of(value)
    if shape is None:
        return [Tag(**where.common(), label=label) for label in labels]
    return SHAPES[shape](value, where, labels)


_READERS: dict[str, Reader] = {
    "choices": _choices,
    "textarea": _textarea,
    "datetime": _datetime,
    "number": _number,
    "rating": _rating,
    "taxonomy": _taxonomy,
    "labels": _labels,
    "hypertextlabels": _hypertext,
    **{f"{shape}labels": shape_handler(shape, labelled=True) for shape in SHAPES},
    **{shape: shape_handler(shape, labelled=False) for shape in SHAPES},
}
