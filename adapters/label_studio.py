"""Label Studio exports → Records: JSON, JSON_MIN, CSV and TSV, told apart by content.

Export docs: https://labelstud.io/guide/export.html. Quirks handled here (see
tests/fixtures/label-studio/README.md, real Label Studio 1.23 output):

- JSON is one array of tasks with every annotation (cancelled ones and ground truth included);
  it is streamed task by task. `predictions` may be prediction objects or, in the 1.2x quick
  export, bare prediction ids: those are listed in `Record.meta["prediction_ids"]`.
- JSON_MIN, CSV and TSV hold one row per *non-cancelled* annotation; the rows of a task are
  consecutive and become one Record again. They lose ground truth, predictions, relations and
  region ids, and do not say which columns are answers: pass `label_config` (the project's
  labeling config XML) or name the answer columns in `fields`.
- Coordinates are percent of original_width/original_height and become pixels here; a
  rectangle's rotation is clockwise about its top-left corner.
- `completed_by`/`annotator` are user ids ("3"), or an e-mail in exports of some versions.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jsonl_bridge.errors import InputError, UsageError
from jsonl_bridge.records import ExportSchema, Record
from jsonl_bridge.registry import Adapter

from ._archive import first_item_keys
from ._common import HEAD_BYTES, content_start, first_line, read_head, warn_repeated_ids
from ._ls_config import LabelConfig, export_schema, load_label_config
from ._ls_fast import UsualTasks
from ._ls_json import iter_array, task_record
from ._ls_rows import csv_rows, json_rows
from ._ls_table import META_COLUMNS, Columns, scan_result_columns, table_records

_END = object()
_MIN_KEYS = frozenset({"annotator", "annotation_id"})
_RESULT_KEYS = frozenset({"result", "completed_by", "was_cancelled"})
_ANNOTATION_PREFIXES = ("item.annotations.item", "item.completions.item")
_SNIFF_CAP = 64 * 1024 * 1024


class LabelStudioOptions(BaseModel):
    """`--option` keys of the Label Studio adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label_config: Path | None = None
    """The project's labeling config XML: field kinds, label order, which columns are answers."""
    fields: list[str] = Field(default_factory=list)
    """JSON_MIN/CSV/TSV columns to read as answers when there is no label_config, each
    `name` or `name:type` with a Label Studio result type (`category:choices`); a plain
    string in an untyped column is read as text."""

    @field_validator("fields", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value


def read(source: Path, options: Any = None) -> Iterator[Record]:
    """Stream one Record per task, in file order; InputError when the file cannot be read."""
    return warn_repeated_ids(_read(source, options), str(source))


def _read(source: Path, options: Any) -> Iterator[Record]:
    opts = _options(options)
    config = load_label_config(opts.label_config) if opts.label_config else None
    path = Path(source)
    file = str(path)
    columns = Columns(config, *_typed_fields(opts.fields))
    layout = _layout(path)
    if layout != "array":
        delimiter = "\t" if layout == "tsv" else ","
        if config is None:
            columns = replace(columns, scanned=scan_result_columns(csv_rows(path, delimiter)))
        yield from table_records(csv_rows(path, delimiter), layout, file, columns)
        return
    items = iter_array(path)
    first = next(items, _END)
    if first is _END:
        raise InputError("the export holds no tasks (an empty JSON array)", where=file)
    if _is_task(first):
        unknown_types: set[str] = set()
        usual = UsualTasks(file, config)
        for index, task in enumerate(chain([first], items)):
            record = usual.record(index, task)  # the general path when None: it says why
            if record is None:
                record = task_record(index, task, file, config, unknown_types)
            yield record
    elif isinstance(first, dict) and _MIN_KEYS & first.keys():
        if config is None:
            columns = replace(columns, scanned=scan_result_columns(json_rows(iter_array(path))))
        yield from table_records(json_rows(chain([first], items)), "json_min", file, columns)
    else:
        raise InputError(
            "not a Label Studio export: the first item has neither 'annotations'/'data' (JSON) "
            "nor 'annotator'/'annotation_id' (JSON_MIN)",
            where=f"{file} [/[0]]",
        )


_FIELD_TYPES = ("choices", "textarea", "number", "rating", "taxonomy", "datetime")


def _typed_fields(specs: list[str]) -> tuple[frozenset[str], dict[str, str]]:
    """`fields` entries → the answer columns, and the result type of those that name one."""
    names, types = set(), {}
    for spec in specs:
        name, _, rtype = (part.strip() for part in spec.partition(":"))
        if not name or name in META_COLUMNS:
            what = "a column name is missing" if not name else f"{name!r} is not an answer column"
            raise UsageError(
                f"--option fields={spec}: {what} (give the export's answer columns, e.g. "
                f"fields=category or fields=category:choices; {', '.join(sorted(META_COLUMNS))} "
                "are Label Studio's own columns)"
            )
        if rtype and rtype not in _FIELD_TYPES:
            raise UsageError(
                f"--option fields={spec}: unknown result type {rtype!r} "
                f"(one of: {', '.join(_FIELD_TYPES)})"
            )
        names.add(name)
        if rtype:
            types[name] = rtype
    return frozenset(names), types


def _options(options: Any) -> LabelStudioOptions:
    if isinstance(options, LabelStudioOptions):
        return options
    return cast(LabelStudioOptions, ADAPTER.parse_options(options))


def _layout(path: Path) -> Literal["array", "csv", "tsv"]:
    """JSON array, or a CSV/TSV table told apart by the header line's delimiter."""
    if not path.exists():
        raise InputError("no such file", where=str(path))
    if path.is_dir():
        raise InputError("is a directory, not a Label Studio export file", where=str(path))
    head = read_head(path)
    start = content_start(head)
    if start >= len(head):
        detail = "empty file" if len(head) < HEAD_BYTES else "no content in the first 8 KB"
        raise InputError(detail, where=str(path))
    if head[start : start + 1] == b"[":
        return "array"
    if head[start : start + 1] == b"{":
        raise InputError(
            "a JSON object, not a Label Studio export (an array of tasks or a CSV/TSV table)",
            where=str(path),
        )
    header = first_line(head)
    return "tsv" if header.count("\t") > header.count(",") else "csv"


def _is_task(item: Any) -> bool:
    """A full-export task (JSON), not a flattened JSON_MIN row."""
    if not isinstance(item, dict):
        return False
    if "annotations" in item or "completions" in item:
        return True
    return isinstance(item.get("data"), dict) and not _MIN_KEYS & item.keys()


def sniff(path: Path) -> bool:
    """Cheap: the first task's keys, or a flat-export header line.

    JSON_MIN rows start with the task's data, so a long first text can hide the `id` and
    `annotator` keys: the first item is parsed incrementally until its keys decide, reading
    at most the first item (and never more than 64 MB).
    """
    head = read_head(path)
    start = content_start(head)
    if head[start : start + 1] == b"[":
        with path.open("rb") as stream:
            stream.seek(start)  # past a UTF-8 byte-order mark and leading white space
            return _sniff_array(_Capped(stream, _SNIFF_CAP))
    if start >= len(head) or head[start : start + 1] in (b"{", b"<"):
        return False
    header = first_line(head)
    delimiter = "\t" if header.count("\t") > header.count(",") else ","
    columns = {cell.strip().strip('"') for cell in header.split(delimiter)}
    return "id" in columns and bool(columns & _MIN_KEYS)


class _Capped(io.RawIOBase):
    """A read-only view of a binary stream that ends after `limit` bytes."""

    def __init__(self, stream: BinaryIO, limit: int):
        self._stream, self._left = stream, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(min(len(view), self._left))
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _sniff_array(stream: io.RawIOBase) -> bool:
    """Judge the first array item from its keys (and its first annotation's), stopping as
    soon as they decide: a huge first task is not parsed to its end."""
    keys: set[str] = set()
    for prefix, key in first_item_keys(stream):  # malformed or cut short: what was seen
        if prefix in _ANNOTATION_PREFIXES and key in _RESULT_KEYS:
            return True
        if prefix == "item":
            keys.add(key)
            if _decides(keys):
                return True
    return False


def _decides(keys: set[str]) -> bool:
    full = "data" in keys and bool(keys & {"annotations", "predictions", "completions"})
    return full or ("id" in keys and bool(keys & _MIN_KEYS))


def schema(source: Path, options: Any = None) -> ExportSchema | None:
    """Fields in labeling-config order when `label_config` is given; None otherwise."""
    opts = _options(options)
    if opts.label_config is None:
        return None
    config: LabelConfig = load_label_config(opts.label_config)
    return export_schema(config)


ADAPTER = Adapter(
    name="label-studio",
    read=read,
    sniff=sniff,
    summary="Label Studio JSON, JSON_MIN, CSV and TSV exports (text and image projects)",
    options_model=LabelStudioOptions,
    schema=schema,
)
