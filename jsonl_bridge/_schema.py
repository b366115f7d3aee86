"""What a mapping knows about the export before any task: bindings, `schema`, first pass.

Split from render.py: these run once per compile (or once per export for the first pass),
never per task, and their messages name the mapping's file:line rather than a task.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from jinja2 import meta, nodes

from jsonl_bridge.geometry import BOXED_KINDS
from jsonl_bridge.mapping import FieldSelector, Mapping
from jsonl_bridge.records import (
    Choice,
    ExportSchema,
    FieldSchema,
    Record,
    labels_of,
)
from jsonl_bridge.templates import MEDIA_VAR, CompiledTemplate

Bindings = dict[str, str | FieldSelector]


def static_bindings(mapping: Mapping, schema: ExportSchema | None) -> tuple[Bindings, list[str]]:
    """Resolve what a known schema allows; the rest is resolved per task."""
    bindings: Bindings = {}
    problems: list[str] = []
    for name, binding in mapping.fields.items():
        bindings[name] = binding
        if schema is None:
            continue
        kinds = {key: field.kind for key, field in schema.fields.items()}
        if isinstance(binding, str):
            if binding not in schema.fields:
                problems.append(
                    mapping.problem(
                        ("fields", name),
                        f"the export has no field {binding!r} (fields: {describe(kinds)})",
                    )
                )
            continue
        matches = [key for key, field in schema.fields.items() if field.kind in binding.kind]
        if len(matches) == 1:
            bindings[name] = matches[0]
        else:
            problems.append(
                mapping.problem(
                    ("fields", name), selector_text(name, binding, matches, kinds, "the export")
                )
            )
    return bindings, problems


def selector_text(
    name: str, binding: FieldSelector, matches: list[str], kinds: dict[str, str], holder: str
) -> str:
    """Why a `{kind: ...}` selector binds nothing (or too much), naming the fields there are."""
    wanted = " or ".join(binding.kind)
    fields = f"fields: {describe(kinds)}" if kinds else "it has no fields"
    if not matches:
        hint = (
            "; a flat export (Label Studio JSON_MIN/CSV/TSV) reads a one-label column as text "
            "unless given the labeling config (--option label_config=PATH) or the column's "
            "type (--option fields=NAME:choices)"
            if "text" in kinds.values()
            else ""
        )
        return (
            f"{{kind: {wanted}}} matches no field: {holder} has no {wanted} field ({fields}){hint}"
        )
    return (
        f"{{kind: {wanted}}} is ambiguous: {holder} has {len(matches)} {wanted} fields "
        f"({', '.join(matches)}); bind one by name, e.g. `fields: {{{name}: {matches[0]}}}`"
    )


def selector_problem(
    name: str,
    binding: FieldSelector,
    matches: list[str],
    kinds: dict[str, str],
    record: Record,
) -> str:
    """A per-task selector failure; with no fields at all, hint at unrecognised columns."""
    text = selector_text(name, binding, matches, kinds, f"task {record.id}")
    label_kind = {"choice": "text", "text": "choice"}.get(kinds.get("label", ""))
    if not matches and record.source.tool == "doccano" and label_kind in binding.kind:
        text += (  # doccano's `label` strings are categories or texts: the adapter guessed
            f"; doccano's `label` strings were read as {kinds['label']}: "
            f"try `--option label_kind={label_kind}`"
        )
    return f"{text}; {columns_hint(record)}" if not kinds else text


def columns_hint(record: Record) -> str:
    """What to do when labels look like plain data columns (JSON_MIN/CSV without a config)."""
    columns = ", ".join(record.data) or "none"
    return (
        f"data columns: {columns}. If some hold the labels, give the labeling config "
        f"(--option label_config=PATH), or bind them by name under `fields:`, or give their "
        f"type (--option fields=NAME:choices)"
    )


def describe(kinds: dict[str, str]) -> str:
    """`name (kind), ...` for messages."""
    return ", ".join(f"{name} ({kind})" for name, kind in kinds.items())


def names_of(compiled: CompiledTemplate) -> set[str]:
    """Top-level variables one template reads."""
    return set(meta.find_undeclared_variables(compiled.tree))


def reads(compiled: CompiledTemplate) -> frozenset[str]:
    """The context names one template's output depends on (what decides how widely it can
    be memoized): the variables it reads, less jinja's globals (`range`, `namespace`: the
    same in every render), plus the task's image sizes when the `boxes` filter reads them.
    A template drawing from the `random` filter depends on nothing nameable: `UNREPEATABLE`."""
    names = names_of(compiled) - compiled.template.environment.globals.keys()
    for node in compiled.tree.find_all(nodes.Filter):
        if node.name == "boxes":
            names.add(MEDIA_VAR)
        elif node.name == "random":
            names.add(UNREPEATABLE)
    return frozenset(names)


UNREPEATABLE = "|random"
"""Stands in `reads` for a draw of the `random` filter (never a variable's name)."""


def uses(compiled: Iterable[CompiledTemplate]) -> tuple[set[str], set[str]]:
    """Top-level names the templates read, and which `schema` keys (`*`: all of it)."""
    names: set[str] = set()
    schema_keys: set[str] = set()
    for template in compiled:
        names |= names_of(template)
        total = sum(1 for n in template.tree.find_all(nodes.Name) if n.name == "schema")
        consumed = 0
        for node in template.tree.find_all((nodes.Getattr, nodes.Getitem)):
            assert isinstance(node, (nodes.Getattr, nodes.Getitem))
            if isinstance(node.node, nodes.Name) and node.node.name == "schema":
                consumed += 1
                if isinstance(node, nodes.Getattr):
                    schema_keys.add(node.attr)
                elif isinstance(node.arg, nodes.Const):
                    schema_keys.add(str(node.arg.value))
                else:
                    schema_keys.add("*")
        if total > consumed:
            schema_keys.add("*")
    return names, schema_keys


def classification_fields(schema: ExportSchema, bindings: Bindings) -> list[FieldSchema]:
    """The field(s) whose labels `schema.labels` lists: a bound choice field, else the only
    choice field, else every label-bearing field."""
    for target in bindings.values():
        field = schema.fields.get(target) if isinstance(target, str) else None
        if field is not None and field.kind in ("choice", "tag"):
            return [field]
    choices = [f for f in schema.fields.values() if f.kind == "choice"]
    if len(choices) == 1:
        return choices
    return [f for f in schema.fields.values() if f.labels and f.kind != "relation"]


def schema_context(
    mapping: Mapping, schema: ExportSchema | None, bindings: Bindings
) -> dict[str, Any]:
    """The `schema` template variable: labels, fields and answer_keys when known."""
    out: dict[str, Any] = {}
    rename = mapping.labels.rename
    if mapping.labels.allowed:
        out["labels"] = list(mapping.labels.allowed)
    elif schema is not None:
        fields = classification_fields(schema, bindings)
        labels = [rename.get(label, label) for f in fields for label in f.labels]
        if labels:
            out["labels"] = list(dict.fromkeys(labels))
    if schema is not None:
        out["box_labels"] = box_labels(mapping, schema)
    if schema is not None:
        out["fields"] = msgspec.to_builtins(schema.fields)
        out["answer_keys"] = answer_keys(mapping, schema)
    return out


def box_labels(mapping: Mapping, schema: ExportSchema) -> list[str]:
    """The labels of the fields whose regions have an area (what `boxes` renders), in
    labeling order after renames and `allowed`: a detection prompt's classes, without the
    labels of whole-image choices or tags drawn in the same project."""
    orders = label_orders(mapping, schema)
    boxed = [name for name, field in schema.fields.items() if field.kind in BOXED_KINDS]
    return list(dict.fromkeys(label for name in boxed for label in orders[name]))


def answer_keys(mapping: Mapping, schema: ExportSchema) -> list[str]:
    """The keys `answer` can have, in labeling order: field names, span labels for spans."""
    keys: list[str] = []
    orders = label_orders(mapping, schema)
    for name, field in schema.fields.items():
        if field.kind == "relation":
            continue
        keys.extend(orders.get(name, []) if field.kind == "span" else [name])
    return list(dict.fromkeys(keys))


def label_orders(mapping: Mapping, schema: ExportSchema | None) -> dict[str, list[str]]:
    """Per field, its labels in configuration order after renames (and `allowed`)."""
    spec = mapping.labels
    orders: dict[str, list[str]] = {}
    for name, field in (schema.fields if schema else {}).items():
        labels = [spec.rename.get(label, label) for label in field.labels]
        if spec.allowed and spec.unknown != "keep":
            labels = [label for label in labels if label in spec.allowed]
        orders[name] = list(dict.fromkeys(labels))
    return orders


def infer_schema(records: Iterable[Record]) -> ExportSchema:
    """The export's fields from the annotations themselves (a first pass): fields in the order
    first seen, kinds from region types, labels sorted."""
    scan = SchemaScan()
    for record in records:
        scan.add(record)
    return scan.schema()


class SchemaScan:
    """`infer_schema` a record at a time. `changed` turns True whenever a record adds a
    field, a label or a multiple choice, so that a schema taken part-way (jsonl_bridge/ahead.py)
    is known to still be the export's as long as it stays False."""

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._targets: dict[str, str | None] = {}
        self._labels: dict[str, set[str]] = {}
        self._multiple: set[str] = set()
        self.changed = False

    def add(self, record: Record) -> None:
        for annotation in record.annotations:
            for region in annotation.regions:
                name = region.field
                known = self._labels.get(name)
                if known is None:
                    self._kinds[name], self._targets[name] = region.type, region.target
                    known = self._labels[name] = set()
                    self.changed = True
                labels = labels_of(region)
                if not known.issuperset(labels):
                    known.update(labels)
                    self.changed = True
                if (
                    isinstance(region, Choice)
                    and len(region.labels) > 1
                    and name not in self._multiple
                ):
                    self._multiple.add(name)
                    self.changed = True

    def schema(self) -> ExportSchema:
        return ExportSchema(
            fields={
                name: FieldSchema(
                    name=name,
                    kind=kind,
                    labels=sorted(self._labels[name]),
                    target=self._targets[name],
                    multiple=name in self._multiple,
                )
                for name, kind in self._kinds.items()
            }
        )
