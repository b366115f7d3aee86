"""Helpers every adapter needs: a cheap look at a file's first bytes, and tolerant number parsing.

Sniffing must stay cheap (`bridge convert` without `--from` asks every adapter), so adapters
read a bounded head of the file instead of opening it with a parser.
"""

from __future__ import annotations

import io
import math
import warnings
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from jsonl_bridge.errors import InputError
from jsonl_bridge.records import Record

from ._repeated_ids import RepeatedIds

HEAD_BYTES = 8192
"""How much of a file `sniff` functions may read."""

_BOM = b"\xef\xbb\xbf"
_SPACE = b" \t\r\n"


MAX_TASK_BYTES = 64 << 20
"""The most bytes one task may take in an export (a JSON task, a JSONL or CSV row, a CVAT
`<image>` or `<track>`): 64 MiB, far above real tasks (a long document, a video track with
thousands of shapes). Tasks are parsed one at a time, so this bounds memory whatever the
export holds, e.g. a 1 GB line or a 200 MB string: the parsers never get to hold them."""


_FIRST_READ = 64 * 1024


class TaskBoundedStream(io.RawIOBase):
    """A binary stream that refuses to be read more than MAX_TASK_BYTES past the last task
    boundary the reader marked (`mark()` after each task; for lines, see `lines()`): a
    streaming parser then never buffers a gigantic line, string or element whole; InputError
    names the file and where the oversized task starts.

    Reads start small after each mark (tasks come as soon as they are whole) and double while
    no task ends, up to what the parser asks for: yajl lexes a token cut by a read again from
    its start, so a long string costs (its size)² / (read size), and growing reads keep that
    near linear.
    """

    def __init__(self, stream: IO[bytes], where: str, what: str = "task"):
        self._stream = stream
        self._where = where
        self._what = what
        self._read = 0
        self._mark = 0
        self._step = _FIRST_READ
        self._line_tasks = False

    def mark(self) -> None:
        """A task ended: the next one starts counting from here."""
        self._mark = self._read
        self._step = _FIRST_READ

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._stream.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._read = self._mark = self._stream.seek(offset, whence)
        return self._read

    def tell(self) -> int:
        return self._read

    def readinto(self, buffer: Any) -> int:
        if self._read - self._mark > MAX_TASK_BYTES:
            raise InputError(
                f"refused: one {self._what} (from about byte {self._mark}) is larger than "
                f"{MAX_TASK_BYTES >> 20} MiB; tasks are read one at a time and this bounds the "
                "memory they take (docs/security.md)",
                where=self._where,
            )
        view = memoryview(buffer).cast("B")
        data = self._stream.read(min(len(view), self._step))
        view[: len(data)] = data
        if self._line_tasks and (end := data.rfind(b"\n")) >= 0:
            self._mark = self._read + end + 1
            self._step = _FIRST_READ
        else:
            self._step *= 2
        self._read += len(data)
        return len(data)

    def lines(self) -> io.BufferedReader:
        """This stream buffered for a reader of lines that are tasks (JSONL) and that does not
        `mark()` them: the stream marks where the last line it read ends, which costs a search
        of each read where `mark()` costs a Python call a line. Reads are of 64 KiB, not the
        default 8 KiB, which would call `readinto` every 16 lines of 500 bytes."""
        self._line_tasks = True
        return io.BufferedReader(self, _FIRST_READ)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of a regular file; b"" for directories and unreadable paths."""
    try:
        if not path.is_file():
            return b""
        with path.open("rb") as stream:
            return stream.read(size)
    except OSError:
        return b""


def content_start(head: bytes) -> int:
    """Offset of the first byte that is neither a UTF-8 byte-order mark nor whitespace."""
    start = len(_BOM) if head.startswith(_BOM) else 0
    while start < len(head) and head[start] in _SPACE:
        start += 1
    return start


def first_line(head: bytes) -> str:
    """The first line of `head` as text (BOM dropped, undecodable bytes replaced)."""
    text = head[len(_BOM) :] if head.startswith(_BOM) else head
    line = text.split(b"\n", 1)[0].rstrip(b"\r")
    return line.decode("utf-8", errors="replace")


def to_number(value: object) -> float | None:
    """A finite float from a JSON number or a numeric CSV cell; None for blanks and junk."""
    kind = type(value)
    if kind is int:  # the common case first: this runs for every coordinate and offset
        return float(value)  # type: ignore[arg-type]
    if kind is float:
        return value if math.isfinite(value) else None  # type: ignore[arg-type,return-value]
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def to_id(value: object) -> str | None:
    """An identifier as text: 3 → "3", 3.0 → "3", "" and None → None."""
    if type(value) is str:
        return value or None
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def warn_repeated_ids(records: Iterable[Record], where: str) -> Iterator[Record]:
    """`records`, unchanged, and one warning at the end when task ids repeat.

    Each task is still converted (two exports pasted together are two sets of good tasks), but
    the id names a task in the rejects file and decides its --split, so repeats deserve a
    word. Exports list their tasks by increasing id, and an id above every earlier one (by
    length, then text: "10" follows "9") cannot repeat: while the ids grow, only their hashes
    are appended to an array (8 bytes a task, where a set took about 70 and, inserting at
    random places of megabytes, a tenth of a doccano read at 100,000 tasks). The first id
    that does not grow hands the hashes to `RepeatedIds`, which keeps about as little.
    """
    grown = array("q")
    check: RepeatedIds | None = None
    top_length, top = -1, ""  # the largest id so far
    try:
        for record in records:
            ident = record.id
            if check is None:
                length = len(ident)
                if length > top_length or (length == top_length and ident > top):
                    top_length, top = length, ident
                    grown.append(hash(ident))
                    yield record
                    continue
                check, grown = RepeatedIds(grown), array("q")
            check.add(ident)
            yield record
    finally:  # also when the reader stops early (--limit closes the stream)
        if check is not None:
            check.finish()
            if check.repeats:
                warnings.warn(
                    f"{where}: {check.repeats} task(s) repeat the id of an earlier task "
                    f"(first: {check.first!r}); each is converted, but ids name tasks in the "
                    "rejects file and choose their --split",
                    stacklevel=2,
                )
