"""Doccano span offsets → Python `str` offsets.

Doccano stores offsets exactly as the client sent them and never checks them. Its browser UI
counts UTF-16 code units (JavaScript string indices, doccano issue #2290), while Python API
clients send code points; the two differ after every character outside the Basic Multilingual
Plane (emoji), which takes two UTF-16 units and one code point. The adapter's `offsets`
option says which one an export holds; spans are then checked against the text, because a
wrong guess shows up as spans outside the text or cutting an emoji in half.

A wrong guess that stays inside the text shifts the span by one position per emoji before
it: `misread` notices when the chosen reading starts or ends a span on white space or inside
a word while the other reading does not, so the adapter can name the other option.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Literal

OffsetUnit = Literal["utf16", "codepoints"]


class OffsetError(ValueError):
    """A span offset that does not denote a position of the text."""


class TextOffsets:
    """Converts the offsets of one text; the UTF-16 table is built only for texts with
    astral characters (where the two units differ), found by a C-speed scan."""

    def __init__(self, text: str, unit: OffsetUnit):
        self.text = text
        self.unit = unit
        self._starts: list[int] | None = None
        if has_astral(text):
            self._starts = _utf16_starts(text)
        self.units_differ = self._starts is not None
        """The text has astral characters: UTF-16 and code point offsets differ after one."""

    @property
    def length(self) -> int:
        """The text's length in the unit offsets are given in."""
        return self._length(self.unit)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """(start, end) as `str` indices; OffsetError unless 0 <= start < end <= length and
        both fall between characters."""
        if self._starts is None and 0 <= start < end <= len(self.text):
            return start, end  # the common case, first: both units agree on this text
        return self._span(start, end, self.unit)

    def misread(self, start: int, end: int) -> str | None:
        """The span's text in the other unit when only that reading starts and ends it
        cleanly (see module docstring); None when the readings agree or neither is clearer."""
        if self._starts is None:
            return None
        other: OffsetUnit = "codepoints" if self.unit == "utf16" else "utf16"
        try:
            here, there = self.span(start, end), self._span(start, end, other)
        except OffsetError:
            return None
        if here == there or not _ragged(self.text, *here) or _ragged(self.text, *there):
            return None
        return self.text[there[0] : there[1]]

    def _length(self, unit: OffsetUnit) -> int:
        return self._starts[-1] if unit == "utf16" and self._starts else len(self.text)

    def _span(self, start: int, end: int, unit: OffsetUnit) -> tuple[int, int]:
        length = self._length(unit)
        if not 0 <= start < end <= length:
            name = "UTF-16 code units" if unit == "utf16" else "code points"
            raise OffsetError(
                f"span [{start}, {end}] is not inside the text ({length} {name}; "
                "start must be below end)"
            )
        starts = self._starts
        if unit == "codepoints" or not starts:
            return start, end
        return self._index(starts, start), self._index(starts, end)

    def _index(self, starts: list[int], offset: int) -> int:
        index = bisect_left(starts, offset)
        if starts[index] != offset:
            raise OffsetError(
                f"offset {offset} falls inside a surrogate pair (between the two UTF-16 units "
                f"of {self.text[index - 1]!r}); are the offsets code points? "
                "(--option offsets=codepoints)"
            )
        return index


def has_astral(text: str) -> bool:
    """`text` has characters outside the Basic Multilingual Plane, after which UTF-16 and code
    point offsets differ. C-speed: most texts are ASCII (a flag of the string); of the others,
    those CPython stores with fewer than 4 bytes a character have none (its size says so, see
    `_four_byte_base`), and encoding the rest is several times faster than a regex search."""
    if text.isascii():
        return False
    if text.__sizeof__() < _FOUR_BYTE_BASE + 4 * (len(text) + 1):
        return False
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def _four_byte_base() -> int:
    """CPython stores a string with 1, 2 or 4 bytes a character, 4 as soon as one is outside
    the BMP, and `__sizeof__` gives that storage plus a fixed size (plus caches that only add):
    a string below fixed size + 4 × (length + 1) bytes has no astral character, which takes
    no look at its characters. An interpreter that stores strings otherwise and fails the
    check here gets a base no size is below: every non-ASCII text is then encoded."""
    base = chr(0x10000).__sizeof__() - 4 * 2
    probe = "é" * 40 + "\U0001f600"
    return base if probe.__sizeof__() >= base + 4 * (len(probe) + 1) else -(1 << 62)


_FOUR_BYTE_BASE = _four_byte_base()


def _ragged(text: str, start: int, end: int) -> bool:
    """The span starts or ends on white space, or cuts a word (letters or digits on both
    sides of a boundary): how a span shifted by an emoji or two looks."""
    if text[start].isspace() or text[end - 1].isspace():
        return True
    cuts_start = start > 0 and text[start - 1].isalnum() and text[start].isalnum()
    return cuts_start or (end < len(text) and text[end - 1].isalnum() and text[end].isalnum())


def _utf16_starts(text: str) -> list[int]:
    """The UTF-16 offset where each character starts, plus the total length at the end."""
    starts, position = [0], 0
    for char in text:
        position += 2 if ord(char) > 0xFFFF else 1
        starts.append(position)
    return starts
