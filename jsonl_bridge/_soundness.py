"""Is an image file sound? Checked without decoding its pixels.

Passing an image through untouched is only safe when the file is whole and undamaged, and a
corrupt image can fail a paid fine-tuning job. Decoding to find out runs at about 35 MB/s for
JPEG; these walks read PNG chunk CRCs, JPEG markers and tables (the rules libjpeg enforces) and
WEBP chunks at several hundred MB/s. WEBP damage inside the compressed data is not found: it
has no checksum.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from isal.isal_zlib import crc32

if TYPE_CHECKING:
    from jsonl_bridge.mapping import ImageFormat

_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


class Damage(Exception):
    """What a structural check found wrong with an image's bytes: raised inside the walks,
    returned by `_damage`."""

    def __init__(self, what: str, *, cut: bool = False, fatal: bool = True) -> None:
        super().__init__(what)
        self.what = what
        self.cut = cut
        """The data stops before the image's structure ends (a truncated file, or a length
        field pointing past the end)."""
        self.fatal = fatal
        """Refused even when Pillow decodes the file (see `_decode_or_refuse`)."""

    @property
    def summary(self) -> str:
        """For messages: "truncated or corrupt: ..." or "corrupt: ..."."""
        return f"{'truncated or corrupt' if self.cut else 'corrupt'}: {self.what}"


def damage_of(
    kind: ImageFormat | None, data: bytes, *, multi_picture: bool = False
) -> Damage | None:
    """What is wrong with the structure of `data`, or None. No pixel decoding: the walks read
    headers, tables and checksums at several hundred MB/s, where a full JPEG decode runs at
    about 35. `multi_picture`: an MPO, whose further pictures follow the first one's end."""
    try:
        if kind == "png":
            _check_png(data)
        elif kind == "jpeg":
            _check_jpeg(data, multi_picture)
        elif kind == "webp":
            _check_webp(data)
    except Damage as damage:
        return damage
    return None


def _check_png(data: bytes) -> None:
    """Walk the chunks: each length in bounds, each CRC right (the CRCs are what make any
    flipped byte detectable), consecutive IDATs, then IEND. Kept lean: libpng writes a chunk
    per 8 KiB of pixel data."""
    view, end, pos = memoryview(data), len(data), 8
    seen_idat = idat_done = False
    while True:
        if pos == end:  # stops between two chunks: decoders may cope if the IDATs are whole
            raise Damage("no PNG end chunk (IEND)", cut=True, fatal=False)
        if pos + 12 > end:
            raise Damage(f"the chunk at byte {pos} runs past the end of the file", cut=True)
        chunk = data[pos + 4 : pos + 8]
        stop = pos + 8 + int.from_bytes(data[pos : pos + 4], "big")
        if stop + 4 > end:
            # A file still ending in a whole IEND chunk is complete: the length is damaged.
            where = _png_chunk(data, pos)
            raise Damage(f"{where} runs past the end of the file", cut=not data.endswith(_PNG_END))
        # The CRC covers the type too: a damaged type, or a damaged length that lands the walk
        # inside other data, cannot match it but by a 1 in 2**32 chance.
        if crc32(view[pos + 4 : stop]) != int.from_bytes(data[stop : stop + 4], "big"):
            raise Damage(f"{_png_chunk(data, pos)}: CRC mismatch")
        if chunk == b"IDAT":
            if idat_done:  # libpng: "Too many IDATs found"
                raise Damage(f"{_png_chunk(data, pos)}: the IDAT chunks are not consecutive")
            seen_idat = True
        elif seen_idat:
            idat_done = True
        pos = stop + 4
        if chunk == b"IEND":
            break
    if not seen_idat:
        raise Damage("no image data chunk (IDAT)")
    if pos != end:  # as before: sent if Pillow decodes it
        raise Damage(f"{end - pos} bytes after the PNG end chunk (IEND)", fatal=False)


