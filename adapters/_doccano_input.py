"""Where the doccano export files are: the zip as downloaded, its unpacked folder, one file.

Doccano always sends a zip without folders. With `collaborative_annotation` off it holds one
file per project member, `<username>.<ext>` (the user name exists nowhere else); with it on,
one `all.<ext>` with every user's labels merged. So a lone `all.<ext>` is the collaborative
file, and any other name is a user. The format comes from the extension (doccano's own:
.jsonl, .json, .csv, and .txt for fastText); one export holds one format.

A zip is checked as a whole before anything is read (member names that would escape it, zip
bombs: the checks every adapter uses, in _archive), then each member is streamed, never
extracted.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from jsonl_bridge.errors import InputError

from ._archive import ZIP_ERRORS, Opener, check_members, file_opener, is_zip, member_opener

Format = Literal["jsonl", "json", "csv", "fasttext"]
FORMATS: dict[str, Format] = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".txt": "fasttext"}
COLLABORATIVE = "all"
"""The file name stem doccano gives the merged file of a collaborative project."""


@dataclass(frozen=True)
class ExportFile:
    """One file of the export: `where` names it in messages (`path` or `zip!member`); `user`
    is None for the collaborative `all.<ext>`."""

    where: str
    user: str | None
    format: Format
    open: Opener


def export_files(path: Path) -> list[ExportFile]:
    """The export's files, sorted by user name; InputError when there are none, the formats
    are mixed, or the zip is unsafe."""
    where = str(path)
    if not path.exists():
        raise InputError("no such file or folder", where=where)
    found = _candidates(path)
    if not found:
        raise InputError(
            "no doccano export file here (*.jsonl, *.json, *.csv or fastText *.txt)", where=where
        )
    formats = sorted({FORMATS[PurePosixPath(name).suffix.lower()] for name, _, _ in found})
    if len(formats) > 1:
        raise InputError(
            f"mixed export formats ({', '.join(formats)}): doccano exports one format at a time",
            where=where,
        )
    stems = [PurePosixPath(name).stem for name, _, _ in found]
    if len(set(stems)) < len(stems):
        raise InputError("two export files share a user name", where=where)
    collaborative = stems == [COLLABORATIVE]
    files = [
        ExportFile(file_where, None if collaborative else stem, formats[0], opener)
        for (_, file_where, opener), stem in zip(found, stems, strict=True)
    ]
    return sorted(files, key=lambda file: file.user or "")


def _candidates(path: Path) -> list[tuple[str, str, Opener]]:
    """(name, where, opener) of each file with a doccano extension."""
    if path.is_dir():
        return [
            (child.name, str(child), file_opener(child))
            for child in sorted(path.iterdir())
            if child.is_file() and _is_export_name(child.name)
        ]
    if is_zip(path):
        return [(name, f"{path}!{name}", member_opener(path, name)) for name in zip_members(path)]
    return [(path.name, str(path), file_opener(path))] if _is_export_name(path.name) else []


def zip_members(path: Path) -> list[str]:
    """Names of the zip's export files, after the archive-wide safety checks."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except ZIP_ERRORS as exc:
        raise InputError(f"not a readable zip: {exc}", where=str(path)) from exc
    check_members(members, str(path))
    return sorted(m.filename for m in members if not m.is_dir() and _is_export_name(m.filename))


def _is_export_name(name: str) -> bool:
    """A doccano extension, and not a hidden or macOS resource-fork file."""
    pure = PurePosixPath(name)
    hidden = pure.name.startswith(".") or "__MACOSX" in pure.parts
    return not hidden and pure.suffix.lower() in FORMATS
