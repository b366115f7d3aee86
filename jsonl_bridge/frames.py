"""pandas views for notebooks; pandas is imported only when this is called."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jsonl_bridge.chat import Example, Message
from jsonl_bridge.records import Record

if TYPE_CHECKING:
    import pandas


def to_dataframe(items: Iterable[Record] | Iterable[Example]) -> pandas.DataFrame:
    """Records → one row per annotation (a column per field); examples → one row each.

    Record rows carry the task id, the task data as `data.<key>` columns, annotator, kind,
    ground_truth, cancelled, created_at and, per field, its answer as a `field.<name>` column
    (prefixed like the data, so a field named `id` or `annotator` cannot overwrite those): a
    label, text or number when there is one, else a list (several choices, spans as
    `{"label", "text"}`, boxes).
    Example rows carry id, system, user and assistant text and the message count.
    """
    import pandas

    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Example):
            rows.append(_example_row(item))
        else:
            rows.extend(_record_rows(item))
    frame: pandas.DataFrame = pandas.DataFrame(rows)
    return frame


def _record_rows(record: Record) -> list[dict[str, Any]]:
    base = {
        "id": record.id,
        "source": record.source.where(),
        **{f"data.{key}": value for key, value in record.data.items()},
    }
    if not record.annotations:
        return [{**base, "annotator": None, "kind": None}]
    rows = []
    for annotation in record.annotations:
        row: dict[str, Any] = {
            **base,
            "annotation_id": annotation.id,
            "annotator": annotation.annotator,
            "kind": annotation.kind,
            "ground_truth": annotation.ground_truth,
            "cancelled": annotation.cancelled,
            "created_at": annotation.created_at,
        }
        answers: dict[str, list[Any]] = {}
        for region in annotation.regions:
            answers.setdefault(region.field, []).extend(_values(region))
        row.update({f"field.{name}": v[0] if len(v) == 1 else v for name, v in answers.items()})
        rows.append(row)
    return rows


def _values(region: Any) -> list[Any]:
    """What a person reading a table expects to see of one region."""
    if region.type == "choice":
        return list(region.labels)
    if region.type == "span":
        return [{"label": region.label, "text": region.text}]
    if region.type == "taxonomy":
        return [" / ".join(path) for path in region.paths]
    if hasattr(region, "value"):
        return [region.value]
    if region.type == "relation":
        return [{"from": region.from_id, "to": region.to_id, "labels": region.labels}]
    return [region.model_dump(mode="json", exclude={"attributes"})]


def _example_row(example: Example) -> dict[str, Any]:
    by_role: dict[str, str] = {}
    for message in example.messages:
        by_role.setdefault(message.role, _text(message))
    return {
        "id": example.id,
        "system": by_role.get("system"),
        "user": by_role.get("user"),
        "assistant": _text(example.messages[-1]),
        "messages": len(example.messages),
    }


def _text(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(p.text for p in message.content if p.type == "text")
