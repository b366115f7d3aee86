"""Reading pieces shared by the adapters: files and zip members to open, UTF-8 lines, CSV
tables, and the keys of a JSON array's first item.

It imports no XML parser, so an adapter using it stays cheap to import.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any

import ijson

from jsonl_bridge.errors import InputError

Opener = Callable[[], AbstractContextManager[IO[bytes]]]
"""Opens one input file (a path or a zip member) as a binary stream, each call afresh."""

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
MAX_MEMBER_BYTES = 64 << 30
"""No export member is larger than this (64 GiB) once inflated."""
MAX_RATIO = 200
BOMB_FLOOR = 64 << 20
"""A member that inflates above BOMB_FLOOR bytes at more than MAX_RATIO times its compressed
size is a zip bomb (XML compresses about 10-30 times, images hardly at all)."""
MAX_MEMBERS = 1_000_000
"""An export zip holds one member per image at most (doccano: one per user)."""
MAX_TOTAL_BYTES = 1 << 40
"""All members together inflate to at most 1 TiB."""
_DRIVE = re.compile(r"^[A-Za-z]:")
_BOM = "\ufeff"
_FIELD_LIMIT = 2**31 - 1
"""csv's default 128 KB cell limit is too small for long documents; C long is 32-bit on Windows."""


ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError, ValueError)
"""What opening or reading a damaged or exotic zip raises (found by fuzzing), besides
BadZipFile: RuntimeError for an encrypted member, NotImplementedError (a RuntimeError) for a
zip version or compression method Python lacks, UnicodeDecodeError (a ValueError) for a
member name flagged UTF-8 that is not."""


def is_zip(path: Path) -> bool:
    """The file starts like a zip (a local file header or an empty archive's end record)."""
    try:
        with path.open("rb") as stream:
            return stream.read(4) in ZIP_MAGIC
    except OSError:
        return False


def check_members(members: list[zipfile.ZipInfo], where: str) -> None:
    """Refuse the archive when a member name escapes it, or it is a zip bomb: too many
    members, a member or all of them inflating too much, or at too high a ratio.

    Sizes are those the zip declares: zipfile never inflates a member past its declared size
    (a member that lies fails its CRC check), so checking them bounds the real work.
    """
    if len(members) > MAX_MEMBERS:
        raise InputError(
            f"refused: {len(members):,} zip members, more than {MAX_MEMBERS:,} (a zip bomb?); "
            "the whole export is refused",
            where=where,
        )
    total = sum(member.file_size for member in members)
    packed_total = sum(member.compress_size for member in members)
    if total > MAX_TOTAL_BYTES or (total > BOMB_FLOOR and total > MAX_RATIO * max(packed_total, 1)):
        raise InputError(
            f"refused: the zip members inflate to {total:,} bytes in all from {packed_total:,} "
            "(a zip bomb?); the whole export is refused",
            where=where,
        )
    for member in members:
        name = member.filename
        if unsafe_name(name):
            raise InputError(
                f"refused: zip member {name!r} would escape the archive (absolute path, drive "
                "or '..'); the whole export is refused",
                where=where,
            )
        size, packed = member.file_size, member.compress_size
        if size > MAX_MEMBER_BYTES or (size > BOMB_FLOOR and size > MAX_RATIO * max(packed, 1)):
            raise InputError(
                f"refused: zip member {name!r} inflates to {size} bytes from {packed} "
                "(a zip bomb?); the whole export is refused",
                where=where,
            )


def unsafe_name(name: str) -> bool:
    """A member name that, extracted, would land outside the folder it is extracted to."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or _DRIVE.match(name):
        return True
    return any(part == ".." for part in re.split(r"[\\/]", name))


def file_opener(path: Path) -> Opener:
    def open_file() -> IO[bytes]:
        return path.open("rb")

    return open_file


def member_opener(path: Path, name: str) -> Opener:
    """Streams one member out of the zip (never extracted); the archive closes with it."""

    @contextmanager
    def open_member() -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(path) as archive, archive.open(name) as stream:
            yield stream

    return open_member


def utf8_lines(stream: IO[bytes], where: str) -> Iterator[str]:
    """The physical lines of `stream` as text, line endings kept (what csv expects of a file
    opened with newline=""), a leading byte-order mark dropped. Decoding line by line lets
    an undecodable byte be reported on its own line (InputError `where:line`)."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not UTF-8 text ({exc.reason} at byte {exc.start + 1} of the line); "
                "save the file as UTF-8",
                where=f"{where}:{number}",
            ) from exc
        yield line[1:] if number == 1 and line.startswith(_BOM) else line


def csv_reader(lines: Iterable[str], delimiter: str = ",") -> Any:
    """A strict csv reader (a file cut inside a quoted cell is an error, not a short row)
    that takes cells as long as a document."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    return csv.reader(lines, delimiter=delimiter, strict=True)


def first_item_keys(stream: Any) -> Iterator[tuple[str, str]]:
    """(prefix, key) of every object key inside a JSON array's first item, in document
    order, stopping at that item's end: a huge first item is read only as far as the caller
    needs. A malformed or cut stream just ends the keys."""
    try:
        for prefix, event, value in ijson.parse(stream):
            if event == "map_key" and prefix.startswith("item"):
                yield prefix, value
            elif prefix == "item" and event in ("end_map", "end_array"):
                return
    except ijson.JSONError:
        return
