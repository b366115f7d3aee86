"""Stream the items of a top-level JSON array with orjson, one at a time, in bounded memory.

Why not ijson: its yajl backend took about four times as long as orjson to parse the same
tasks (docs/performance.md). orjson reads whole documents only, so this module finds where
items end and hands orjson exact slices:

- Fast path: a stretch of about `read_size / 32` bytes ending at a `}` that is followed by
  `,` or `]` and has as many `{` as `}` before it (two `bytes.count`) is parsed as
  `[` + stretch + `]` in one call. A cut anywhere but between two items leaves a container
  or a string open, which orjson refuses, so what it returns is exact even when strings hold
  braces; a refusal only sends that stretch to the slow path.
- Slow path, one item at a time: `_json_value.probe` (one orjson parse finds the end, a
  second parses the item), or for what orjson refuses its exact `Scan` and `parse`, which
  reads NaN, Infinity, 1e400 and lone surrogates with Python's `json`. Non-object items,
  items far larger than the ones before, and the stretch where the fast path failed take it.

Items are parsed with msgspec (faster than orjson here, and integers of any size stay exact:
orjson makes floats of those beyond 64 bits); orjson's errors say where a value stops. Nesting
deeper than 1024 is refused. Memory holds the item being read plus one read; an
item larger than MAX_TASK_BYTES is refused. Errors are InputError naming the file, the last
good item, the byte offset and the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

import msgspec
import orjson

from jsonl_bridge.errors import InputError

from . import _common
from ._json_value import Scan, decode, parse, probe

READ_SIZE = 1 << 20
"""The most bytes read at once (reads start at 64 KiB so that the first items come soon)."""
_FIRST_READ = 64 << 10
_FIRST_PROBE = 4096
"""The first window `probe` gets (twice the size of recent items when that is more)."""
_BOM = b"\xef\xbb\xbf"
_OPEN, _CLOSE, _COMMA, _QUOTE = b'[],"'
_CONTAINER = b"{["
_SPACE = re.compile(rb"[ \t\r\n]*")
_CUT = re.compile(rb"\}[ \t\r\n]*[,\]]")
_SCALAR = re.compile(rb"[^,\] \t\r\n]*")


def array_items(
    stream: IO[bytes], where: str, what: str = "item", read_size: int = READ_SIZE
) -> Iterator[Any]:
    """The items of the JSON array that `stream` holds (a UTF-8 byte-order mark and
    whitespace allowed around it), one at a time; InputError naming `where` and the `what`
    (task, row) when the file is not one."""
    return _ArrayReader(stream, where, what, read_size).items()


class _ArrayReader:
    """The buffer, where the next item starts, and what was read so far (for messages)."""

    def __init__(self, stream: IO[bytes], where: str, what: str, read_size: int):
        self.stream, self.where, self.what = stream, where, what
        self.read_size = read_size
        self.step = min(_FIRST_READ, read_size)
        self.batch = read_size >> 5
        """The fast path cuts a stretch at or after this many bytes."""
        self.typical = 0
        """The size of recent items: how much further a cut may be, how large a probe."""
        self.buf = bytearray()
        self.pos = 0
        self.base = 0
        """The file offset of buf[0]."""
        self.eof = False
        self.slow_until = 0
        """The file offset up to which items take the slow path (the fast one failed there)."""
        self.count = 0
        self.last: Any = None

    def items(self) -> Iterator[Any]:
        while len(self.buf) < len(_BOM) and self._more():
            pass
        if self.buf.startswith(_BOM):
            self.pos = len(_BOM)
        first = self._next_byte()
        if first != _OPEN:
            raise self._error("empty file" if first < 0 else self._not_an_array(first))
        self.pos += 1
        if self._next_byte() == _CLOSE:
            self.pos += 1
        else:
            while True:
                self._expect_value()
                batch = self._batch() if self.base + self.pos >= self.slow_until else None
                if batch is None:
                    item = self._one()
                    self.count += 1
                    self.last = item
                    yield item
                else:
                    self.count += len(batch)
                    self.last = batch[-1]
                    yield from batch
                if self._separator() == _CLOSE:
                    break
        if self._next_byte() >= 0:
            raise self._error(f"invalid JSON: content after the closing ']' at {self._place()}")

    # --- reading -------------------------------------------------------------------------

    def _more(self) -> bool:
        """Append the next read to what is not consumed yet; False at the end of the file."""
        if self.eof:
            return False
        data = self.stream.read(self.step)
        self.step = min(self.step * 2, self.read_size)
        if not data:
            self.eof = True
            return False
        del self.buf[: self.pos]
        self.base += self.pos
        self.pos = 0
        self.buf += data
        return True

    def _next_byte(self) -> int:
        """The next byte that is not whitespace, left unread; -1 at the end of the file."""
        while True:
            match = _SPACE.match(self.buf, self.pos)
            assert match is not None  # the pattern matches the empty string
            self.pos = match.end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return -1

    def _expect_value(self) -> None:
        byte = self._next_byte()
        if byte < 0:
            raise self._truncated("before the closing ']'")
        if byte in (_CLOSE, _COMMA):
            where = f"{self._after()}: expected a {self.what} at {self._place()}"
            raise self._error(f"invalid JSON {where} (a comma too many?)")

    def _separator(self) -> int:
        """Step over the `,` or `]` after an item; returns which."""
        byte = self._next_byte()
        if byte < 0:
            raise self._truncated("before the closing ']'")
        if byte not in (_COMMA, _CLOSE):
            where = f"{self._after()}: expected ',' or ']' at {self._place()}"
            raise self._error(f"invalid JSON {where}")
        self.pos += 1
        return byte

    # --- the fast path: several items in one orjson call ------------------------------------

    def _batch(self) -> list[Any] | None:
        """The items of the next stretch, or None: that stretch then takes the slow path."""
        limit = _common.MAX_TASK_BYTES
        while True:
            buf, start = self.buf, self.pos
            # the file's last stretch may be shorter than `batch`: cut anywhere in it
            tail = self.eof and len(buf) < start + self.batch
            cut_from = start if tail else start + self.batch
            # a stretch holds no item larger than the bound: such an item takes the slow path
            stop = min(cut_from + max(self.batch, 4 * self.typical), start + limit)
            end = _cut(buf, start, cut_from, min(stop, len(buf)))
            if end is not None:
                break
            if self.eof or len(buf) >= stop:
                self.slow_until = self.base + min(stop, len(buf))
                return None
            self._more()
        try:
            items: list[Any] = decode(b"".join((b"[", buf[start:end], b"]")))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            self.slow_until = self.base + end
            return None
        self.pos = end
        self.typical = (end - start) // len(items)
        return items

    # --- the slow path: one item alone ---------------------------------------------------

    def _one(self) -> Any:
        """The item at `pos`, found by a probe or else by `Scan`, and parsed alone."""
        first = self.buf[self.pos]
        found = self._probe() if first in _CONTAINER or first == _QUOTE else None
        if found is None:
            end = self._item_end()
            data = self.buf[self.pos : end]
            try:
                item = parse(data)
            except orjson.JSONDecodeError as exc:
                raise self._refused(data, self.pos, exc) from exc
        else:
            item, end = found
            if end - self.pos > _common.MAX_TASK_BYTES:  # the bound read_size can exceed
                raise self._too_large()
        self.typical = end - self.pos
        self.pos = end
        return item

    def _probe(self) -> tuple[Any, int] | None:
        """The item at `pos` and where it ends, from `probe` on a window that doubles until it
        holds the item, up to one read; None when that is not enough or both parsers refuse
        the item: `Scan` then finds its end without a copy, and `parse` tells what is wrong."""
        size = max(min(_FIRST_PROBE, self.read_size), 2 * self.typical)
        while size <= self.read_size:
            buf, start = self.buf, self.pos
            if len(buf) - start < size and not self.eof:
                self._more()
                continue
            end = min(start + size, len(buf))
            while end < len(buf) and buf[end] & 0xC0 == 0x80:  # not inside a UTF-8 sequence
                end -= 1
            try:
                found = probe(buf[start:end])
            except (ValueError, RecursionError):
                return None
            if found is not None:
                return found[0], start + found[1]
            if end == len(buf):  # the file ends inside the item
                return None
            size *= 2
        return None

    def _item_end(self) -> int:
        """Where the item starting at `pos` ends, found by `Scan` (or the end of a number or
        literal), reading as much as it takes."""
        scan = Scan()
        while True:
            buf, start = self.buf, self.pos
            first = buf[start]
            if first in _CONTAINER or first == _QUOTE:
                if scan.run(buf, start):
                    return start + scan.offset
            else:
                scalar = _SCALAR.match(buf, start + scan.offset)
                assert scalar is not None  # the pattern matches the empty string
                if scalar.end() < len(buf) or self.eof:
                    return scalar.end()
                scan.offset = scalar.end() - start
            if len(buf) - start > _common.MAX_TASK_BYTES:
                raise self._too_large()
            if not self._more() and (first in _CONTAINER or first == _QUOTE):
                raise self._truncated(f"inside the {self.what} that starts at {self._place()}")

    # --- messages ---------------------------------------------------------------------------

    def _refused(self, data: bytearray, start: int, exc: orjson.JSONDecodeError) -> InputError:
        """Why orjson and `json` refused the item `data` found at `start` in the buffer."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            where = f"{self._after()} at {self._place(start + bad.start)}"
            return self._error(f"not UTF-8 text {where}: {bad.reason}")
        if data[0] not in b'{["' and self.eof and start + len(data) == len(self.buf):
            return self._truncated(f"inside the {self.what} that starts at {self._place(start)}")
        at = start + len(text[: exc.pos].encode("utf-8"))  # orjson counts characters
        return self._error(f"invalid JSON {self._after()} at {self._place(at)}: {exc.msg}")

    def _truncated(self, where: str) -> InputError:
        return self._error(f"truncated JSON: the file ends {self._after()}, {where}")

    def _too_large(self) -> InputError:
        limit = _common.MAX_TASK_BYTES
        size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
        return self._error(
            f"refused: one {self.what} (from {self._place()}) is larger than {size}; "
            f"{self.what}s are read one at a time and this bounds the memory they take "
            "(docs/security.md)"
        )

    def _not_an_array(self, first: int) -> str:
        shown = repr(chr(first)) if first < 0x80 else f"byte 0x{first:02x}"
        return f"not a JSON array: it starts with {shown} at {self._place()}"

    def _after(self) -> str:
        if not self.count:
            return f"before the first {self.what}"
        last_id = self.last.get("id") if isinstance(self.last, dict) else None
        named = f" (id {last_id})" if last_id is not None else ""
        return f"after {self.what} [{self.count - 1}]{named}"

    def _place(self, index: int | None = None) -> str:
        """'byte offset N (line L)' of buf[index] (default: `pos`); the line only when the
        stream can be read again from its start, as a file can."""
        offset = self.base + (self.pos if index is None else index)
        if not self.stream.seekable():
            return f"byte offset {offset}"
        self.stream.seek(0)
        lines, left = 1, offset
        while left > 0 and (chunk := self.stream.read(min(left, 1 << 20))):
            lines += chunk.count(b"\n")
            left -= len(chunk)
        return f"byte offset {offset} (line {lines})"

    def _error(self, message: str) -> InputError:
        return InputError(message, where=self.where)


def _cut(buf: bytearray, start: int, cut_from: int, stop: int) -> int | None:
    """Just past a `}` followed by `,` or `]`, at or after `cut_from` and before `stop`, with
    as many `{` as `}` from `start` to there: most likely the end of an item; None if none."""
    match = _CUT.search(buf, cut_from, stop)
    if match is None:
        return None
    end = match.start() + 1
    depth = buf.count(b"{", start, end) - buf.count(b"}", start, end)
    while depth:
        match = _CUT.search(buf, end, stop)
        if match is None:
            return None
        cut = match.start() + 1
        depth += buf.count(b"{", end, cut) - buf.count(b"}", end, cut)
        end = cut
    return end
