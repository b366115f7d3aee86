"""What templates see of one annotation: labels after the schema, field values, `answer`.

Kept apart from render.py (which assembles messages and reports errors) because these are
pure functions of a record: easy to test alone and to reuse (e.g. in `agree` or preview).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from jsonl_bridge.errors import LabelError
from jsonl_bridge.geometry import GEOMETRY_KINDS, has_box
from jsonl_bridge.mapping import LabelsSpec
from jsonl_bridge.media import Media
from jsonl_bridge.records import (
    Annotation,
    Box,
    Choice,
    Ellipse,
    ExportSchema,
    FieldSchema,
    Mask,
    Number,
    Points,
    Polygon,
    Polyline,
    Rating,
    Record,
    Region,
    Span,
    Tag,
    Taxonomy,
    Text,
)
from jsonl_bridge.templates import ImageSizes, box_entry

LabeledRegion = Span | Box | Polygon | Polyline | Points | Ellipse | Mask | Tag
_LABELED = (Span, Box, Polygon, Polyline, Points, Ellipse, Mask, Tag)


def apply_labels(
    regions: Sequence[Region], spec: LabelsSpec, record: Record, annotation: Annotation
) -> list[Region]:
    """Rename labels, then check them against `allowed` (reject, drop or keep unknown ones)."""
    if not spec.rename and not spec.allowed and _all_as_is(regions):
        return list(regions)  # the usual case, nothing to rename or check: every region stays
    out: list[Region] = []
    for region in regions:
        if isinstance(region, Choice):
            labels = [_checked(label, spec, region, record, annotation) for label in region.labels]
            kept = list(dict.fromkeys(label for label in labels if label is not None))
            if kept:
                out.append(region if kept == region.labels else _copy(region, labels=kept))
        elif isinstance(region, _LABELED):
            label = _checked(region.label, spec, region, record, annotation)
            if label is not None:
                out.append(region if label == region.label else _copy(region, label=label))
        else:
            out.append(region)
    return out


def _all_as_is(regions: Sequence[Region]) -> bool:
    """Whether every region stays as it is when no label is renamed or checked (a choice
    loses its repeated labels, and goes when it has none)."""
    for region in regions:
        if isinstance(region, Choice):
            labels = region.labels
            if not labels or (len(labels) > 1 and len(set(labels)) != len(labels)):
                return False
    return True


def _copy(region: Region, **update: Any) -> Region:
    copied: Region = msgspec.structs.replace(region, **update)
    return copied


def _checked(
    label: str, spec: LabelsSpec, region: Region, record: Record, annotation: Annotation
) -> str | None:
    label = spec.rename.get(label, label)
    if not spec.allowed or label in spec.allowed or spec.unknown == "keep":
        return label
    if spec.unknown == "drop":
        return None
    who = annotation.annotator or "unknown annotator"
    raise LabelError(
        f"label {label!r} of field {region.field!r} is not allowed "
        f"(allowed: {', '.join(spec.allowed)}; annotator {who}, task {record.id})",
        where=record.source.where(),
        detail=label,
        annotators=[annotation.annotator] if annotation.annotator else [],
    )


def group_by_field(regions: Iterable[Region]) -> dict[str, list[Region]]:
    """Regions per field, fields in the order they first appear."""
    groups: dict[str, list[Region]] = {}
    for region in regions:
        groups.setdefault(region.field, []).append(region)
    return groups


def field_value(regions: list[Region], declared: FieldSchema | None) -> Any:
    """The value `fields.<name>` holds for one field (see docs/mappings.md)."""
    kind = regions[0].type
    if kind == "choice":
        labels = [label for r in regions if isinstance(r, Choice) for label in r.labels]
        multiple = declared is not None and declared.multiple
        return labels[0] if len(labels) == 1 and not multiple else labels
    if kind == "tag":  # a whole-image label (CVAT tags): a classification, like a choice
        tags = [r.label for r in regions if isinstance(r, Tag)]
        return tags[0] if len(tags) == 1 else tags
    if kind == "taxonomy":
        return [" / ".join(path) for r in regions if isinstance(r, Taxonomy) for path in r.paths]
    if kind == "text":
        texts = [r.value for r in regions if isinstance(r, Text)]
        return texts[0] if len(texts) == 1 else texts
    if kind in ("number", "rating"):
        numbers = [_number(r.value) for r in regions if isinstance(r, (Number, Rating))]
        return numbers[0] if len(numbers) == 1 else numbers
    if kind == "span":
        return [
            {"start": r.start, "end": r.end, "text": r.text, "label": r.label}
            for r in regions
            if isinstance(r, Span)
        ]
    dumped: list[Any] = msgspec.to_builtins(regions)
    return dumped


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def single_label(groups: dict[str, list[Region]]) -> str | None:
    """The classification label when unambiguous: one choice (or tag) field holding one
    label."""
    choices = [regions for regions in groups.values() if regions[0].type in ("choice", "tag")]
    if len(choices) != 1:
        return None
    labels = [
        label
        for r in choices[0]
        for label in (
            r.labels if isinstance(r, Choice) else [r.label] if isinstance(r, Tag) else []
        )
    ]
    return labels[0] if len(labels) == 1 else None


def ordered_fields(groups: dict[str, list[Region]], schema: ExportSchema | None) -> list[str]:
    """Labeling order: the schema's when known, then fields it does not list, as they come."""
    known = [name for name in (schema.fields if schema else {}) if name in groups]
    return known + [name for name in groups if name not in known]


