"""Rows of one doccano export file, in every format, as the dicts the JSONL export holds.

- JSONL: one object a line (pandas `to_json(lines=True)`); streamed line by line.
- JSON: the same objects as one array on a single line; streamed item by item with ijson.
- CSV: `id,<data key>,<meta...>,label,Comments`; the label and comment lists are joined with
  `#` after sorting, so they are split again here. A label (or summary, or comment) that
  itself contains `#` cannot be told apart from two: a warning says so once per file.
  Cells may span lines; each row keeps the physical line it starts on.
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
import json
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from jsonl_bridge.errors import InputError

from ._common import content_start
from ._doccano_input import ExportFile, Format

JOINED_KEYS = ("label", "Comments")
"""The CSV columns whose lists doccano joins with `#`."""
_FIELD_LIMIT = 2**31 - 1
"""csv's default 128 KB cell limit is too small for long documents; C long is 32-bit on Windows."""
_LABEL_TOKEN = "__label__"
_COMMENT_SEPARATOR = " __comment__"


@dataclass(frozen=True)
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


def rows(file: ExportFile, *, warn: bool = True) -> Iterator[Row]:
    """Stream the rows of `file`; InputError when it is not that format. `warn`: say when a
    CSV cell holds '#' (off for a look ahead, so that the warning comes once)."""
    try:
        with file.open() as stream:
            if file.format == "csv":
                yield from _csv_rows(stream, file, warn)
            else:
                yield from _READERS[file.format](stream, file)
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", where=file.where) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"cannot read (a damaged file or zip?): {exc}", where=file.where) from exc


def _jsonl_rows(stream: IO[bytes], file: ExportFile) -> Iterator[Row]:
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as exc:
            cut = "truncated? " if not raw.endswith(b"\n") else ""
            raise InputError(
                f"invalid JSON ({cut}{exc.msg})", where=f"{file.where}:{number}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not UTF-8 text: {exc.reason}", where=f"{file.where}:{number}"
            ) from exc
        if not isinstance(values, dict):
            raise InputError("a JSONL line must be an object", where=f"{file.where}:{number}")
        yield Row(values, file, line=number)


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
        for index, item in enumerate(ijson.items(stream, "item", use_float=True)):
            pointer = f"/[{index}]"
            if not isinstance(item, dict):
                where = f"{file.where} [{pointer}]"
                raise InputError("an array item must be an object", where=where)
            yield Row(item, file, pointer=pointer)
    except ijson.JSONError as exc:
        after = f"after item [{index}]" if index >= 0 else "before the first item"
        raise InputError(f"invalid or truncated JSON {after}: {exc}", where=file.where) from exc


def _table(stream: IO[bytes]) -> Any:
    """A strict csv reader over the UTF-8 text of `stream` (cells may span lines)."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    return csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), strict=True)


def _csv_rows(stream: IO[bytes], file: ExportFile, warn: bool) -> Iterator[Row]:
    reader = _table(stream)
    warned = not warn
    try:
        header: list[str] = next(reader, [])
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
                    values[key] = cell.split("#") if cell else []
                    if not warned and "#" in cell:
                        warned = True
                        _warn_joined(file)
            yield Row(values, file, line=start)
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV (truncated?): {exc}", where=f"{file.where}:{reader.line_num}"
        ) from exc


def _warn_joined(file: ExportFile) -> None:
    warnings.warn(
        f"{file.where}: doccano's CSV joins several labels (and comments) with '#', so a label "
        "containing '#' is read as several; export JSONL to keep such labels whole",
        stacklevel=2,
    )


def _fasttext_rows(stream: IO[bytes], file: ExportFile) -> Iterator[Row]:
    reader = _table(stream)
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
