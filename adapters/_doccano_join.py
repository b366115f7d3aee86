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
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import groupby

from jsonl_bridge.errors import InputError

from ._doccano_input import ExportFile
from ._doccano_notes import Notices
from ._doccano_rows import Row, repeated_text_of

RowReader = Callable[[ExportFile], Iterator[Row]]


def example_groups(
    files: list[ExportFile], read_rows: RowReader, notices: Notices
) -> Iterator[list[Row]]:
    """The rows of each example, one per file that lists it, in user-name order."""
    if len(files) == 1:
        return ([row] for row in read_rows(files[0]))
    if files[0].format == "fasttext":
        return _join_by_index(files, read_rows, notices)
    return _join_in_order(files, read_rows)


def _join_in_order(files: list[ExportFile], read_rows: RowReader) -> Iterator[list[Row]]:
    # heapq.merge is stable: rows with one id come in file (user-name) order
    ascending = (_ascending(read_rows(file)) for file in files)
    merged = heapq.merge(*ascending, key=lambda pair: pair[0])
    for _, group in groupby(merged, key=lambda pair: pair[0]):
        yield [row for _, row in group]


def _ascending(file_rows: Iterator[Row]) -> Iterator[tuple[int, Row]]:
    previous: int | None = None
    for row in file_rows:
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


def _join_by_index(
    files: list[ExportFile], read_rows: RowReader, notices: Notices
) -> Iterator[list[Row]]:
    index: dict[str, list[Row]] = {}
    for file in files:
        for row in read_rows(file):
            labels = {key: value for key, value in row.values.items() if key != "text"}
            index.setdefault(row.values["id"], []).append(replace(row, values=labels))
    _check_repeats(index, notices)
    for file in files:
        if not index:
            return  # every example was emitted: the remaining files add nothing
        for row in read_rows(file):
            group = index.pop(row.values["id"], None)
            if group is not None:
                text = row.values["text"]
                yield [replace(other, values={**other.values, "text": text}) for other in group]


def _check_repeats(index: dict[str, list[Row]], notices: Notices) -> None:
    """A text repeated in the project is matched across files by its order in each (`-2` is
    the second); that holds only when every file lists every repeat, as the `all` export
    does. When some users' files list a repeat and others do not (approved-only), the n-th
    copy may be different examples in different files: say so."""
    for ident, group in index.items():
        first = repeated_text_of(ident)
        if first is None:
            continue
        users = {row.file.user for row in group}
        if users != {row.file.user for row in index.get(first, [])}:
            notices.once(
                "fasttext-repeats",
                f"{group[0].where()}: a text repeated in the project is listed a different "
                "number of times in different users' fastText files (an approved-only "
                "export?); fastText keeps no example ids, so its copies are matched by their "
                "order in each file and may pair different examples: export JSONL to keep ids",
            )
            return
