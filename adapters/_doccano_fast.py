"""One doccano JSONL file → records, the usual rows built in one tight loop.

A lone JSONL file (the collaborative `all.jsonl`, or one user's file) needs no join, and
most of its rows have one of two shapes: `{id, text, label: [strings], Comments: []}`
(classification, seq2seq) or `{id, text, label: [[start, end, label], ...], Comments: []}`
(sequence labeling), often with imported meta keys. For those the general path (Row,
RowContent, a region reader, dicts checked by `msgspec.convert`) costs several times the
parse of the line, so their records are built here directly, with keywords, from values
whose types were checked first (which is all the Structs' own check would do).

Lines are decoded by msgspec into `_UsualRow`, which checks the types (and a span's start
and label) while parsing and is faster than orjson's dicts. A row it refuses is read with
orjson; if that row's keys are not the usual four (a meta key, another label key, a missing
key), every row will likely have them, so the rest of the file is read with orjson, whose
usual rows are still built here. Any other row (comments, a text with characters outside
the BMP, a span not inside its text, an empty label) goes to the general path, which also
says what is wrong. tests/test_doccano_fast.py shows that both paths give the same records.

Per row this is about 2.5 times the cost of `orjson.loads` alone (tests/bench/doccano_read.py):
what remains is building the records (a Span costs as much as parsing its triple), so each
statement of the span comprehension and of the loop counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import orjson

from jsonl_bridge.records import Annotation, Choice, Record, Region, Source, Span, Text

from ._doccano_input import ExportFile
from ._doccano_offsets import has_astral
from ._doccano_records import TOOL, build_record
from ._doccano_regions import LABEL_KEYS, Settings
from ._doccano_rows import Row, line_values, opened

_OTHER_LABEL_KEYS = frozenset(LABEL_KEYS) - {"label"}
_TYPED_KEYS = frozenset({"id", "text", "label", "Comments"})
_Id = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
"""The int64 range (the widest msgspec bounds): a larger id is left to orjson, which reads
ids up to 2**64 - 1 exactly and larger ones as floats, as the general path always did."""
_Start = Annotated[int, msgspec.Meta(ge=0)]
_Label = Annotated[str, msgspec.Meta(min_length=1)]
"""What _spans leaves to msgspec (or to _are_triples): checked in C while parsing."""


class _UsualRow(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A row of the usual shape without meta keys, as msgspec decodes it (untracked by the
    garbage collector: decoded JSON holds no cycles). msgspec checks the types, and the span
    bounds that do not depend on the text, while it parses."""

    id: _Id
    text: str
    label: list[str | tuple[_Start, int, _Label]]
    Comments: list[Any]


_decode_usual = msgspec.json.Decoder(_UsualRow).decode


def jsonl_records(file: ExportFile, settings: Settings) -> Iterator[Record]:
    """The record of each row of one JSONL file, in file order."""
    usual = UsualRows(file, settings)
    loads, where, typed = orjson.loads, file.where, True
    # `_idle`, the reader `opened` buffers for rows, is not read (`lines()` buffers for lines)
    # but held: freed, it would close `bounded`
    with opened(file) as (bounded, _idle):
        for number, raw in enumerate(bounded.lines(), start=1):
            try:
                record = usual.from_typed(_decode_usual(raw), number) if typed else None
            except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
                record = None  # not the usual shape, a blank line, a byte-order mark or an error
            if record is None:
                try:
                    values = loads(raw)
                except orjson.JSONDecodeError:
                    values = None
                if type(values) is not dict:
                    values = line_values(raw, number, where)
                    if values is None:
                        continue
                if typed and values.keys() != _TYPED_KEYS:
                    typed = False  # meta keys, most likely: every row will have them
                record = usual.from_dict(values, number)
                if record is None:
                    record = build_record([Row(values, file, line=number)], settings)
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
        labels, text = row.label, row.text
        if row.Comments:
            return None
        if not labels:
            regions: list[Region] | None = []  # doccano's "nobody labeled it"
        elif type(labels[0]) is str:
            regions = self._strings(labels)
        else:
            regions = _spans(labels, text)
        if regions is None:
            return None
        return Record(  # as _record does, inline: this runs for nearly every row
            id=str(row.id),
            source=Source(tool=TOOL, format=self._format, file=self._where, line=line),
            data={"text": text},
            annotations=[Annotation(annotator=self._annotator, regions=regions)] if regions else [],
        )

    def from_dict(self, values: dict[str, Any], line: int) -> Record | None:
        """The row's record, its own keys taken out of `values`, which becomes the data;
        None, `values` untouched, when the row is not of the usual shape."""
        ident, text, labels = values.get("id"), values.get("text"), values.get("label")
        comments = values.get("Comments")
        if type(ident) is not int or type(text) is not str or type(labels) is not list:
            return None
        if type(comments) is not list or comments or not _OTHER_LABEL_KEYS.isdisjoint(values):
            return None
        if not labels:
            regions: list[Region] | None = []
        elif type(labels[0]) is str:
            regions = self._strings(labels)
        else:
            regions = _spans(labels, text) if _are_triples(labels) else None
        if regions is None:
            return None
        del values["id"], values["label"], values["Comments"]  # the rest is data
        return self._record(ident, values, regions, line)

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


def _spans(triples: list[Any], text: str) -> list[Region] | None:
    """The spans of `(start, end, label)` triples of ints and a string whose start is not
    negative and whose label is not empty (msgspec checks that for `_UsualRow`, _are_triples
    for dicts), inside a text whose offsets mean the same in UTF-16 units and code points (no
    character outside the BMP: no conversion, no unit warning); None when one is not (or is
    not a triple).

    One comprehension builds and checks them (a triple that fails the check is left out, and
    the count says so), with no append call and no type check a triple: this runs for every
    span of the export."""
    if not text.isascii() and has_astral(text):
        return None
    size = len(text)
    try:
        spans: list[Region] = [
            Span(
                field="label",
                target="text",
                start=start,
                end=end,
                text=text[start:end],
                label=label,
            )
            for start, end, label in triples
            if start < end <= size
        ]
    except (TypeError, ValueError):  # a string among the triples: `label` mixes both kinds
        return None
    return spans if len(spans) == len(triples) else None


def _are_triples(items: list[Any]) -> bool:
    """Every item is `[start, end, label]` with int offsets (not bool, not float), a start
    that is not negative and a label that is a string, not empty: what msgspec checks of
    `_UsualRow`'s triples."""
    for item in items:
        if type(item) is not list or len(item) != 3:
            return False
        start, end, label = item
        if type(start) is not int or type(end) is not int or type(label) is not str:
            return False
        if start < 0 or not label:
            return False
    return True
