"""Label Studio JSON_MIN, CSV and TSV: one row per annotation, grouped back into one task each.

These exports flatten a task: the task's data keys and one column per control (named after the
from_name) sit side by side in a row, next to `id`, `annotator`, `annotation_id`, `created_at`,
`updated_at` and `lead_time`. Rows of one task are consecutive; cancelled annotations, ground
truth, predictions, relations and region ids are gone; an unannotated task is a row whose
annotator is empty. Nothing says which columns are answers: the labeling config does, else
`fields`, else the shape of the value. CSV and TSV cells are text, with JSON for lists and objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from jsonl_bridge.records import Annotation, Record, Region, Source

from ._common import to_id, to_number
from ._ls_config import Control, LabelConfig
from ._ls_json import TOOL
from ._ls_results import known_type, regions_from_value
from ._ls_rows import Row, decode_cell
from ._ls_shapes import media_refs, shape_of
from ._ls_values import ResultError, Sizes, Where, is_str_list

META_COLUMNS = frozenset(
    {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement"}
)
_SINGLE_KEY_RESULTS = {
    "choices": lambda v: is_str_list(v),
    "text": lambda v: is_str_list(v),
    "taxonomy": lambda v: isinstance(v, list) and all(is_str_list(p) for p in v),
    "number": lambda v: to_number(v) is not None,
    "rating": lambda v: to_number(v) is not None,
    "datetime": lambda v: isinstance(v, str),
}


@dataclass(frozen=True)
class Columns:
    """How to tell answer columns from data columns: label config, `fields`, value shapes."""

    config: LabelConfig | None = None
    fields: frozenset[str] = frozenset()
    field_types: Mapping[str, str] = field(default_factory=dict)
    """Result types the user gave for `fields` columns (`category:choices`)."""
    scanned: Mapping[str, str] = field(default_factory=dict)
    """Column → result type, from a first pass over the rows (no label config)."""

    def control(self, column: str) -> Control | None:
        return self.config.controls.get(column) if self.config else None

    def is_data_key(self, column: str) -> bool:
        return self.config is not None and column in self.config.data_keys

    def is_text_key(self, column: str) -> bool:
        return self.config is not None and column in self.config.text_keys


# --- rows → records ----------------------------------------------------------------------------


def group_rows(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Consecutive rows with the same task id; a row without an id stands alone."""
    for _, group in groupby(rows, key=_task_key):
        yield list(group)


def _task_key(row: Row) -> tuple[str, str | int]:
    task_id = to_id(row.values.get("id"))
    return ("id", task_id) if task_id is not None else ("row", row.index)


def table_records(rows: Iterable[Row], fmt: str, file: str, columns: Columns) -> Iterator[Record]:
    for group in group_rows(rows):
        yield group_record(group, fmt, file, columns)


def group_record(group: list[Row], fmt: str, file: str, columns: Columns) -> Record:
    """One task from its rows: data from the non-answer columns, one annotation per row."""
    first = group[0]
    problems = [row.problem for row in group if row.problem]
    task_id = to_id(first.values.get("id"))
    if task_id is None and not first.problem:
        problems.append(f"{first.where()}: row has no 'id'")
    data: dict[str, Any] = {}
    sizes: Sizes = {}
    annotations = []
    for row in group:
        regions = _read_row(row, columns, data, sizes, problems)
        annotation = _annotation(row, regions)
        if annotation is not None:
            annotations.append(annotation)
        elif regions:
            problems.append(f"{row.where()}: answers without 'annotator'/'annotation_id'")
    config = columns.config
    return Record(
        id=task_id or first.where(),
        source=Source(
            tool=TOOL,
            format=fmt,
            file=file,
            line=first.line,
            pointer=None if first.cells else f"/[{first.index}]",
        ),
        data=data,
        media=media_refs(data, config.image_keys if config else None, sizes),
        annotations=annotations,
        problems=problems,
    )


def _annotation(row: Row, regions: list[Region]) -> Annotation | None:
    values = row.values
    annotation_id = to_id(values.get("annotation_id"))
    annotator = to_id(values.get("annotator"))
    if annotation_id is None and annotator is None:
        return None  # the row of an unannotated task
    created_at = values.get("created_at")
    return Annotation(
        id=annotation_id,
        annotator=annotator,
        created_at=created_at if isinstance(created_at, str) and created_at else None,
        lead_time=to_number(values.get("lead_time")),
        regions=regions,
    )