def build_answer(
    groups: dict[str, list[Region]],
    schema: ExportSchema | None,
    images: ImageSizes,
    span_text: Any,
) -> dict[str, Any]:
    """The structured-extraction object: field name (or span label) → string(s).

    Fields come in labeling order; span labels in the order the text mentions them.
    """
    answer: dict[str, Any] = {}
    for name in ordered_fields(groups, schema):
        regions = groups[name]
        kind = regions[0].type
        declared = schema.fields.get(name) if schema else None
        if kind == "relation":
            continue
        if kind == "span":
            spans = [r for r in regions if isinstance(r, Span)]
            for label, texts in _spans_by_label(spans, span_text):
                _put(answer, label, texts)
        elif kind in GEOMETRY_KINDS:
            dumped = msgspec.to_builtins(regions)
            answer[name] = [
                box_entry(shape, "gemini", images)
                for shape in dumped
                if shape["type"] == "points" or has_box(shape)  # not an unpainted brush
            ]
        elif kind == "tag":
            _put(answer, name, [r.label for r in regions if isinstance(r, Tag)])
        else:
            value = field_value(regions, declared)
            answer[name] = [str(v) for v in value] if isinstance(value, list) else str(value)
            if kind == "taxonomy" and len(value) == 1:
                answer[name] = answer[name][0]
    return answer


def _spans_by_label(spans: list[Span], span_text: Any) -> list[tuple[str, list[str]]]:
    by_label: dict[str, list[str]] = {}
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        by_label.setdefault(span.label, []).append(span_text(span))
    return list(by_label.items())


def _put(answer: dict[str, Any], key: str, values: list[str]) -> None:
    if key in answer:
        previous = answer[key]
        values = [*(previous if isinstance(previous, list) else [previous]), *values]
    answer[key] = values[0] if len(values) == 1 else values


def media_keys(record: Record) -> set[str]:
    return {media.key for media in record.media}


def find_text(record: Record, regions: Sequence[Region], schema: ExportSchema | None) -> str | None:
    """The task's text input: what the labeled field points at, else `text`, else the only
    string in the data. Image references never count as text."""
    data = record.data
    images = media_keys(record) if record.media else _NO_KEYS
    for region in regions:
        target = region.target
        if target and target not in images and isinstance(data.get(target), str):
            return str(data[target])
    for declared in schema.fields.values() if schema else ():
        target = declared.target
        if target and target not in images and isinstance(data.get(target), str):
            return str(data[target])
    if "text" not in images and isinstance(data.get("text"), str):
        return str(data["text"])
    strings = [v for k, v in data.items() if isinstance(v, str) and k not in images]
    return strings[0] if len(strings) == 1 else None


_NO_KEYS: frozenset[str] = frozenset()


def find_image(record: Record, regions: Sequence[Region]) -> str | None:
    """The reference of the image the annotation is about: the only image, or the one its
    regions point at. Regions on several images leave it undefined: one image part cannot
    carry them all, and boxes drawn on another image must not be sent with this one."""
    by_key = {media.key: media.uri for media in record.media}
    targets = {region.target for region in regions if region.target in by_key}
    if len(targets) == 1:
        return by_key[targets.pop()]
    return record.media[0].uri if len(record.media) == 1 and not targets else None


def image_sizes(record: Record, media: Media | None = None) -> ImageSizes:
    """The sizes regions are measured in, and (with `media`) the sizes as sent."""
    sent = media.for_task(record).sent_size if media is not None else None
    return ImageSizes({ref.key: (ref.width, ref.height) for ref in record.media}, sent)
