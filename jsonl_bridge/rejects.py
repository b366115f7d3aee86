"""The rejected tasks of a run, in memory only up to a point.

A large export can reject hundreds of thousands of tasks (a mapping that does not fit, a
missing image folder); keeping them all as objects would make memory grow with the export,
which the streaming pipeline otherwise never does. The first `IN_MEMORY` stay as they are;
the rest go to an anonymous temporary file (gone when the list is collected) and are read
back on demand. To the caller this is a read-only list.

A spilled reject is msgpack (about a tenth of pickling a dataclass, which took a third of
the time of a task that disagreed) when its values have exactly the declared types, so that
it reads back equal; anything else (a tuple of annotators, a 100-bit line number, a lone
surrogate in a detail) is pickled.
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from typing import IO, Any, overload

import msgspec

from jsonl_bridge.records import Source
from jsonl_bridge.report import Reject

IN_MEMORY = 1000

_MSGPACK, _PICKLE = b"m", b"p"
"""The first byte of each spilled reject: how the rest is encoded."""
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Reject).decode


class Rejects(Sequence[Reject]):
    """Append-only; indexing, iteration, `len` and `==` (with any sequence) as a list."""

    def __init__(self, in_memory: int = IN_MEMORY):
        self._kept: list[Reject] = []
        self._in_memory = in_memory
        self._spill: IO[bytes] | None = None
        self._offsets = array("q")
        """Where each spilled reject starts in `_spill`."""
        self._end = 0
        """Where the next one starts (the file's size, once buffered writes are flushed)."""
        self._appending = True
        """The file position is `_end` (no read moved it): appending needs no seek, which
        would flush the write buffer on every reject."""

    def append(self, reject: Reject) -> None:
        if len(self._kept) < self._in_memory:
            self._kept.append(reject)
            return
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="jsonl_bridge-rejects-")  # noqa: SIM115 (lives as long as the list)
        blob = _packed(reject)
        if blob is None:
            blob = _PICKLE + pickle.dumps(reject, protocol=pickle.HIGHEST_PROTOCOL)
        if not self._appending:
            self._spill.seek(self._end)
            self._appending = True
        self._spill.write(blob)
        self._offsets.append(self._end)
        self._end += len(blob)

    def __len__(self) -> int:
        return len(self._kept) + len(self._offsets)

    @overload
    def __getitem__(self, index: int) -> Reject: ...

    @overload
    def __getitem__(self, index: slice) -> list[Reject]: ...

    def __getitem__(self, index: int | slice) -> Reject | list[Reject]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("reject index out of range")
        if index < len(self._kept):
            return self._kept[index]
        return self._read(index - len(self._kept))

    def __iter__(self) -> Iterator[Reject]:
        yield from self._kept
        spilled = 0
        while spilled < len(self._offsets):  # as a list's iterator: appended ones too
            yield self._read(spilled)
            spilled += 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Rejects({len(self)} tasks)"

    def _read(self, spilled: int) -> Reject:
        """The `spilled`-th reject of the file."""
        assert self._spill is not None
        offsets = self._offsets
        start = offsets[spilled]
        end = offsets[spilled + 1] if spilled + 1 < len(offsets) else self._end
        self._appending = False
        self._spill.seek(start)
        blob = self._spill.read(end - start)
        if blob[:1] == _MSGPACK:
            return _decode(memoryview(blob)[1:])
        reject: Any = pickle.loads(memoryview(blob)[1:])  # our own file, written by append
        return reject  # type: ignore[no-any-return]


def _packed(reject: Reject) -> bytes | None:
    """`reject` as msgpack, when that reads back equal."""
    if not _plain(reject):
        return None
    try:
        return _MSGPACK + _encode(reject)
    except (OverflowError, UnicodeEncodeError):  # a 100-bit line, a lone surrogate
        return None


def _plain(reject: Reject) -> bool:
    """Whether msgpack gives `reject` back equal: every value of exactly its declared type
    (a subclass, a tuple for a list, would come back as the declared type instead)."""
    source = reject.source
    return (
        type(reject) is Reject
        and type(reject.id) is str
        and type(reject.reason) is str
        and type(reject.detail) is str
        and type(reject.annotators) is list
        and all(type(name) is str for name in reject.annotators)
        and type(source) is Source
        and type(source.tool) is str
        and type(source.format) is str
        and type(source.file) is str
        and (source.line is None or type(source.line) is int)
        and (source.pointer is None or type(source.pointer) is str)
    )