def _png_chunk(data: bytes, pos: int) -> str:
    """The chunk at `pos`, for messages."""
    return f"chunk {data[pos + 4 : pos + 8].decode('latin-1')!r} at byte {pos}"


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_CHECKED_SOF = frozenset({0xC0, 0xC1, 0xC2})
"""Baseline, extended and progressive Huffman coding: what cameras and encoders write. The
rare others (lossless, arithmetic, hierarchical) are left to a full decode."""
_SEGMENTS = _SOF | {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE} | frozenset(range(0xE0, 0xF0))
"""Markers with a length that libjpeg accepts before and between scans: SOFn, DHT, DAC, SOS,
DQT, DNL, DRI, COM, APPn. Any other but EOI makes it fail ("Unsupported marker type")."""
_CODE_SHIFTS = range(15, -1, -1)
"""A Huffman code of n bits takes 2**(16 - n) of the 16-bit code space."""
_SCAN_END = re.compile(rb"\xff(?![\x00\xd0-\xd7])")
"""The end of entropy-coded data: 0xFF neither stuffed (FF 00) nor a restart marker (FF D0-D7).
A lookahead keeps the literal 0xFF first, which sre finds fast (`\\xff+[^...]` is 10x slower)."""
_SCAN_END_NO_RESTARTS = re.compile(rb"\xff(?!\x00)")
"""The same without a restart interval (DRI), where a restart marker is out of place."""


def _check_jpeg(data: bytes, multi_picture: bool) -> None:
    """Walk the markers from SOI to EOI without entropy decoding: segment lengths, the tables
    and headers libjpeg validates (it fails on the same problems), and, in the entropy-coded
    data, only stuffed bytes, restart markers and the markers allowed between scans."""
    end = _JpegWalk(data).run()
    if end < 0:  # as before: many cameras' files lack EOI, and decoders cope
        raise Damage("no JPEG end marker (FFD9)", cut=True, fatal=False)
    content_end = unpadded_end(data)  # NUL padding after EOI is common and harmless
    if content_end <= end or (multi_picture and data.endswith(b"\xff\xd9", 0, content_end)):
        return
    raise Damage(f"{content_end - end} bytes after the JPEG end marker (FFD9)", fatal=False)


