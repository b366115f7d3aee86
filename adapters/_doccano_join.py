"""Per-user files → one group of rows per example, so that each example becomes one record.

Doccano writes one file per project member, each listing the examples in ascending example-id
order (every example with `all`, the user's confirmed ones with approved-only). Joining them
is therefore a k-way merge: one row per file is in memory at a time, however large the export.
A file out of that order cannot be merged and is refused, naming the file and line.

fastText rows have no id, only the text (the rows module names them by a hash of it), and
no order to merge by: they are joined through an index of the rows without their texts
(label and comment lists per user and example), then the files are read a second time to
emit each example, with its text, the first time it is met. Memory grows with the number of
examples, not with the size of their texts.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import replace
from itertools import groupby

from jsonl_bridge.errors import InputError

from ._doccano_input import ExportFile
from ._doccano_rows import Row, rows


def example_groups(files: list[ExportFile]) -> Iterator[list[Row]]:
    """The rows of each example, one per file that lists it, in user-name order."""
    if len(files) == 1:
        return ([row] for row in rows(files[0]))
    if files[0].format == "fasttext":
        return _join_by_index(files)
    return _join_in_order(files)


def _join_in_order(files: list[ExportFile]) -> Iterator[list[Row]]:
    # heapq.merge is stable: rows with one id come in file (user-name) order
    merged = heapq.merge(*(_ascending(file) for file in files), key=lambda pair: pair[0])
    for _, group in groupby(merged, key=lambda pair: pair[0]):
        yield [row for _, row in group]


def _ascending(file: ExportFile) -> Iterator[tuple[int, Row]]:
    previous: int | None = None
    for row in rows(file):
        ident = row.values.get("id")
        if type(ident) is not int:
            raise InputError(
                f"the row has no integer 'id' ({ident!r}); per-user files are joined by it",
                where=row.where(),
            )
        if previous is not None and ident <= previous:
            raise InputError(
                f"example id {ident} after {previous}: per-user files are joined by example id "
                "and must list it in ascending order, as doccano writes them",
                where=row.where(),
            )
        previous = ident
        yield ident, row


def _join_by_index(files: list[ExportFile]) -> Iterator[list[Row]]:
    index: dict[str, list[Row]] = {}
    for file in files:
        for row in rows(file):
            labels = {key: value for key, value in row.values.items() if key != "text"}
            index.setdefault(row.values["id"], []).append(replace(row, values=labels))
    for file in files:
        if not index:
            return  # every example was emitted: the remaining files add nothing
        for row in rows(file):
            group = index.pop(row.values["id"], None)
            if group is not None:
                text = row.values["text"]
                yield [replace(other, values={**other.values, "text": text}) for other in group]
