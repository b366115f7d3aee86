"""Helpers every adapter needs: a cheap look at a file's first bytes, and tolerant number parsing.

Sniffing must stay cheap (`bridge convert` without `--from` asks every adapter), so adapters
read a bounded head of the file instead of opening it with a parser.
"""

from __future__ import annotations

import math
from pathlib import Path

HEAD_BYTES = 8192
"""How much of a file `sniff` functions may read."""

_BOM = b"\xef\xbb\xbf"
_SPACE = b" \t\r\n"


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
