"""The project's labeling config (Settings → Labeling Interface → Code): which fields exist.

JSON_MIN, CSV and TSV exports do not say which columns are answers, what kind of answer a
column holds, or which data key a field points at; the labeling config does. It is parsed with
defusedxml (no entities, no DTD) because it is a file the user was handed, like the export.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from jsonl_bridge.errors import UsageError
from jsonl_bridge.records import ExportSchema, FieldSchema

from ._ls_results import RELATION_FIELD

# Control tag → the Region `type` its results become. Tags missing here still parse; their
# results are reported as problems by the result reader.
_KIND_BY_TAG = {
    "Choices": "choice",
    "Labels": "span",
    "HyperTextLabels": "span",
    "TextArea": "text",
    "DateTime": "text",
    "Number": "number",
    "Rating": "rating",
    "Taxonomy": "taxonomy",
    "RectangleLabels": "box",
    "Rectangle": "box",
    "PolygonLabels": "polygon",
    "Polygon": "polygon",
    "KeyPointLabels": "points",
    "KeyPoint": "points",
    "EllipseLabels": "ellipse",
    "Ellipse": "ellipse",
    "BrushLabels": "mask",
    "Brush": "mask",
}
# Bare shapes: with a <Labels> on the same image, Label Studio exports the labelled region
# under the Labels control, so the bare shape control is not a field of its own.
_BARE_SHAPES = ("Rectangle", "Polygon", "KeyPoint", "Ellipse", "Brush")
_LABEL_TAGS = frozenset({"Choice", "Label", "Relation"})
_NOT_CONTROLS = frozenset({"Filter"})
_TEXT_OBJECTS = frozenset({"Text", "HyperText"})


@dataclass(frozen=True)
class Control:
    """One control tag: `name` is the results' from_name (and the flat exports' column)."""

    name: str
    tag: str
    kind: str | None
    labels: tuple[str, ...]
    to_names: tuple[str, ...]
    multiple: bool

    @property
    def result_type(self) -> str:
        """The result `type` Label Studio writes for this tag (the tag name, lower case)."""
        return self.tag.lower()


@dataclass(frozen=True)
class LabelConfig:
    """Controls in document order, object tags by name, and the <Relations> labels."""

    path: str
    controls: dict[str, Control]
    objects: dict[str, tuple[str, str]]
    """Object tag name → (tag, data key): `<Text name="text" value="$text"/>` → ("Text", "text")."""
    relation_labels: tuple[str, ...] | None

    def data_key(self, object_name: str | None) -> str | None:
        """The data key an object tag reads, or the name itself when the config does not say."""
        if object_name is None:
            return None
        found = self.objects.get(object_name)
        return found[1] if found else object_name

    def target(self, control: Control) -> str | None:
        return self.data_key(control.to_names[0]) if control.to_names else None

    @cached_property
    def image_keys(self) -> tuple[str, ...]:
        return tuple(key for tag, key in self.objects.values() if tag == "Image")

    @cached_property
    def data_keys(self) -> frozenset[str]:
        """Every data key an object tag reads: these columns are task data, never answers."""
        return frozenset(key for _, key in self.objects.values())

    @cached_property
    def text_keys(self) -> frozenset[str]:
        """Data keys shown as plain text: never JSON-decoded from a CSV cell."""
        return frozenset(key for tag, key in self.objects.values() if tag in _TEXT_OBJECTS)


def load_label_config(path: Path) -> LabelConfig:
    """Parse a labeling config file; a missing, unsafe or malformed file is a usage error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the label_config: {exc.strerror}", where=str(path)) from exc
    try:
        root = fromstring(raw, forbid_dtd=True)
    except ParseError as exc:
        line, column = exc.position
        raise UsageError(
            f"label_config is not well-formed XML: {exc}", where=f"{path}:{line}:{column}"
        ) from exc
    except DefusedXmlException as exc:
        raise UsageError(f"label_config refused (unsafe XML): {exc}", where=str(path)) from exc
    except (LookupError, ValueError) as exc:  # expat asks Python for encodings it lacks
        raise UsageError(
            f"label_config declares an encoding the parser cannot use ({exc})", where=str(path)
        ) from exc
    if root.tag != "View":
        raise UsageError(
            f"not a Label Studio labeling config: the root is <{root.tag}>, expected <View>",
            where=str(path),
        )
    return _walk(root, str(path))


def _walk(root: Element, path: str) -> LabelConfig:
    controls: dict[str, Control] = {}
    objects: dict[str, tuple[str, str]] = {}
    relation_labels: tuple[str, ...] | None = None
    for element in root.iter():
        name = element.get("name")
        if element.tag == "Relations":
            relation_labels = _labels(element)
        elif name and element.get("toName") and element.tag not in _NOT_CONTROLS:
            controls[name] = _control(element, name)
        elif name and (element.get("value") or element.get("valueList")):
            value = element.get("value") or element.get("valueList") or ""
            if value.startswith("$"):
                objects[name] = (element.tag, value[1:])
    return LabelConfig(path, _resolve_labels_on_images(controls, objects), objects, relation_labels)


def _control(element: Element, name: str) -> Control:
    tag = element.tag
    if tag == "Taxonomy":
        multiple = element.get("maxUsages") != "1"
    else:
        multiple = element.get("choice") == "multiple"
    to_names = tuple(n.strip() for n in (element.get("toName") or "").split(",") if n.strip())
    return Control(name, tag, _KIND_BY_TAG.get(tag), _labels(element), to_names, multiple)


def _labels(element: Element) -> tuple[str, ...]:
    """Label values in document order; Label Studio stores the `alias` when there is one."""
    found: list[str] = []
    for child in element.iter():
        value = child.get("alias") or child.get("value")
        if child.tag in _LABEL_TAGS and value and value not in found:
            found.append(value)
    return tuple(found)


def _resolve_labels_on_images(
    controls: dict[str, Control], objects: dict[str, tuple[str, str]]
) -> dict[str, Control]:
    """`<Labels>` on an image labels the shapes of a bare shape control on the same image."""
    resolved = dict(controls)
    for name, control in controls.items():
        if control.tag != "Labels" or not control.to_names:
            continue
        if objects.get(control.to_names[0], ("Text", ""))[0] != "Image":
            continue
        shapes = [
            c
            for c in controls.values()
            if c.tag in _BARE_SHAPES and c.to_names[:1] == control.to_names[:1]
        ]
        kind = shapes[0].kind if shapes else "tag"
        resolved[name] = Control(
            name, control.tag, kind, control.labels, control.to_names, control.multiple
        )
    return resolved


def is_paired_shape(config: LabelConfig, control: Control) -> bool:
    """A bare shape control whose regions Label Studio exports under a <Labels> control."""
    return control.tag in _BARE_SHAPES and any(
        c.tag == "Labels" and c.to_names[:1] == control.to_names[:1]
        for c in config.controls.values()
    )


def export_schema(config: LabelConfig) -> ExportSchema:
    """The config's fields in document order, plus `relations` when it declares <Relations>."""
    fields: dict[str, FieldSchema] = {}
    for name, control in config.controls.items():
        if control.kind is None or is_paired_shape(config, control):
            continue
        fields[name] = FieldSchema(
            name=name,
            kind=control.kind,
            labels=list(control.labels),
            target=config.target(control),
            multiple=control.multiple,
        )
    if config.relation_labels is not None and RELATION_FIELD not in fields:
        fields[RELATION_FIELD] = FieldSchema(
            name=RELATION_FIELD, kind="relation", labels=list(config.relation_labels), multiple=True
        )
    return ExportSchema(fields=fields)
