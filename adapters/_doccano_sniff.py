"""Does a file look like a doccano export? Judged from its first row or header, cheaply.

A doccano row has `id`, a data key (`text` or `filename`) and `Comments` or a label key;
Label Studio rows, which can share some of those names, always carry keys doccano never
writes (`data`/`annotations` in full exports, `annotator`/`annotation_id` in flat ones).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ._archive import ZIP_ERRORS, first_item_keys
from ._common import HEAD_BYTES, content_start
from ._doccano_input import ExportFile
from ._doccano_regions import LABEL_KEYS

_FIRST_ROW_CAP = 1 << 20
"""Bytes read to find the first row's keys: a first text longer than this is not sniffed."""
_LABEL_STUDIO_KEYS = frozenset({"data", "annotations", "predictions", "annotator", "annotation_id"})


def looks_like_doccano(file: ExportFile) -> bool:
    """The first row (or CSV header, or fastText line) has doccano's shape."""
    try:
        with file.open() as stream:
            head = stream.read(_FIRST_ROW_CAP if file.format in ("jsonl", "json") else HEAD_BYTES)
    except ZIP_ERRORS:
        return False
    body = head[content_start(head) :]
    if file.format == "jsonl":
        return _row_keys_match(_first_line_keys(body))
    if file.format == "json":
        return body.startswith(b"[") and _row_keys_match(_first_item_keys(body))
    text = body.decode("utf-8", errors="replace")
    if file.format == "csv":
        header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
        return _row_keys_match(set(header)) and "label" in header
    return any(line.lstrip('"').startswith("__label__") for line in text.splitlines())


def _row_keys_match(keys: set[str]) -> bool:
    return (
        "id" in keys
        and bool(keys & {"text", "filename"})
        and ("Comments" in keys or bool(keys & set(LABEL_KEYS)))
        and not keys & _LABEL_STUDIO_KEYS
    )


def _first_line_keys(body: bytes) -> set[str]:
    try:
        row: Any = json.loads(body.split(b"\n", 1)[0])
    except ValueError:  # also a first line cut by the cap, or undecodable bytes
        return set()
    return set(row) if isinstance(row, dict) else set()


def _first_item_keys(body: bytes) -> set[str]:
    """The keys of the array's first object, as far as the bytes read go."""
    return {key for prefix, key in first_item_keys(io.BytesIO(body)) if prefix == "item"}
