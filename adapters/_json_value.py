"""One JSON value at the start of a byte buffer: where it ends, and its parse.

orjson parses whole documents only, but it stops at the end of the first value with
"unexpected content after document" and reports where, and at a cut value with an error at
the very end of its input: `probe` uses both to find a value's end in one parse. For what
orjson refuses, `Scan` finds the end exactly (slowly: a regex step per string and bracket)
and `parse` falls back on Python's `json`, which reads NaN, Infinity and -Infinity
(`json.dump` writes them), numbers beyond a double (1e400 becomes inf) and lone surrogates
(`\\ud800`, which ijson turned into '?', become U+FFFD).
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import orjson

_QUOTE = ord('"')
_CONTAINER = b"{["
_SKIP = re.compile(rb'[^"{}\[\]]*')
"""Up to the next quote or bracket."""
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
"""Up to a string's closing quote, or a backslash the buffer cuts from what it escapes."""
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_DECODER = json.JSONDecoder()


def probe(window: bytes | bytearray) -> tuple[Any, int] | None:
    """The value `window` starts with (an object, array or string) and its length in bytes
    when the window holds all of it; None when the window ends inside it. ValueError or
    RecursionError when orjson and `json` refuse it (then `Scan` and `parse` tell why)."""
    try:
        return decode(window), len(window)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        pass
    try:  # only for where it stops: orjson's error names the position
        orjson.loads(window)
        stop = len(window)
    except orjson.JSONDecodeError as exc:
        stop = exc.pos if window.isascii() else _byte_offset(window, exc.pos)
        if stop >= len(window):
            return None
    try:  # the error is where the value ends, or inside it
        return decode(window[:stop]), stop
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        text = window.decode("utf-8")
        value, end = _DECODER.raw_decode(text)  # stops where the value ends
        return _clean(value, window), len(text[:end].encode("utf-8"))


def _byte_offset(window: bytes | bytearray, chars: int) -> int:
    """orjson counts characters; a window orjson refuses as UTF-8 gets its position 0."""
    return len(window.decode("utf-8", "replace")[:chars].encode("utf-8"))


class Scan:
    """Where a value that starts with a bracket or a quote ends, found without parsing; it
    goes on from where the buffer ended, so a long value costs linear time.

    `offset` is how far the scan got from the value's start, `depth` how deeply nested it
    is there, `in_string` whether inside a string."""

    def __init__(self) -> None:
        self.offset = 0
        self.depth = 0
        self.in_string = False

    def run(self, buf: bytearray, start: int) -> bool:
        """Scan on to the value's end (True, `offset` just past it) or the buffer's (False).
        Both patterns match the empty string, hence the ignores."""
        index, depth, in_string, size = start + self.offset, self.depth, self.in_string, len(buf)
        while True:
            if in_string:
                index = _STRING_BODY.match(buf, index).end()  # type: ignore[union-attr]
                if index >= size or buf[index] != _QUOTE:
                    break
                index += 1
                in_string = False
            elif (index := _SKIP.match(buf, index).end()) >= size:  # type: ignore[union-attr]
                break
            else:
                byte = buf[index]
                index += 1
                if byte == _QUOTE:
                    in_string = True
                    continue
                depth += 1 if byte in _CONTAINER else -1
            if not depth:
                self.offset = index - start
                return True
        self.offset, self.depth, self.in_string = index - start, depth, in_string
        return False


def decode(data: bytes | bytearray) -> Any:
    """msgspec's reading of `data`, refusing what is not UTF-8: some msgspec versions check
    less than orjson did (they take an encoded surrogate, which no output could then be
    written with), so their input is checked first. UnicodeDecodeError or
    msgspec.DecodeError when it refuses."""
    if not _CHECKS_UTF8 and not data.isascii():
        data.decode("utf-8")
    return msgspec.json.decode(data)


def _refuses(data: bytes) -> bool:
    try:
        msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return True
    return False


_CHECKS_UTF8 = all(
    _refuses(b'"%s"' % bad)
    for bad in (b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82")
)
"""Whether this msgspec refuses what is not UTF-8 itself (0.22 does: an encoded surrogate, an
overlong form, a code point past U+10FFFF, a cut sequence), sparing a second pass over
every non-ASCII stretch (about a tenth of the parse of a non-English export)."""


def parse(data: bytes | bytearray) -> Any:
    """One JSON value with msgspec (integers of any size stay exact, where orjson makes
    floats of those beyond 64 bits), or with `json` where it refuses (NaN); orjson's error,
    which names the position, when both refuse."""
    try:
        return decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        try:
            return _clean(json.loads(data.decode("utf-8")), data)  # strict: no surrogatepass
        except (ValueError, RecursionError):
            return orjson.loads(data)  # when it refuses too, its error names where


def _clean(value: Any, data: bytes | bytearray) -> Any:
    """`value`, which `json` read from `data`, without lone surrogates if `data` escapes
    a surrogate (a pair becomes one character, which stays)."""
    return _without_lone_surrogates(value) if b"\\ud" in data.lower() else value


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with lone surrogates in its strings replaced by U+FFFD: they cannot be
    written as UTF-8, so they would fail the output instead of this one character."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value
