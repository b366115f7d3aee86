"""Records of a first pass, kept on disk so that the second pass does not read the export again.

A mapping that lists the export's labels (`schema.labels`) when neither `labels.allowed` nor a
labeling config gives them needs a first pass over every record before the first example can
be rendered. Reading the export twice costs a second parse and a second build of every record
(about 50 µs a Label Studio task); decoding the record back from a temporary msgpack file costs
about 4 µs, with the record's types checked by the decoder. Memory stays flat: records are
written as they pass and read back one at a time.

Records are kept in blocks (`pack_block`): the blocks of a replay go to conversion worker
processes (jsonl_bridge/workers.py) as they are on disk (`Replay.blocks`), one bytes object a
block, so this process neither decodes the records a worker converts nor handles them one by
one.
"""

from __future__ import annotations

import errno
import os
import pickle
import struct
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import msgspec

from jsonl_bridge.records import Record

_HEADER = struct.Struct("<QB")
"""Each record: its length, then how it is encoded."""
_MSGPACK, _PICKLE = 0, 1

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Record).decode


def pack(record: Record) -> tuple[int, bytes]:
    """msgpack, or pickle for a record holding an integer beyond 64 bits (which msgpack
    cannot), so that every record comes back equal to what was packed."""
    try:
        return _MSGPACK, _encode(record)
    except OverflowError:
        return _PICKLE, pickle.dumps(record, protocol=5)


def unpack(kind: int, blob: bytes | memoryview) -> Record:
    """The record `pack` made (its types checked by the decoder when msgpack)."""
    record: Record = _decode(blob) if kind == _MSGPACK else pickle.loads(blob)
    return record


def pack_block(records: Iterable[Record]) -> bytes:
    """Records packed one after the other, each with its header: what `unpack_block` reads."""
    header = _HEADER.pack
    pieces: list[bytes] = []
    for record in records:
        kind, blob = pack(record)
        pieces += (header(len(blob), kind), blob)
    return b"".join(pieces)


def unpack_block(block: bytes) -> Iterator[Record]:
    """The records of a block, in order."""
    for record, _ in _walk(block):
        yield record


def _walk(block: bytes) -> Iterator[tuple[Record, int]]:
    """Each record of a block, with where the next one starts."""
    view, at, size, header = memoryview(block), 0, _HEADER.size, _HEADER.unpack_from
    while at < len(block):
        length, kind = header(block, at)
        start, at = at + size, at + size + length
        yield unpack(kind, view[start:at]), at


_BLOCK = struct.Struct("<Q")
"""Each block in the spool file: its length in bytes."""


class RecordSpool:
    """Write records once while they stream past (`keep`), read them back once (`replay`)."""

    def __init__(self, block_records: int, on_block: Callable[[bytes], None] | None = None) -> None:
        # closed by replay() or close(), or when the spool is dropped unreplayed (a
        # Conversion never iterated): it outlives this call
        # unbuffered: a block is written in one call, and read_at sees it at once
        self._file = tempfile.TemporaryFile(prefix="jsonl_bridge-spool-", buffering=0)  # noqa: SIM115
        weakref.finalize(self, self._file.close)
        self._block_records = block_records
        self._blocks = 0
        self._size = 0

    def keep(
        self, records: Iterable[Record], on_block: Callable[[int, int], None] | None = None
    ) -> Iterator[Record]:
        """`records`, unchanged, each written to the spool as it passes (a block at a time;
        `on_block` is told where each block is, for `read_at`)."""
        block: list[Record] = []
        for record in records:
            block.append(record)
            if len(block) == self._block_records:
                self._write(block, on_block)
                block = []
            yield record
        if block:
            self._write(block, on_block)

    def _write(self, records: list[Record], on_block: Callable[[int, int], None] | None) -> None:
        block = pack_block(records)
        data = _BLOCK.pack(len(block)) + block
        if self._file.write(data) != len(data):  # unbuffered: a short write is a full disk
            raise OSError(errno.ENOSPC, "the record spool could not be written in full")
        at, self._size = self._size + _BLOCK.size, self._size + len(data)
        self._blocks += 1
        if on_block is not None:
            on_block(at, len(block))

    def read_at(self, at: int, length: int) -> bytes:
        """A block `keep` wrote, without moving through the file (also in a forked process,
        which shares the file: jsonl_bridge/ahead.py)."""
        return os.pread(self._file.fileno(), length, at)

    def replay(self) -> Replay:
        """The kept records in the order they were kept; the spool is deleted at the end."""
        return Replay(self, self._file, self._blocks)

    def close(self) -> None:
        """Delete the spool without replaying it (the conversion was abandoned)."""
        self._file.close()


class Replay(Iterator[Record]):
    """The spooled records, decoded (iteration) or, from any point on, in blocks."""

    def __init__(self, owner: RecordSpool, spool: IO[bytes], blocks: int):
        self._owner = owner
        """Kept alive while replaying: dropping the spool closes its file."""
        self._spool = spool
        self._left = blocks
        self._started = False
        self._block = b""
        self._walk: Iterator[tuple[Record, int]] = iter(())
        self._at = 0
        """Where in `_block` the record `_walk` gives next starts."""

    def __next__(self) -> Record:
        for record, after in self._walk:
            self._at = after
            return record
        self._block, self._at = self._next_block(), 0
        self._walk = _walk(self._block)
        return next(self)

    def blocks(self) -> Iterator[bytes]:
        """The records not yet read, in blocks as `pack_block` made them."""
        if self._at < len(self._block):
            rest = self._block[self._at :]
            self._block, self._walk = b"", iter(())
            yield rest
        while True:
            try:
                yield self._next_block()
            except StopIteration:
                return

    def skip_blocks(self, count: int) -> None:
        """Pass over the first `count` blocks, not yet read (converted ahead)."""
        assert not self._started, "skip_blocks before reading"
        self._started = True
        spool = self._spool
        spool.flush()
        spool.seek(0)
        for _ in range(count):
            (length,) = _BLOCK.unpack(spool.read(_BLOCK.size))
            spool.seek(length, 1)
        self._left -= count

    def _next_block(self) -> bytes:
        spool = self._spool
        if not self._started:
            self._started = True
            spool.flush()
            spool.seek(0)
        if self._left <= 0:
            spool.close()
            raise StopIteration
        self._left -= 1
        (length,) = _BLOCK.unpack(spool.read(_BLOCK.size))
        return spool.read(length)
