"""Records of a first pass, kept on disk so that the second pass does not read the export again.

A mapping that lists the export's labels (`schema.labels`) when neither `labels.allowed` nor a
labeling config gives them needs a first pass over every record before the first example can
be rendered. Reading the export twice costs a second parse and a second build of every record
(about 50 µs a Label Studio task); decoding the record back from a temporary msgpack file costs
about 4 µs, with the record's types checked by the decoder. Memory stays flat: records are
written as they pass and read back one at a time.

The same encoding (`pack`, `unpack`) carries records to conversion worker processes
(jsonl_bridge/workers.py); a replay hands them over still packed (`Replay.packed`), so this
process never decodes the records a worker converts.
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

Packed = tuple[int, bytes]
"""A record as (encoding, bytes): `pack` makes it, `unpack` reads it."""

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Record).decode


def pack(record: Record) -> Packed:
    """msgpack, or pickle for a record holding an integer beyond 64 bits (which msgpack
    cannot), so that every record comes back equal to what was packed."""
    try:
        return _MSGPACK, _encode(record)
    except OverflowError:
        return _PICKLE, pickle.dumps(record, protocol=5)


def unpack(packed: Packed) -> Record:
    """The record `pack` made (its types checked by the decoder when msgpack)."""
    kind, blob = packed
    record: Record = _decode(blob) if kind == _MSGPACK else pickle.loads(blob)
    return record


class RecordSpool:
    """Write records once while they stream past (`keep`), read them back once (`replay`)."""

    def __init__(self) -> None:
        # closed by replay() or close(), or when the spool is dropped unreplayed (a
        # Conversion never iterated): it outlives this call
        self._file = tempfile.TemporaryFile(prefix="jsonl_bridge-spool-")  # noqa: SIM115
        weakref.finalize(self, self._file.close)
        self._kept = 0

    def keep(self, records: Iterable[Record]) -> Iterator[Record]:
        """`records`, unchanged, each written to the spool as it passes."""
        write, header = self._file.write, _HEADER.pack
        for record in records:
            kind, blob = pack(record)
            write(header(len(blob), kind))
            write(blob)
            self._kept += 1
            yield record

    def replay(self) -> Replay:
        """The kept records in the order they were kept; the spool is deleted at the end."""
        return Replay(self, self._file, self._kept)

    def close(self) -> None:
        """Delete the spool without replaying it (the conversion was abandoned)."""
        self._file.close()


class Replay(Iterator[Record]):
    """The spooled records, decoded (iteration) or, from any point on, still packed."""

    def __init__(self, owner: RecordSpool, spool: IO[bytes], count: int):
        self._owner = owner
        """Kept alive while replaying: dropping the spool closes its file."""
        self._spool = spool
        self._left = count
        self._started = False

    def __next__(self) -> Record:
        return unpack(self._next_packed())

    def packed(self) -> Iterator[Packed]:
        """The records not yet read, as `pack` made them."""
        while True:
            try:
                yield self._next_packed()
            except StopIteration:
                return

    def _next_packed(self) -> Packed:
        spool = self._spool
        if not self._started:
            self._started = True
            spool.flush()
            spool.seek(0)
        if self._left <= 0:
            spool.close()
            raise StopIteration
        self._left -= 1
        length, kind = _HEADER.unpack(spool.read(_HEADER.size))
        return kind, spool.read(length)