class _JpegWalk:
    """One walk over a JPEG's markers, with what libjpeg would know at each point; `run`
    raises `Damage`. Segments are parsed by the cached functions below, state kept here."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sof = 0
        self.components: Mapping[int, tuple[int, int, int]] = {}
        """Frame component id → (horizontal, vertical sampling factor, quantization table)."""
        self.quantization: set[int] = set()
        self.huffman: dict[tuple[int, int], int] = {}
        """(class, id) → its largest symbol (0 for AC tables); class 0 is DC, 1 is AC."""
        self.latched: set[int] = set()
        """Components whose quantization table a scan has taken (libjpeg does it once)."""
        self.restart_interval = 0
        self.scans = 0
        self.first_scan = b""
        """The component ids of the first scan."""

    def run(self) -> int:
        """The position after EOI, or -1 if the entropy-coded data runs to the end."""
        data, pos, size = self.data, 2, len(self.data)
        while True:
            if pos + 2 > size:
                raise Damage("the file ends between two JPEG segments", cut=True)
            if data[pos] != 0xFF:
                raise Damage(f"no JPEG marker at byte {pos}: stray bytes between segments")
            while data[pos + 1] == 0xFF and pos + 3 <= size:
                pos += 1  # fill bytes may precede a marker
            marker = data[pos + 1]
            if marker == 0xD9:
                if not self.scans:
                    raise Damage(f"end marker (FFD9) at byte {pos} before any scan")
                return pos + 2
            stop = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            try:
                if marker not in _SEGMENTS:
                    raise Damage("marker out of place")
                if stop > size or pos + 4 > size:
                    raise Damage("runs past the end of the file", cut=True)
                if stop < pos + 4:
                    raise Damage("a length below 2")
                if marker < 0xE0 and marker != 0xFE:  # APPn and COM are skipped, not copied
                    self._segment(marker, data[pos + 4 : stop])
            except Damage as damage:
                where = f"segment FF{marker:02X} at byte {pos}: {damage}"
                raise Damage(where, cut=damage.cut, fatal=damage.fatal) from None
            pos = stop
            if marker == 0xDA:
                pos = self._scan_end(pos)
                if pos < 0:
                    return -1

    def _scan_end(self, pos: int) -> int:
        """Where the entropy-coded data from `pos` ends (a marker's 0xFF), or -1 if it runs to
        the end of the file."""
        data = self.data
        pattern = _SCAN_END if self.restart_interval else _SCAN_END_NO_RESTARTS
        while found := pattern.search(data, pos):
            following = found.start() + 1
            while following < len(data) and data[following] == 0xFF:
                following += 1  # fill bytes
            if following == len(data):
                return -1
            after = data[following]
            if after and not (self.restart_interval and 0xD0 <= after <= 0xD7):
                return found.start()
            pos = following + 1  # FF FF 00 is a stuffed byte, FF FF D0 a restart
        return -1

    def _segment(self, marker: int, body: bytes) -> None:
        """Take in one segment, or raise `Damage`."""
        if marker == 0xC4:
            for table_class, table, largest in _huffman_tables(body):
                self.huffman[table_class, table] = largest
        elif marker == 0xDB:
            self.quantization.update(_quantization_tables(body))
        elif marker == 0xDA:
            self._scan(*_scan_header(body))
        elif marker in _SOF:
            if self.sof:
                raise Damage("a second frame header (SOF)")
            if marker not in _CHECKED_SOF:
                raise Damage(
                    f"a coding process (SOF{marker - 0xC0}) this check does not cover", fatal=False
                )
            self.components = _frame_components(body)
            self.sof = marker
        elif marker == 0xDD:
            if len(body) != 2:
                raise Damage("a restart interval (DRI) segment is 4 bytes long")
            self.restart_interval = int.from_bytes(body, "big")
        elif marker == 0xCC:
            _check_arithmetic_conditioning(body)

    def _scan(self, idents: bytes, tables: bytes, start: int, stop: int, bits: int) -> None:
        """SOS against the frame: known components, at most 10 blocks per MCU, progression
        parameters libjpeg accepts, and the tables the scan uses defined."""
        components, progressive = self.components, self.sof == 0xC2
        if not components:
            raise Damage("a scan before the frame header (SOF)")
        if not self.scans:
            self.first_scan = idents
        elif not progressive and len(self.first_scan) == len(components):
            raise Damage("a second scan after a sequential scan of every component")
        if any(ident not in components for ident in idents):
            raise Damage("a component the frame does not have")
        if len(idents) > 1 and sum(components[i][0] * components[i][1] for i in idents) > 10:
            raise Damage("more than 10 blocks per MCU")
        dc_first = uses_ac = True
        if progressive:  # libjpeg: "Invalid progressive parameters"
            high, low = bits >> 4, bits & 15
            dc_first, uses_ac = start == 0 and high == 0, start != 0
            bad_band = stop != 0 if start == 0 else start > stop or stop > 63 or len(idents) > 1
            if bad_band or (high and low != high - 1) or low > 13:
                raise Damage("invalid progressive scan parameters")
        for table in tables:
            if dc_first:
                self._huffman_table_used(0, table >> 4)
            if uses_ac:
                self._huffman_table_used(1, table & 15)
        for ident in idents:
            if ident not in self.latched:
                if components[ident][2] not in self.quantization:
                    raise Damage(f"quantization table {components[ident][2]} not defined")
                self.latched.add(ident)
        self.scans += 1

    def _huffman_table_used(self, table_class: int, table: int) -> None:
        """A scan's Huffman table: defined (for sequential files libjpeg supplies standard
        tables 0 and 1, which Motion-JPEG frames omit; not for progressive ones), DC symbols
        at most 15."""
        largest = self.huffman.get((table_class, table))
        if largest is None and (table > 1 or self.sof == 0xC2):
            raise Damage(f"Huffman table {table} not defined")
        if largest is not None and largest > 15:  # only DC tables record their largest
            raise Damage(f"DC Huffman table {table} has symbols above 15")


# The segment parsers are cached: files from one camera or encoder repeat the same tables,
# and a cache hit costs a hash of the segment instead of a parse. Failures are not cached.


@functools.lru_cache(maxsize=64)
def _frame_components(body: bytes) -> Mapping[int, tuple[int, int, int]]:
    """SOFn → {component id: (h, v, quantization table)}, if it has 1, 3 or 4 components,
    sampling factors 1 to 4 that divide the largest (libjpeg cannot upsample by fractions),
    tables 0 to 3 and a nonzero size. A Mapping: the dict is cached, never to be changed."""
    if len(body) < 6 or len(body) != 6 + 3 * body[5] or body[5] not in (1, 3, 4):
        raise Damage("frame header length and component count disagree")
    if body[1:3] == b"\0\0" or body[3:5] == b"\0\0":
        raise Damage("zero width or height")
    components = {}
    for at in range(6, len(body), 3):
        ident, sampling, table = body[at : at + 3]
        factors = (sampling >> 4, sampling & 15)
        if min(factors) < 1 or max(factors) > 4 or table > 3 or ident in components:
            raise Damage(f"bad component {ident}")
        components[ident] = (*factors, table)
    widest = max(h for h, _, _ in components.values())
    tallest = max(v for _, v, _ in components.values())
    if any(widest % h or tallest % v for h, v, _ in components.values()):
        raise Damage("sampling factors decoders cannot upsample")
    return components


@functools.lru_cache(maxsize=64)
def _quantization_tables(body: bytes) -> frozenset[int]:
    """DQT → the table ids it defines, if its tables of 64 8-bit or 16-bit values, ids 0 to
    3, fill the segment."""
    tables, at = set(), 0
    while at < len(body):
        precision, table = body[at] >> 4, body[at] & 15
        if precision > 1 or table > 3:
            raise Damage(f"bad quantization table header {body[at]:#04x}")
        tables.add(table)
        at += 1 + 64 * (precision + 1)
    if at != len(body):
        raise Damage("the quantization tables do not fill the segment")
    return frozenset(tables)


@functools.lru_cache(maxsize=64)
def _huffman_tables(body: bytes) -> tuple[tuple[int, int, int], ...]:
    """DHT → ((class, id, largest DC symbol), ...), if each table has class 0 (DC) or 1 (AC), id
    0 to 3, code counts whose codes fit their lengths (libjpeg: "Bogus Huffman table
    definition") and the tables fill the segment."""
    tables, at = [], 0
    while at < len(body):
        if at + 17 > len(body):
            raise Damage("a Huffman table header is cut short")
        if body[at] & 0xEC:  # class above 1 or id above 3
            raise Damage(f"bad Huffman table header {body[at]:#04x}")
        counts = body[at + 1 : at + 17]
        # libjpeg checks each length's codes stay below the all-ones code; the share of the
        # code space used only grows with the length, so checking at 16 bits covers all.
        if sum(map(operator.lshift, counts, _CODE_SHIFTS)) >= 1 << 16:
            raise Damage("more Huffman codes than fit in their lengths")
        end = at + 17 + sum(counts)
        if end > len(body):
            raise Damage("the Huffman symbols overrun the segment")
        table_class = body[at] >> 4  # only DC symbols (bit counts) have a limit: 0 for AC
        largest = max(body[at + 17 : end], default=0) if table_class == 0 else 0
        tables.append((table_class, body[at] & 15, largest))
        at = end
    return tuple(tables)


@functools.lru_cache(maxsize=64)
def _scan_header(body: bytes) -> tuple[bytes, bytes, int, int, int]:
    """SOS → (component ids, their table ids, start, end of spectral band, approximation
    bits), if its length fits 1 to 4 distinct components."""
    count = body[0] if body else 0
    if len(body) != 4 + 2 * count or not 1 <= count <= 4:
        raise Damage("scan header length and component count disagree")
    idents = body[1 : 1 + 2 * count : 2]
    if len(set(idents)) != count:
        raise Damage("a component repeated in the scan")
    return idents, body[2 : 2 + 2 * count : 2], body[-3], body[-2], body[-1]


def _check_arithmetic_conditioning(body: bytes) -> None:
    """DAC: pairs of table (below 32) and value (DC: lower ≤ upper; AC: 1 to 63)."""
    if len(body) % 2:
        raise Damage("odd arithmetic conditioning length")
    for table, value in zip(body[::2], body[1::2], strict=True):
        bad_dc = table < 16 and (value & 15) > (value >> 4)
        if table >= 32 or bad_dc or (table >= 16 and not 1 <= value <= 63):
            raise Damage(f"bad arithmetic conditioning {table}, {value}")


_FOURCC = re.compile(rb"[A-Za-z0-9 ]{4}")


def _check_webp(data: bytes) -> None:
    """Walk the RIFF chunks: sizes tiling the RIFF size, a VP8, VP8L or VP8X first chunk, and
    the headers libwebp refuses to decode when wrong (key frame, start code, signature, alpha
    method, the VP8X canvas). WEBP has no checksum: damage inside the compressed pixels cannot
    be seen without decoding."""
    riff_end = int.from_bytes(data[4:8], "little") + 8
    end, pos = min(riff_end, len(data)), 12
    canvas: tuple[int, int] | None = None
    has_image = False
    while pos < end:
        chunk = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        where = f"chunk {chunk.decode('latin-1')!r} at byte {pos}"
        if pos + 8 + size > end:
            raise Damage(f"{where} runs past the end", cut=riff_end > len(data))
        if not _FOURCC.fullmatch(chunk):
            raise Damage(f"{where}: the chunk type is not four letters")
        header = data[pos + 8 : pos + 8 + min(size, 10)]
        if chunk == b"VP8X":
            if pos != 12 or size != 10:
                raise Damage(f"{where}: not a first chunk of 10 bytes")
            if not header[0] & 0x02:  # an animation's frames have their own sizes
                canvas = _webp_canvas(header)
        elif pos == 12:
            if chunk not in (b"VP8 ", b"VP8L"):
                raise Damage(f"{where}: the first chunk is not VP8, VP8L or VP8X")
        elif chunk == b"ALPH" and (not header or header[0] & 0xE2):
            raise Damage(f"{where}: bad alpha header")  # reserved bits, unknown method
        if chunk in (b"VP8 ", b"VP8L"):
            frame = _vp8_size(header, size) if chunk == b"VP8 " else _vp8l_size(header)
            if frame is None:
                raise Damage(f"{where}: bad frame header")
            if canvas is not None and frame != canvas:
                raise Damage(f"{where}: the frame size differs from the VP8X canvas")
        has_image = has_image or chunk in (b"VP8 ", b"VP8L", b"ANMF")
        pos += 8 + size + (size & 1)  # a missing pad byte after the last chunk is tolerated
    if not has_image:
        raise Damage("no image chunk (VP8, VP8L or ANMF)")
    if riff_end != len(data):  # as before: sent if Pillow decodes it
        raise Damage(
            f"RIFF header says {riff_end} bytes, file has {len(data)}",
            cut=riff_end > len(data),
            fatal=False,
        )


def _webp_canvas(header: bytes) -> tuple[int, int]:
    """A VP8X chunk's canvas (width, height)."""
    return (
        int.from_bytes(header[4:7], "little") + 1,
        int.from_bytes(header[7:10], "little") + 1,
    )


def _vp8_size(header: bytes, size: int) -> tuple[int, int] | None:
    """A lossy frame's (width, height) if its header is sound: a shown key frame of version
    0 to 3, the start code, a first partition within the chunk, a nonzero size."""
    if len(header) < 10 or header[3:6] != b"\x9d\x01\x2a":
        return None
    tag = int.from_bytes(header[:3], "little")
    if tag & 1 or (tag >> 1) & 7 > 3 or not (tag >> 4) & 1 or 10 + (tag >> 5) > size:
        return None
    width = int.from_bytes(header[6:8], "little") & 0x3FFF
    height = int.from_bytes(header[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


def _vp8l_size(header: bytes) -> tuple[int, int] | None:
    """A lossless frame's (width, height) if its header is sound: the 0x2F signature, version
    0."""
    if len(header) < 5 or header[0] != 0x2F:
        return None
    bits = int.from_bytes(header[1:5], "little")
    if bits >> 29:
        return None
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def unpadded_end(data: bytes) -> int:
    """The length of `data` without trailing NUL bytes (some writers pad JPEGs); reads 4 KiB
    at a time from the end instead of copying the whole file."""
    end = len(data)
    while end:
        start = max(0, end - 4096)
        kept = len(data[start:end].rstrip(b"\0"))
        if kept:
            return start + kept
        end = start
    return 0