def _read_row(
    row: Row, columns: Columns, data: dict[str, Any], sizes: Sizes, problems: list[str]
) -> list[Region]:
    regions: list[Region] = []
    for column, raw in row.values.items():
        if column in META_COLUMNS:
            continue
        if row.cells and raw == "":  # CSV cannot tell a blank from a missing value
            if columns.is_text_key(column):
                data.setdefault(column, "")
            continue
        control = columns.control(column)
        if control is not None:
            target = columns.config.target(control) if columns.config else None
            regions += _results(row, column, raw, control.result_type, target, sizes, problems)
            continue
        rtype = columns.field_types.get(column) or columns.scanned.get(column)
        if rtype is not None:
            regions += _results(row, column, raw, rtype, None, sizes, problems)
            continue
        keep_text = row.cells and columns.is_text_key(column)
        value = decode_cell(raw) if row.cells and not keep_text else raw
        data_key = columns.is_data_key(column)
        if not data_key and (column in columns.fields or looks_like_result(value)):
            regions += _results(row, column, raw, None, None, sizes, problems)
        else:
            data.setdefault(column, value)
    return regions


def _results(
    row: Row,
    column: str,
    raw: Any,
    rtype: str | None,
    target: str | None,
    sizes: Sizes,
    problems: list[str],
) -> list[Region]:
    value = decode_cell(raw) if row.cells else raw
    try:
        return min_regions(column, value, rtype, target, sizes)
    except ResultError as exc:
        if row.cells and value is not raw:
            try:  # a typed answer that merely looks like JSON, e.g. "[1, 2]" in a TextArea
                return min_regions(column, raw, rtype, target, sizes)
            except ResultError:
                pass
        problems.append(f"{row.where(column)}: {exc}")
        return []


def scan_result_columns(rows: Iterable[Row]) -> dict[str, str]:
    """Columns that hold a result shape in any row, with the result type that shape shows.

    Without a label config a column is an answer only by its shape, and one TextArea or
    Choices column is a plain string in one row (one entry) and `{"text": [...]}` in another
    (two entries). Deciding per column over the whole file, not per cell, keeps every row of
    such a column an answer.
    """
    found: dict[str, str] = {}
    for row in rows:
        for column, raw in row.values.items():
            if column in META_COLUMNS or column in found or raw in ("", None):
                continue
            value = decode_cell(raw) if row.cells else raw
            if looks_like_result(value):
                item = value[0] if isinstance(value, list) else value
                rtype = infer_type(item)
                if rtype is not None:
                    found[column] = rtype
    return found


# --- flattened values → regions ----------------------------------------------------------------


def min_regions(
    column: str, value: Any, rtype: str | None, target: str | None, sizes: Sizes
) -> list[Region]:
    """Regions of one flattened answer: a plain string, one value dict, or a list of them."""
    regions: list[Region] = []
    for item in value if isinstance(value, list) else [value]:
        item_type, item_value = _typed(item, rtype)
        width = to_number(item_value.get("original_width"))
        height = to_number(item_value.get("original_height"))
        if width and height:
            sizes.setdefault(target, (int(width), int(height)))
        where = Where(column, None, target, width, height)
        regions += regions_from_value(item_type, item_value, where)
    return regions


def _typed(item: Any, rtype: str | None) -> tuple[str, Mapping[str, Any]]:
    """The result type and value dict of one flattened item (plain strings get wrapped)."""
    if isinstance(item, str):
        kind = rtype or "textarea"
        wrapped = {"choices": {"choices": [item]}, "textarea": {"text": [item]}}
        if kind in wrapped:
            return kind, wrapped[kind]
        if kind == "datetime":
            return kind, {"datetime": item}
        raise ResultError(f"a {kind} answer cannot be the plain text {item[:40]!r}")
    if rtype in ("number", "rating") and to_number(item) is not None:
        return rtype, {rtype: item}
    if isinstance(item, dict):
        inferred = rtype or infer_type(item)
        if inferred is None:
            raise ResultError(f"cannot tell what kind of answer {sorted(item)} is")
        return inferred, item
    raise ResultError(f"unexpected {type(item).__name__} value")


def infer_type(value: Mapping[str, Any]) -> str | None:
    """A result type from a value dict's keys, for flat exports read without a label config."""
    for key, labels in value.items():
        if key.endswith("labels") and isinstance(labels, list):
            return key
    for key in _SINGLE_KEY_RESULTS:
        if key in value and not (key == "text" and "start" in value):
            return key if key != "text" else "textarea"
    shape = shape_of(value)
    return shape if shape is not None and known_type(shape) else None


def looks_like_result(value: Any) -> bool:
    """Does a column value have a Label Studio result shape (so it is an answer, not data)?"""
    if isinstance(value, dict):
        return _is_result_dict(value)
    if isinstance(value, list) and value:
        return all(isinstance(item, dict) and _is_result_dict(item) for item in value)
    return False


def _is_result_dict(value: Mapping[str, Any]) -> bool:
    if "original_width" in value and "original_height" in value:
        return True  # image results carry the size they were drawn on
    for key, labels in value.items():
        if key.endswith("labels") and isinstance(labels, list):
            return key != "labels" or ("start" in value and "end" in value)
    if len(value) == 1:
        ((key, inner),) = value.items()
        check = _SINGLE_KEY_RESULTS.get(key)
        return check is not None and bool(check(inner))
    return False
