"""From records to what agreement compares: per field, the items and each annotator's answer.

One pass over the records keeps only the answers (never the records), so a large export
streams. Who counts: every annotation that is not cancelled and not a prediction; its
annotator is the tool's own id or name (Label Studio's user id, doccano's user name from the
per-user file). An annotator with nothing in a field has no answer there (missing, as
Krippendorff treats it); an item counts for a field when two or more annotators answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from jsonl_bridge._agreement_matching import RegionAnswer, SpanAnswer
from jsonl_bridge.geometry import envelope, has_box
from jsonl_bridge.records import (
    Annotation,
    Number,
    Rating,
    Record,
    Region,
    Source,
    Span,
    Text,
    labels_of,
)

_KIND_OF_TYPE = {
    "choice": "categorical",
    "taxonomy": "categorical",
    "tag": "categorical",
    "number": "numeric",
    "rating": "numeric",
    "span": "spans",
    "text": "text",
    "box": "regions",
    "polygon": "regions",
    "polyline": "regions",
    "ellipse": "regions",
    "mask": "regions",
}
"""Region type → how its field is measured. Key points and relations are not measured."""


@dataclass
class Item:
    """One task's answers in one field, by annotator."""

    id: str
    source: Source
    answers: dict[str, Any]


@dataclass
class Collected:
    """Everything one pass over the records keeps."""

    items: dict[tuple[str, str], list[Item]] = field(default_factory=dict)
    """(field, kind) → the items where two or more annotators answered."""
    seen: set[tuple[str, str]] = field(default_factory=set)
    """Every (field, kind) that some annotator answered."""
    unmeasured: dict[str, str] = field(default_factory=dict)
    """Field → why it is not measured (its region type has no agreement measure here)."""
    names: set[str] = field(default_factory=set)
    """Every field name in the export's annotations, measured or not."""
    unnamed: dict[tuple[str, str], int] = field(default_factory=dict)
    """(field, kind) → tasks where an annotation without an annotator name answered: an
    export that merges its annotators (doccano's collaborative one) has only those."""
    tools: set[str] = field(default_factory=set)
    """The tools the records came from, so that a reason can say how that tool exports."""
    tasks: int = 0
    malformed: int = 0


def collect(records: Iterable[Record], only: str | None = None) -> Collected:
    """Per (field, kind), the items with two or more annotators' answers."""
    collected = Collected()
    for record in records:
        collected.tasks += 1
        if record.problems:
            collected.malformed += 1
            continue
        collected.tools.add(record.source.tool)
        by_field: dict[tuple[str, str], dict[str, Any]] = {}
        unnamed: set[tuple[str, str]] = set()
        for rater, annotation in _raters(record):
            for key, answer in _answers(annotation, collected, only).items():
                by_field.setdefault(key, {})[rater] = answer
                if not annotation.annotator:
                    unnamed.add(key)
        for key in unnamed:
            collected.unnamed[key] = collected.unnamed.get(key, 0) + 1
        for key, answers in by_field.items():
            collected.seen.add(key)
            if len(answers) >= 2:
                item = Item(record.id, record.source, answers)
                collected.items.setdefault(key, []).append(item)
    return collected


def _raters(record: Record) -> list[tuple[str, Annotation]]:
    """Annotations that count, named by annotator; a second annotation by the same person
    on one task becomes `name#2` rather than silently replacing the first."""
    named: list[tuple[str, Annotation]] = []
    taken: set[str] = set()
    for annotation in record.annotations:
        if annotation.cancelled or annotation.kind != "annotation":
            continue
        name = annotation.annotator or f"annotation {annotation.id or len(named) + 1}"
        rater, number = name, 1
        while rater in taken:
            number += 1
            rater = f"{name}#{number}"
        taken.add(rater)
        named.append((rater, annotation))
    return named


def _answers(
    annotation: Annotation, collected: Collected, only: str | None
) -> dict[tuple[str, str], Any]:
    """One annotation's answer per (field, kind); empty answers are left out (missing)."""
    grouped: dict[tuple[str, str], list[Region]] = {}
    for region in annotation.regions:
        collected.names.add(region.field)
        if only is not None and region.field != only:
            continue
        kind = _KIND_OF_TYPE.get(region.type)
        if kind is None:
            collected.unmeasured[region.field] = f"{region.type} regions have no agreement measure"
            continue
        grouped.setdefault((region.field, kind), []).append(region)
    answers = {key: _answer(key[1], regions) for key, regions in grouped.items()}
    return {key: answer for key, answer in answers.items() if answer is not None}


def _answer(kind: str, regions: list[Region]) -> Any:
    """The comparable answer of one annotator in one field, or None when there is none."""
    if kind == "categorical":
        labels = sorted({label for region in regions for label in labels_of(region)})
        return tuple(labels) or None
    if kind == "numeric":
        # several numbers in one field are per-region values, which are not compared
        numbers = [r.value for r in regions if isinstance(r, (Number, Rating))]
        return numbers[0] if len(numbers) == 1 else None
    if kind == "text":
        return "\n".join(r.value for r in regions if isinstance(r, Text)) or None
    if kind == "spans":
        return tuple(
            SpanAnswer(r.start, r.end, r.label, r.text) for r in regions if isinstance(r, Span)
        )
    shapes = [(labels_of(r)[0], msgspec.to_builtins(r)) for r in regions]
    return tuple(RegionAnswer(label, envelope(d)) for label, d in shapes if has_box(d)) or None
