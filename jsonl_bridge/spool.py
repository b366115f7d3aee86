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

import pickle
import struct
import tempfile
import weakref
from collections.abc import Iterable, Iterator
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

    def __init__(self, block_records: int) -> None:
        # closed by replay() or close(), or when the spool is dropped unreplayed (a
        # Conversion never iterated): it outlives this call
        self._file = tempfile.TemporaryFile(prefix="jsonl_bridge-spool-")  # noqa: SIM115
        weakref.finalize(self, self._file.close)
        self._block_records = block_records
        self._blocks = 0

    def keep(self, records: Iterable[Record]) -> Iterator[Record]:
        """`records`, unchanged, each written to the spool as it passes (a block at a
        time)."""
        block: list[Record] = []
        for record in records:
            block.append(record)
            if len(block) == self._block_records:
                self._write(block)
                block = []
            yield record
        if block:
            self._write(block)

    def _write(self, records: list[Record]) -> None:
        block = pack_block(records)
        self._file.write(_BLOCK.pack(len(block)) + block)
        self._blocks += 1

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
