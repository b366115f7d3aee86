"""Rows of one doccano export file, in every format, as the dicts the JSONL export holds.

- JSONL: one object a line (pandas `to_json(lines=True)`); streamed line by line.
- JSON: the same objects as one array on a single line; streamed item by item with ijson.
- CSV: `id,<data key>,<meta...>,label,Comments`; the label and comment lists are joined with
  `#` after sorting, so they are split again here (see `split_joined`). A label (or summary,
  or comment) that itself contains `#` cannot always be told apart from two: a warning says
  so, once per export, when a cell could be read either way. Cells may span lines; each row
  keeps the physical line it starts on.
- fastText (document classification only): `__label__A __label__B <text> __comment__<c>`,
  written by pandas `to_csv`, so a line holding a comma, quote or newline is quoted and may
  span lines. No id and no metadata: the text is the only key, so a row's id is a hash of
  its text (see `_text_id`).

Whatever the format, a file that cannot be parsed raises InputError naming file and line;
an empty file (doccano writes `\\n` or `[]` for a user who confirmed nothing) has no rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import ijson
import orjson

from jsonl_bridge.errors import InputError

from ._archive import csv_reader, utf8_lines
from ._common import TaskBoundedStream, content_start
from ._doccano_input import ExportFile, Format
from ._doccano_notes import Notices

JOINED_KEYS = ("label", "Comments")
"""The CSV columns whose lists doccano joins with `#`."""
_BOM = b"\xef\xbb\xbf"
_BUFFER = 4 << 20
"""The most ijson reads at once: yajl re-lexes a token cut by a read, so a huge string costs
(size)² / (read size); reads growing to 4 MB keep a 64 MB one (the row limit) under a second."""
_LABEL_TOKEN = "__label__"
_COMMENT_SEPARATOR = " __comment__"


@dataclass(frozen=True, slots=True)
class Row:
    """One example as one file holds it, and where: a line, or an array index for JSON."""

    values: dict[str, Any]
    file: ExportFile
    line: int | None = None
    pointer: str | None = None

    def where(self) -> str:
        """`file:line` or `file [/[index]]`, as every message names it."""
        if self.line is not None:
            return f"{self.file.where}:{self.line}"
        return f"{self.file.where} [{self.pointer}]"


def rows(
    file: ExportFile, notices: Notices | None = None, texts: bool = False
) -> Generator[Row, None, None]:
    """Stream the rows of `file`; InputError when it is not that format. `notices` hears of
    CSV cells that '#' splits ambiguously; `texts`: the `label` strings are free texts, which
    may hold '#' anywhere, not category names."""
    with opened(file) as (bounded, stream):
        if file.format == "csv":
            found = _csv_rows(stream, file, notices or Notices(quiet=True), texts)
        else:
            found = _READERS[file.format](stream, file)
        for row in found:
            bounded.mark()
            yield row


@contextmanager
def opened(file: ExportFile) -> Iterator[tuple[TaskBoundedStream, IO[bytes]]]:
    """`file` as a buffered stream whose reader must `mark()` the bound after each row (see
    TaskBoundedStream); a read that fails inside the block raises InputError naming the file."""
    try:
        with file.open() as raw:
            bounded = TaskBoundedStream(raw, file.where, "row")
            yield bounded, io.BufferedReader(bounded)
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", where=file.where) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as exc:
        raise InputError(f"cannot read (a damaged file or zip?): {exc}", where=file.where) from exc


def _jsonl_rows(stream: IO[bytes], file: ExportFile) -> Iterator[Row]:
    for number, raw in enumerate(stream, start=1):
        values = line_values(raw, number, file.where)
        if values is not None:
            yield Row(values, file, line=number)


def line_values(raw: bytes, number: int, where: str) -> dict[str, Any] | None:
    """The object on line `number` of a JSONL file; None for a blank line; InputError naming
    `where:number` for anything else."""
    if number == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw.strip():
        return None
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(_why_not_json(raw, exc), where=f"{where}:{number}") from exc
    if not isinstance(values, dict):
        raise InputError("a JSONL line must be an object", where=f"{where}:{number}")
    return values


def _json_rows(stream: IO[bytes], file: ExportFile) -> Iterator[Row]:
    head = stream.read(64)
    start = content_start(head)
    if start >= len(head):
        return  # an empty file: nothing exported
    if head[start : start + 1] != b"[":
        raise InputError("not a doccano JSON export (an array of objects)", where=file.where)
    stream.seek(start)  # past a byte-order mark, which ijson does not expect
    index = -1
    try:
        items = ijson.items(stream, "item", use_float=True, buf_size=_BUFFER)
        for index, item in enumerate(items):
            pointer = f"/[{index}]"
            if not isinstance(item, dict):
                where = f"{file.where} [{pointer}]"
                raise InputError("an array item must be an object", where=where)
            yield Row(item, file, pointer=pointer)
    except ijson.JSONError as exc:
        after = f"after item [{index}]" if index >= 0 else "before the first item"
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # yajl adds a caret
        raise InputError(f"invalid or truncated JSON {after}: {detail}", where=file.where) from exc


def _why_not_json(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8 text: {bad.reason}"
    cut = "truncated? " if not raw.endswith(b"\n") else ""
    return f"invalid JSON ({cut}{exc.msg})"


def _csv_rows(stream: IO[bytes], file: ExportFile, notices: Notices, texts: bool) -> Iterator[Row]:
    reader = csv_reader(utf8_lines(stream, file.where))
    try:
        header: list[str] = next(reader, [])
        if header and not _doccano_header(set(header)):
            raise InputError(
                "not a doccano CSV export: its header has not doccano's 'id', 'text' (or "
                "'filename') and 'label' columns, or has Label Studio's 'annotator'/"
                "'annotation_id'",
                where=f"{file.where}:1",
            )
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells:
                continue
            if len(cells) != len(header):
                raise InputError(
                    f"{len(cells)} cells for {len(header)} columns", where=f"{file.where}:{start}"
                )
            values: dict[str, Any] = dict(zip(header, cells, strict=True))
            if values.get("id", "").isdigit():
                values["id"] = int(values["id"])
            for key in JOINED_KEYS:
                if key in values:
                    cell = values[key]
                    values[key] = split_joined(cell)
                    free_text = key == "Comments" or texts
                    if "#" in cell and (free_text or len(values[key]) < cell.count("#") + 1):
                        _warn_joined(notices, f"{file.where}:{start}", key, cell, values[key])
            yield Row(values, file, line=start)
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV (truncated?): {exc}", where=f"{file.where}:{reader.line_num}"
        ) from exc


def _doccano_header(columns: set[str]) -> bool:
    """What doccano's CSV export always writes, and nothing only Label Studio's does."""
    has_data = bool(columns & {"text", "filename"})
    return {"id", "label"} <= columns and has_data and not columns & {"annotator", "annotation_id"}


def split_joined(cell: str) -> list[str]:
    """A `#`-joined CSV cell → its items, never an empty one: a `#` next to a separator (an
    empty piece) belongs to the item before it, or after it at the start (`C#` → [C#],
    `C##Python` → [C#, Python], `#C` → [#C])."""
    if not cell:
        return []
    pieces = cell.split("#")
    items = [pieces[0]]
    for piece in pieces[1:]:
        if piece and items[-1]:
            items.append(piece)
        else:
            items[-1] += "#" + piece
    return items


def _warn_joined(notices: Notices, where: str, key: str, cell: str, items: list[str]) -> None:
    """A cell '#' may have split wrongly: free texts and comments may hold '#' anywhere;
    category names are read whole unless a '#' stood next to another (an empty piece)."""
    notices.once(
        "csv-hash",
        f"{where}: doccano's CSV joins several labels (and comments) with '#', so one that "
        f"contains '#' cannot be told from several: {key} {cell!r} is read as {items!r}; "
        "export JSONL to keep such labels whole",
    )


def _fasttext_rows(stream: IO[bytes], file: ExportFile) -> Iterator[Row]:
    reader = csv_reader(utf8_lines(stream, file.where))
    seen: Counter[str] = Counter()
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells:
                continue
            # pandas quotes every line holding a comma, so a line is one cell; a hand-written
            # unquoted comma splits it, and joining restores it
            values = _fasttext_values(",".join(cells))
            values["id"] = _text_id(values["text"], seen)
            yield Row(values, file, line=start)
    except csv.Error as exc:
        raise InputError(
            f"malformed fastText line (truncated quote?): {exc}",
            where=f"{file.where}:{reader.line_num}",
        ) from exc


def _text_id(text: str, seen: Counter[str]) -> str:
    """fastText has no example id: the text names the example (`text-<sha256 prefix>`, and
    `-2`, `-3`... for repeats), the same in every user's file."""
    ident = "text-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    seen[ident] += 1
    return ident if seen[ident] == 1 else f"{ident}-{seen[ident]}"


def repeated_text_of(ident: str) -> str | None:
    """The id of the first copy when `ident` names a later copy of a repeated text."""
    first, dash, ordinal = ident.rpartition("-")
    return first if dash and ordinal.isdigit() and first.startswith("text-") else None


def _fasttext_values(line: str) -> dict[str, Any]:
    """`__label__A __label__B <text> __comment__c1 __comment__c2` → text, labels, comments.

    Doccano writes the labels, a space, the text, a space, then the comments, so an example
    without labels starts with a space and one without comments ends with one.
    """
    labels = []
    rest = line
    while rest.startswith(_LABEL_TOKEN):
        token, _, rest = rest.partition(" ")
        labels.append(token[len(_LABEL_TOKEN) :])
    if not labels and rest.startswith(" "):
        rest = rest[1:]
    text, separator, comments = rest.partition(_COMMENT_SEPARATOR)
    if not separator and text.endswith(" "):
        text = text[:-1]
    notes = comments.split(_COMMENT_SEPARATOR) if separator else []
    return {"text": text, "label": labels, "Comments": notes}


_READERS: dict[Format, Callable[[IO[bytes], ExportFile], Iterator[Row]]] = {
    "jsonl": _jsonl_rows,
    "json": _json_rows,
    "fasttext": _fasttext_rows,
}
