"""pandas views for notebooks; pandas is imported only when this is called."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from jsonl_bridge.chat import Example, Message, TextPart
from jsonl_bridge.records import Record

if TYPE_CHECKING:
    import pandas


def to_dataframe(
    items: Iterable[Record] | Iterable[Example] | str | os.PathLike[str],
) -> pandas.DataFrame:
    """Records → one row per annotation (a column per field); examples, or a chat JSON Lines
    file given by its path, → one row each.

    Record rows carry the task id, the task data as `data.<key>` columns, annotator, kind,
    ground_truth, cancelled, created_at and, per field, its answer as a `field.<name>` column
    (prefixed like the data, so a field named `id` or `annotator` cannot overwrite those): a
    label, text or number when there is one, else a list (several choices, spans as
    `{"label", "text"}`, boxes).
    Example rows carry id, system, user and assistant text and the message count. A file's
    rows carry its line number instead of an id, the image count, and, for a line that is
    not a chat example, the validation finding that says why (`problem`; the file is read
    line by line).
    """
    import pandas

    if isinstance(items, (str, os.PathLike)):
        lines: pandas.DataFrame = pandas.DataFrame(list(_file_rows(Path(items))))
        return lines
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
    dumped: dict[str, Any] = msgspec.to_builtins(region)
    del dumped["attributes"]
    return [dumped]


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


def _file_rows(path: Path) -> Iterator[dict[str, Any]]:
    from jsonl_bridge.validation import check_readable, read_examples

    check_readable(path)
    for line, value, problem in read_examples(path):
        messages = value.get("messages") if isinstance(value, dict) else None
        if problem is not None or not isinstance(messages, list) or not messages:
            why = f"{problem.code} {problem.message}" if problem else "not a chat example"
            yield {"line": line, "problem": why}
            continue
        parsed = [m for m in messages if isinstance(m, dict)]
        by_role: dict[str, str] = {}
        for message in parsed:
            by_role.setdefault(str(message.get("role")), _plain_text(message.get("content")))
        yield {
            "line": line,
            "system": by_role.get("system"),
            "user": by_role.get("user"),
            "assistant": _plain_text(parsed[-1].get("content")) if parsed else None,
            "messages": len(messages),
            "images": sum(_images(m.get("content")) for m in parsed),
            "problem": None,
        }


def _plain_text(content: Any) -> str:
    """A parsed message's text: the string, or its text parts joined by newlines."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(t for t in parts if isinstance(t, str))


def _images(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(isinstance(p, dict) and p.get("type") == "image_url" for p in content)


def _text(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(p.text for p in message.content if isinstance(p, TextPart))
