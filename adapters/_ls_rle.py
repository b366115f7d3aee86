"""The tight box of a Label Studio brush mask, read straight from its `value.rle` bytes.

A brush result's `rle` is the byte list of a bit-packed run-length encoding (the frontend
encodes the canvas with @thi.ng/rle-pack) of the whole image's RGBA values, row by row:
width * height * 4 values, a pixel painted where its alpha (value index ≡ 3 mod 4) is nonzero.

Format, as confirmed against thi-ng/umbrella `packages/rle-pack/src/binary.ts` (encodeBinary /
decodeBinary) and HumanSignal/label-studio-converter `label_studio_converter/brush.py`
(decode_rle, encode_rle), all fields MSB first:

    32 bits  num, the number of values
     5 bits  word_size - 1
    4 x 4    rle_sizes[k] - 1: the bit widths of the four length classes
    chunks until num values: 1 bit run flag, 2 bits length class k, count - 1 in rle_sizes[k]
    bits, then one word (a run: the value repeated count times) or count words (literals)

Decoding to a value list would cost width * height * 4 Python ints (48M for a 4000 x 3000
photo), so runs are turned into pixel ranges arithmetically and only literal alpha words are
looked at. A value counts as painted when nonzero: the converter's uint8 alpha `> 0`, and the
frontend's clamped canvas alpha, agree on that for every word size.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._ls_values import ResultError

Bbox = tuple[int, int, int, int]


class _Bits:
    """A big-endian bit reader over bytes: a few bytes per read, never the whole stream."""

    __slots__ = ("data", "limit", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.limit = len(data) * 8

    def need(self, count: int) -> None:
        if self.pos + count > self.limit:
            raise ResultError(
                f"brush 'rle' is truncated: {len(self.data)} bytes end inside the encoding"
            )

    def read(self, count: int) -> int:
        self.need(count)
        start, end = self.pos, self.pos + count
        last = (end + 7) >> 3
        window = int.from_bytes(self.data[start >> 3 : last], "big")
        self.pos = end
        return (window >> ((last << 3) - end)) & ((1 << count) - 1)

    def bytes_at(self, count: int) -> bytes:
        """`count` 8-bit words from the current position (any bit alignment), as bytes."""
        self.need(count * 8)
        first, shift = self.pos >> 3, self.pos & 7
        self.pos += count * 8
        if not shift:
            return self.data[first : first + count]
        # count + 1 bytes hold the words; drop the 8 - shift trailing bits and the leading byte
        window = int.from_bytes(self.data[first : first + count + 1], "big") >> (8 - shift)
        return window.to_bytes(count + 1, "big")[1:]


class _Envelope:
    """The painted pixels' envelope so far, grown by pixel-index ranges."""

    __slots__ = ("bottom", "left", "right", "top", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.left, self.top, self.right, self.bottom = width, -1, -1, -1

    def paint(self, first: int, last: int) -> None:
        """Pixels first..last (inclusive, row-major indices); an empty range is ignored."""
        if first > last:
            return
        row, col = divmod(first, self.width)
        last_row, last_col = divmod(last, self.width)
        if last_row > row:  # spans a row end and a row start: every column
            col, last_col = 0, self.width - 1
        if self.top < 0:
            self.top = row
        self.bottom = last_row  # ranges arrive in increasing order
        self.left = min(self.left, col)
        self.right = max(self.right, last_col)

    def box(self) -> Bbox | None:
        if self.top < 0:
            return None
        return self.left, self.top, self.right + 1, self.bottom + 1


def ls_rle_bbox(rle: Sequence[int], width: int, height: int) -> Bbox | None:
    """Tight envelope (x1, y1, x2, y2) of the painted pixels, in pixel edges (a pixel at column
    c covers [c, c + 1)); None when nothing is painted.

    Raises ResultError when `rle` is not bytes, encodes another image size, or ends early.
    """
    try:
        data = bytes(rle)
    except (TypeError, ValueError):
        raise ResultError("brush 'rle' must hold byte values 0-255") from None
    bits = _Bits(data)
    num = bits.read(32)
    if num != width * height * 4:
        raise ResultError(f"brush mask encodes {num} values, the image has {width} x {height} x 4")
    word_size = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    envelope = _Envelope(width)
    start = 0
    while start < num:
        is_run = bits.read(1)
        stop = start + 1 + bits.read(sizes[bits.read(2)])
        # rle-pack never overshoots num; if a stream does, the decoders drop the excess
        end = min(stop, num)
        if is_run:
            # alpha indices 4p + 3 in [start, end) are the pixels start // 4 .. end // 4 - 1
            if bits.read(word_size):
                envelope.paint(start >> 2, (end >> 2) - 1)
        elif word_size == 8:
            _paint_literal_bytes(envelope, start, bits.bytes_at(end - start))
        else:
            _paint_literal_words(envelope, start, end, bits, word_size)
        start = stop
    return envelope.box()


def _paint_literal_bytes(envelope: _Envelope, start: int, values: bytes) -> None:
    """8-bit literals (what Label Studio writes): alphas scanned with C-speed strip per row."""
    skip = (3 - start) & 3  # first alpha index in the chunk is start + skip
    alphas = values[skip::4]
    if not alphas.strip(b"\0"):
        return
    pixel, width = (start + skip) >> 2, envelope.width
    at = 0
    while at < len(alphas):
        row_end = min(len(alphas), at + width - (pixel + at) % width)
        row = alphas[at:row_end]
        stripped = row.lstrip(b"\0")
        if stripped:  # first and last painted pixel of this row
            first = pixel + at + len(row) - len(stripped)
            envelope.paint(first, pixel + at + len(row.rstrip(b"\0")) - 1)
        at = row_end


def _paint_literal_words(
    envelope: _Envelope, start: int, end: int, bits: _Bits, word_size: int
) -> None:
    """Literals of another word size: read only the alpha words, skip the colour ones."""
    base = bits.pos
    bits.need((end - start) * word_size)
    for index in range(start + ((3 - start) & 3), end, 4):
        bits.pos = base + (index - start) * word_size
        if bits.read(word_size):
            envelope.paint(index >> 2, index >> 2)
    bits.pos = base + (end - start) * word_size
