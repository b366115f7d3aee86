"""Rows of the flat Label Studio exports: JSON_MIN array items, CSV and TSV lines.

CSV/TSV are read with the stdlib `csv` module in strict mode (a file cut inside a quoted cell
is an error, not a short last row), and each row remembers the physical line it starts on,
which stays right when a quoted cell spans several lines (pandas row numbers would not).
Label Studio writes CRLF line endings, quotes text, and JSON-encodes lists and objects.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonl_bridge.errors import InputError

from ._archive import csv_reader
from ._common import TaskBoundedStream


@dataclass(frozen=True)
class Row:
    """One row: its position (array index, or CSV data row plus physical start line)."""

    index: int
    values: Mapping[str, Any]
    line: int | None = None
    problem: str | None = None

    @property
    def cells(self) -> bool:
        """CSV/TSV: every value is text, lists and objects JSON-encoded, blanks are ''."""
        return self.line is not None

    def where(self, column: str | None = None) -> str:
        base = f"line {self.line}" if self.line is not None else f"/[{self.index}]"
        if column is None:
            return base
        return f"{base}: column {column!r}" if self.line is not None else f"{base}/{column}"


def json_rows(items: Iterable[Any]) -> Iterator[Row]:
    """JSON_MIN array items as rows; a non-object item becomes a row with a problem."""
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield Row(index, item)
        else:
            yield Row(index, {}, problem=f"/[{index}]: a row must be an object")


def csv_rows(path: Path, delimiter: str) -> Iterator[Row]:
    """CSV/TSV data rows with the physical line each starts on (cells may span lines)."""
    kind = "TSV" if delimiter == "\t" else "CSV"
    pending: Row | None = None
    with path.open("rb") as raw:
        bounded = TaskBoundedStream(raw, str(path), "row")
        stream = io.TextIOWrapper(io.BufferedReader(bounded), encoding="utf-8-sig", newline="")
        reader = csv_reader(stream, delimiter)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"empty {kind} file", where=str(path))
            _check_header(header, path, kind)
            previous_end = reader.line_num
            for index, cells in enumerate(reader):
                bounded.mark()
                start, previous_end = previous_end + 1, reader.line_num
                if not cells:
                    continue
                if pending is not None:
                    yield pending
                pending = _csv_row(index, start, header, cells)
        except csv.Error as exc:
            raise InputError(
                f"malformed {kind} (truncated?): {exc}", where=f"{path}:{reader.line_num}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not UTF-8 text near line {reader.line_num + 1}", where=str(path)
            ) from exc
    if pending is None:
        raise InputError(f"the {kind} export has a header but no rows", where=str(path))
    if pending.problem is not None and len(pending.values) < len(header):
        raise InputError(f"truncated {kind}: {pending.problem}", where=str(path))
    yield pending


def _check_header(header: list[str], path: Path, kind: str) -> None:
    columns = set(header)
    if "id" not in columns or not columns & {"annotation_id", "annotator"}:
        raise InputError(
            f"not a Label Studio {kind} export: the header has no 'id' and "
            "'annotation_id'/'annotator' columns",
            where=f"{path}:1",
        )


def _csv_row(index: int, line: int, header: list[str], cells: list[str]) -> Row:
    values = dict(zip(header, cells, strict=False))
    problem = None
    if len(cells) != len(header):
        problem = f"line {line}: expected {len(header)} cells, found {len(cells)}"
    return Row(index, values, line, problem)


def decode_cell(text: str) -> Any:
    """A CSV cell as Label Studio meant it: JSON lists and objects decoded, other text as is."""
    stripped = text.lstrip()
    if not stripped.startswith(("[", "{")):
        return text
    try:
        value = json.loads(stripped)
    except ValueError:
        return text
    return value if isinstance(value, list | dict) else text
