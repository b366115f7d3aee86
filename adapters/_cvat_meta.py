"""The `<meta>` block of a CVAT XML: labels and their attribute specs, frames, people.

One of `<task>`, `<job>` or `<project>` (FORMAT.md §3); every field is optional except the
label list, and even that may be missing (datumaro's hand-written files). Labels are keyed by
(name, parent): a skeleton's point labels (`1`, `left`…) are only unique within their parent.

People: the task's or job's `<assignee>` is who was asked to annotate, the `<owner>` who
created it; a project export repeats both per task (`<tasks><task>`), matched to images by
their `task_id`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from jsonl_bridge.records import ExportSchema, FieldSchema

SHAPE_FIELDS: dict[str, tuple[str, str]] = {
    "box": ("boxes", "box"),
    "polygon": ("polygons", "polygon"),
    "polyline": ("polylines", "polyline"),
    "points": ("points", "points"),
    "ellipse": ("ellipses", "ellipse"),
    "mask": ("masks", "mask"),
    "cuboid": ("cuboids", "polygon"),
    "skeleton": ("skeletons", "points"),
    "tag": ("tags", "tag"),
}
"""CVAT element → (the region's `field`, the region type it becomes), in FORMAT.md order."""

_LABEL_TYPES = {"rectangle": "box", "bbox": "box", "box": "box"} | {k: k for k in SHAPE_FIELDS}
_STEP = re.compile(r"step\s*=\s*(\d+)")
_LEGACY_SPEC = re.compile(r"^\s*[~@]?(\w+)\s*=\s*([^:]*):")
"""CVAT 1.0 attribute specs inside `<labels>`: `@select=model:a,b,c` (type=name:values)."""

_DECLARED_ONLY = ("skeleton", "cuboid")

LabelKey = tuple[str, str | None]


@dataclass(frozen=True)
class LabelSpec:
    """One declared label: its name, skeleton parent, shape restriction and attributes."""

    name: str
    parent: str | None = None
    kind: str = "any"
    """A SHAPE_FIELDS key the label is restricted to, or "any"."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Attribute name → input_type (select, radio, checkbox, number, text)."""


@dataclass(frozen=True)
class People:
    assignee: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Meta:
    """What the reader needs from `<meta>`; an empty Meta when the file has none."""

    scope: str | None = None
    """task, job or project."""
    mode: str | None = None
    labels: tuple[LabelSpec, ...] = ()
    start_frame: int = 0
    step: int = 1
    size: int | None = None
    stop_frame: int | None = None
    original_size: tuple[int, int] | None = None
    people: People = People()
    task_people: dict[str, People] = field(default_factory=dict)
    subsets: tuple[str, ...] = ()
    checkboxes: dict[LabelKey, frozenset[str]] = field(default_factory=dict)
    """(label, parent) → names of its checkbox attributes ("true"/"false" become booleans)."""

    def frames(self) -> range | None:
        """The task's frame numbers (start_frame + k × step), when `size` or `stop_frame`
        says how many there are."""
        if self.size is not None:
            return range(self.start_frame, self.start_frame + self.size * self.step, self.step)
        if self.stop_frame is not None and self.stop_frame >= self.start_frame:
            return range(self.start_frame, self.stop_frame + 1, self.step)
        return None


def parse_meta(meta: Element) -> Meta:
    """The `<meta>` element (complete, with its children) → Meta."""
    scope_el = next((child for child in meta if child.tag in ("task", "job", "project")), None)
    if scope_el is None:
        return Meta(labels=_labels(meta.find("labels")))
    labels = _labels(scope_el.find("labels"))
    size = _original_size(scope_el.find("original_size"))
    if size is None:  # a job export writes it beside <job>, directly under <meta>
        size = _original_size(meta.find("original_size"))
    step_text = _text(scope_el.find("frame_filter")) or ""
    step = _STEP.search(step_text)
    return Meta(
        scope=scope_el.tag,
        mode=_text(scope_el.find("mode")),
        labels=labels,
        start_frame=_int(scope_el.find("start_frame")) or 0,
        step=max(int(step.group(1)), 1) if step else 1,
        size=_int(scope_el.find("size")),
        stop_frame=_int(scope_el.find("stop_frame")),
        original_size=size,
        people=_people(scope_el),
        task_people={
            task_id: _people(task)
            for task in scope_el.iterfind("tasks/task")
            if (task_id := _text(task.find("id")))
        },
        subsets=tuple(
            line.strip()
            for line in (_text(scope_el.find("subsets")) or "").splitlines()
            if line.strip()
        ),
        checkboxes=_checkboxes(labels),
    )


def _labels(labels: Element | None) -> tuple[LabelSpec, ...]:
    if labels is None:
        return ()
    found = []
    for label in labels.iterfind("label"):
        name = _text(label.find("name"))
        if name is None:
            continue
        kind = _LABEL_TYPES.get((_text(label.find("type")) or "any").lower(), "any")
        found.append(
            LabelSpec(
                name=name,
                parent=_text(label.find("parent")) or None,
                kind=kind,
                attributes=dict(_attribute_specs(label.find("attributes"))),
            )
        )
    return tuple(found)


def _attribute_specs(attributes: Element | None) -> Iterable[tuple[str, str]]:
    for spec in attributes if attributes is not None else ():
        if spec.tag != "attribute":
            continue
        name = _text(spec.find("name"))
        if name is not None:
            yield name, (_text(spec.find("input_type")) or "text").lower()
        elif spec.text and (legacy := _LEGACY_SPEC.match(spec.text)):
            yield legacy.group(2).strip(), legacy.group(1).lower()


def _checkboxes(labels: tuple[LabelSpec, ...]) -> dict[LabelKey, frozenset[str]]:
    found = {}
    for label in labels:
        names = frozenset(n for n, kind in label.attributes.items() if kind == "checkbox")
        if names:
            found[label.name, label.parent] = names
    return found


def _people(scope: Element) -> People:
    return People(assignee=_username(scope.find("assignee")), owner=_username(scope.find("owner")))


def _username(person: Element | None) -> str | None:
    """`<assignee><username>anna</username>…</assignee>`; empty when nobody is assigned."""
    if person is None:
        return None
    return _text(person.find("username")) or None


def _original_size(element: Element | None) -> tuple[int, int] | None:
    if element is None:
        return None
    width, height = _int(element.find("width")), _int(element.find("height"))
    return (width, height) if width and height else None


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip()


def _int(element: Element | None) -> int | None:
    text = _text(element)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def export_schema(meta: Meta) -> ExportSchema | None:
    """One field per CVAT element kind that some declared label may use, in FORMAT.md order.

    A label of type `any` (the usual) may be drawn as every simple kind, so it is listed under
    each; `skeletons` and `cuboids` list only labels declared with that type (a skeleton needs
    one; an `any` cuboid is still read, it is just not declared here, which keeps
    `{kind: polygon}` and `{kind: points}` bindable). Skeleton point labels (with a parent)
    are parts of a skeleton, not fields' labels. `any` labels are also `unplaced`: a mapping
    that lists labels has a first pass keep each only where it is used. None when the file
    declares no labels.
    """
    top = [label for label in meta.labels if label.parent is None]
    if not top:
        return None
    unplaced = [label.name for label in top if label.kind == "any"]
    fields = {}
    for element, (name, kind) in SHAPE_FIELDS.items():
        kinds = (element,) if element in _DECLARED_ONLY else ("any", element)
        labels = [label.name for label in top if label.kind in kinds]
        if labels:
            fields[name] = FieldSchema(
                name=name, kind=kind, labels=list(dict.fromkeys(labels)), target="image"
            )
    return ExportSchema(fields=fields, unplaced=list(dict.fromkeys(unplaced)))
