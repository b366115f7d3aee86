"""Records of a first pass, kept on disk so that the second pass does not read the export again.

A mapping that lists the export's labels (`schema.labels`) when neither `labels.allowed` nor a
labeling config gives them needs a first pass over every record before the first example can
be rendered. Reading the export twice costs a second parse and a second build of every record
(about 50 µs a Label Studio task); decoding the record back from a temporary msgpack file costs
about 4 µs, with the record's types checked by the decoder. Memory stays flat: records are
written as they pass and read back one at a time.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
import weakref
from collections.abc import Iterable, Iterator

import msgspec

from jsonl_bridge.records import Record

_HEADER = struct.Struct("<QB")
"""Each record: its length, then how it is encoded."""
_MSGPACK, _PICKLE = 0, 1


class RecordSpool:
    """Write records once while they stream past (`keep`), read them back once (`replay`).

    msgpack cannot hold an integer beyond 64 bits, which JSON data may have: such a record is
    pickled instead, so every record comes back equal to what was kept.
    """

    def __init__(self) -> None:
        # closed by replay() or close(), or when the spool is dropped unreplayed (a
        # Conversion never iterated): it outlives this call
        self._file = tempfile.TemporaryFile(prefix="jsonl_bridge-spool-")  # noqa: SIM115
        weakref.finalize(self, self._file.close)
        self._encode = msgspec.msgpack.Encoder().encode
        self._kept = 0

    def keep(self, records: Iterable[Record]) -> Iterator[Record]:
        """`records`, unchanged, each written to the spool as it passes."""
        write, encode, header = self._file.write, self._encode, _HEADER.pack
        for record in records:
            try:
                blob, kind = encode(record), _MSGPACK
            except OverflowError:
                blob, kind = pickle.dumps(record, protocol=5), _PICKLE
            write(header(len(blob), kind))
            write(blob)
            self._kept += 1
            yield record

    def replay(self) -> Iterator[Record]:
        """The kept records in the order they were kept; the spool is deleted at the end."""
        decode = msgspec.msgpack.Decoder(Record).decode
        spool, size = self._file, _HEADER.size
        try:
            spool.flush()
            spool.seek(0)
            for _ in range(self._kept):
                length, kind = _HEADER.unpack(spool.read(size))
                blob = spool.read(length)
                yield decode(blob) if kind == _MSGPACK else pickle.loads(blob)
        finally:
            spool.close()

    def close(self) -> None:
        """Delete the spool without replaying it (the conversion was abandoned)."""
        self._file.close()
