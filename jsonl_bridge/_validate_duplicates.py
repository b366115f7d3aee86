"""Duplicate examples (W101) and leaks between the files of one run (W102), in 16 bytes per
example.

Each example is kept as a 64-bit hash of its canonical form (compact JSON with sorted keys, so
key order and spacing do not hide a duplicate) and where it was read, in two flat arrays. The
duplicates are found once every file is read, by sorting the hashes: a dictionary of Python
integers took 110-140 bytes per example, 1.4 GB for 10 million.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from jsonl_bridge._validate_codes import Finding

_LINE_BITS = 40
"""A place is `file index << 40 | line`: one integer, ordered as the files were read."""
_LINE_MASK = (1 << _LINE_BITS) - 1


class Duplicates:
    """The examples of a run, for W101 and W102 once all of them are read."""

    def __init__(self, files: Sequence[Path]):
        self.files = list(files)
        self._hashes = array("q")
        self._places = array("q")

    def add(self, value: Any, file_index: int, line: int) -> None:
        """Remember the example `value` read at `line` of file number `file_index`.

        The hash is Python's own of the canonical bytes (SipHash, keyed at random per process):
        it only has to agree with itself within one run, and costs a fraction of a hashlib
        digest. A value nested deeper than orjson's 255 levels is not remembered.
        """
        try:
            canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            return
        self._hashes.append(hash(canonical))
        self._places.append(file_index << _LINE_BITS | line)

    def findings(self) -> Iterator[tuple[int, int, Finding]]:
        """(file index, line, W101 or W102) for every example seen earlier in the run, in
        reading order. Called once, after the last `add`."""
        if len(self._hashes) < 2:
            return
        import numpy as np

        hashes = np.frombuffer(self._hashes, dtype=np.int64)
        places = np.frombuffer(self._places, dtype=np.int64)
        order = np.argsort(hashes, kind="stable")  # equal hashes stay in reading order
        ranked = hashes[order]
        repeat = np.empty(len(ranked), dtype=bool)
        repeat[0] = False
        np.equal(ranked[1:], ranked[:-1], out=repeat[1:])
        del ranked
        first = np.arange(len(order))  # for each sorted position, where its group starts
        first[repeat] = 0
        np.maximum.accumulate(first, out=first)
        later, earlier = places[order[repeat]], places[order[first[repeat]]]
        by_place = np.argsort(later, kind="stable")
        for place, seen in zip(later[by_place].tolist(), earlier[by_place].tolist(), strict=True):
            file_index, line = place >> _LINE_BITS, place & _LINE_MASK
            seen_file, seen_line = seen >> _LINE_BITS, seen & _LINE_MASK
            if seen_file == file_index:
                yield file_index, line, Finding("W101", f"the same example as line {seen_line}")
            else:
                where = f"{self.files[seen_file]}:{seen_line}"
                yield file_index, line, Finding("W102", f"the same example as {where}")
