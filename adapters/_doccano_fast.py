"""One doccano JSONL file → records, the usual rows built in one tight loop.

A lone JSONL file (the collaborative `all.jsonl`, or one user's file) needs no join, and
most of its rows have one of two shapes: `{id, text, label: [strings], Comments: []}`
(classification, seq2seq) or `{id, text, label: [[start, end, label], ...], Comments: []}`
(sequence labeling), often with imported meta keys. For those the general path (Row,
RowContent, a region reader, dicts checked by `msgspec.convert`) costs several times the
parse of the line, so their records are built here directly, with keywords, from values
whose types were checked first (which is all the Structs' own check would do).

Lines are decoded by msgspec into `_UsualRow`, which checks the types while parsing and is
faster than orjson's dicts. The first row it refuses (a meta key, another label key, a value
of an unusual type) switches the rest of the file to orjson dicts, whose usual rows are
still built here. Any other row (comments, a text with characters outside the BMP, a span
not inside its text, an empty label) goes to the general path, which also says what is
wrong. tests/test_doccano_fast.py shows that both paths give the same records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import orjson

from jsonl_bridge.records import Annotation, Choice, Record, Region, Source, Span, Text

from ._doccano_input import ExportFile
from ._doccano_offsets import has_astral
from ._doccano_records import TOOL, build_record
from ._doccano_regions import LABEL_KEYS, Settings
from ._doccano_rows import Row, line_values, opened

_OTHER_LABEL_KEYS = frozenset(LABEL_KEYS) - {"label"}
_SMALLEST_INT, _LARGEST_INT = -(1 << 63), (1 << 64) - 1
"""The integers orjson keeps exact (it reads larger ones as floats): an id outside them is
left to the general path, so that it is read as it always was."""


class _UsualRow(msgspec.Struct, forbid_unknown_fields=True):
    """A row of the usual shape without meta keys, as msgspec decodes it."""

    id: int
    text: str
    label: list[str | tuple[int, int, str]]
    Comments: list[Any]


_decode_usual = msgspec.json.Decoder(_UsualRow).decode


def jsonl_records(file: ExportFile, settings: Settings) -> Iterator[Record]:
    """The record of each row of one JSONL file, in file order."""
    usual = UsualRows(file, settings)
    loads, where, typed = orjson.loads, file.where, True
    with opened(file) as (bounded, stream):
        for number, raw in enumerate(stream, start=1):
            record = None
            if typed:
                try:
                    record = usual.from_typed(_decode_usual(raw), number)
                except msgspec.ValidationError:
                    typed = False  # meta keys, most likely: every row will have them
                except (msgspec.DecodeError, UnicodeDecodeError):
                    pass  # a blank line, a byte-order mark, or an error: line_values says
            if record is None:
                try:
                    values = loads(raw)
                except orjson.JSONDecodeError:
                    values = None
                if type(values) is not dict:
                    values = line_values(raw, number, where)
                    if values is None:
                        continue
                record = usual.from_dict(values, number)
                if record is None:
                    record = build_record([Row(values, file, line=number)], settings)
            bounded.mark()
            yield record


class UsualRows:
    """Builds the record of a row of the usual shape (module docstring) of one file."""

    def __init__(self, file: ExportFile, settings: Settings):
        self._where = file.where
        self._format = file.format
        self._annotator = file.user
        self._texts = settings.label_kind == "text"

    def from_typed(self, row: _UsualRow, line: int) -> Record | None:
        """The row's record; None when it is not of the usual shape."""
        if row.Comments or not _SMALLEST_INT <= row.id <= _LARGEST_INT:
            return None
        regions = self._regions(row.label, row.text)
        if regions is None:
            return None
        return self._record(row.id, {"text": row.text}, regions, line)

    def from_dict(self, values: dict[str, Any], line: int) -> Record | None:
        """The row's record, its own keys taken out of `values`, which becomes the data;
        None, `values` untouched, when the row is not of the usual shape."""
        ident, text, labels = values.get("id"), values.get("text"), values.get("label")
        comments = values.get("Comments")
        if type(ident) is not int or type(text) is not str or type(labels) is not list:
            return None
        if type(comments) is not list or comments or not _OTHER_LABEL_KEYS.isdisjoint(values):
            return None
        regions = self._regions(labels, text)
        if regions is None:
            return None
        del values["id"], values["label"], values["Comments"]  # the rest is data
        return self._record(ident, values, regions, line)

    def _regions(self, labels: list[Any], text: str) -> list[Region] | None:
        if not labels:
            return []  # doccano's "nobody labeled it"
        if type(labels[0]) is str:
            return self._strings(labels)
        return _spans(labels, text)

    def _record(self, ident: int, data: dict[str, Any], regions: list[Region], line: int) -> Record:
        return Record(
            id=str(ident),
            source=Source(tool=TOOL, format=self._format, file=self._where, line=line),
            data=data,
            annotations=[Annotation(annotator=self._annotator, regions=regions)] if regions else [],
        )

    def _strings(self, labels: list[Any]) -> list[Region] | None:
        """Categories (one Choice) or free texts (a Text each), as `label_kind` says."""
        for label in labels:
            if type(label) is not str:
                return None
        if self._texts:
            return [Text(field="label", value=label, target="text") for label in labels]
        return [Choice(field="label", labels=labels, target="text")]


def _spans(items: list[Any], text: str) -> list[Region] | None:
    """`[start, end, label]` triples inside a text whose offsets mean the same in UTF-16
    units and code points (no character outside the BMP): no conversion, no unit warning."""
    if has_astral(text):
        return None
    size = len(text)
    spans: list[Region] = []
    try:
        for start, end, label in items:  # a list, or a tuple from _UsualRow
            if type(start) is not int or type(end) is not int or not 0 <= start < end <= size:
                return None
            if type(label) is not str or not label:
                return None
            spans.append(
                Span(
                    field="label",
                    target="text",
                    start=start,
                    end=end,
                    text=text[start:end],
                    label=label,
                )
            )
    except (TypeError, ValueError):  # an item that is not a triple
        return None
    return spans
