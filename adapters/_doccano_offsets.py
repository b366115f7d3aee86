"""Doccano span offsets → Python `str` offsets.

Doccano stores offsets exactly as the client sent them and never checks them. Its browser UI
counts UTF-16 code units (JavaScript string indices, doccano issue #2290), while Python API
clients send code points; the two differ after every character outside the Basic Multilingual
Plane (emoji), which takes two UTF-16 units and one code point. The adapter's `offsets`
option says which one an export holds; spans are then checked against the text, because a
wrong guess shows up as spans outside the text or cutting an emoji in half.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Literal

OffsetUnit = Literal["utf16", "codepoints"]


class OffsetError(ValueError):
    """A span offset that does not denote a position of the text."""


class TextOffsets:
    """Converts the offsets of one text; the UTF-16 table is built only for texts that need
    it (those with astral characters), so plain texts cost one scan."""

    def __init__(self, text: str, unit: OffsetUnit):
        self.text = text
        self.unit = unit
        self._starts: list[int] | None = None
        if unit == "utf16" and any(ord(char) > 0xFFFF for char in text):
            self._starts = _utf16_starts(text)

    @property
    def length(self) -> int:
        """The text's length in the unit offsets are given in."""
        return self._starts[-1] if self._starts is not None else len(self.text)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """(start, end) as `str` indices; OffsetError unless 0 <= start < end <= length and
        both fall between characters."""
        if not 0 <= start < end <= self.length:
            unit = "UTF-16 code units" if self.unit == "utf16" else "code points"
            raise OffsetError(
                f"span [{start}, {end}] is not inside the text ({self.length} {unit}; "
                "start must be below end)"
            )
        return self._index(start), self._index(end)

    def _index(self, offset: int) -> int:
        if self._starts is None:
            return offset
        index = bisect_left(self._starts, offset)
        if self._starts[index] != offset:
            raise OffsetError(
                f"offset {offset} falls inside a surrogate pair (between the two UTF-16 units "
                f"of {self.text[index - 1]!r}); are the offsets code points? "
                "(--option offsets=codepoints)"
            )
        return index


def _utf16_starts(text: str) -> list[int]:
    """The UTF-16 offset where each character starts, plus the total length at the end."""
    starts, position = [0], 0
    for char in text:
        position += 2 if ord(char) > 0xFFFF else 1
        starts.append(position)
    return starts
