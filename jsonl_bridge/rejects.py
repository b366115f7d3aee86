"""The rejected tasks of a run, in memory only up to a point.

A large export can reject hundreds of thousands of tasks (a mapping that does not fit, a
missing image folder); keeping them all as objects would make memory grow with the export,
which the streaming pipeline otherwise never does. The first `IN_MEMORY` stay as they are;
the rest are pickled to an anonymous temporary file (gone when the list is collected) and
read back on demand. To the caller this is a read-only list.
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from typing import IO, Any, overload

from jsonl_bridge.report import Reject

IN_MEMORY = 1000


class Rejects(Sequence[Reject]):
    """Append-only; indexing, iteration, `len` and `==` (with any sequence) as a list."""

    def __init__(self, in_memory: int = IN_MEMORY):
        self._kept: list[Reject] = []
        self._in_memory = in_memory
        self._spill: IO[bytes] | None = None
        self._offsets = array("q")
        """Where each spilled reject starts in `_spill`."""

    def append(self, reject: Reject) -> None:
        if len(self._kept) < self._in_memory:
            self._kept.append(reject)
            return
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="jsonl_bridge-rejects-")  # noqa: SIM115 (lives as long as the list)
        self._spill.seek(0, 2)
        self._offsets.append(self._spill.tell())
        pickle.dump(reject, self._spill, protocol=pickle.HIGHEST_PROTOCOL)

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
        return self._read(self._offsets[index - len(self._kept)])

    def __iter__(self) -> Iterator[Reject]:
        yield from self._kept
        for offset in self._offsets:
            yield self._read(offset)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Rejects({len(self)} tasks)"

    def _read(self, offset: int) -> Reject:
        assert self._spill is not None
        self._spill.seek(offset)
        reject: Any = pickle.load(self._spill)  # our own file, written by append above
        return reject  # type: ignore[no-any-return]
