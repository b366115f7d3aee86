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

    Record rows carry the task id, annotator, kind, ground_truth, cancelled, created_at and,
    per field, its labels (choices, spans, boxes) or values (text, numbers) as a list.
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
    base = {"id": record.id, "source": record.source.where()}
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
        for region in annotation.regions:
            row.setdefault(region.field, []).append(_value(region))
        rows.append(row)
    return rows


def _value(region: Any) -> Any:
    for attr in ("labels", "label", "value", "paths"):
        if hasattr(region, attr):
            return getattr(region, attr)
    return region.model_dump(mode="json")


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
