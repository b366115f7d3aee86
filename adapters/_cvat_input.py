"""Where the CVAT XML is: a bare file, an unpacked export folder, or the export zip.

CVAT names it `annotations.xml`, datumaro `<subset>.xml` (`default.xml`, `train.xml`), so
the XML is recognised by its root element (`<annotations>`), never by its name. A folder is
searched at its top level only (the export's layout: the XML beside `images/`); a zip is
searched in every `*.xml` member, and every member holding a CVAT document is read, in name
order (datumaro writes one per subset).

A zip is checked as a whole before anything is read: a member name that would escape the
archive (absolute, `..`, a drive letter) or a member that inflates absurdly (a zip bomb)
refuses the input. The XML is then streamed out of the zip, never extracted.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jsonl_bridge.errors import InputError

from ._archive import ZIP_ERRORS, check_members, file_opener, is_zip, member_opener
from ._cvat_xml import ROOT, Head, Opener, UnsafeXMLError, read_head

SNIFF_BYTES = 64 * 1024
_SNIFF_MEMBERS = 16


@dataclass(frozen=True)
class Document:
    """One CVAT XML to read: `where` names it in messages (`path` or `zip!member`)."""

    where: str
    open: Opener


def documents(path: Path) -> list[Document]:
    """The CVAT XML document(s) of `path`; InputError when there is none or it is unsafe."""
    where = str(path)
    if not path.exists():
        raise InputError("no such file or folder", where=where)
    if path.is_dir():
        found = [
            Document(str(xml), file_opener(xml))
            for xml in _folder_xmls(path)
            if _head(file_opener(xml), str(xml), SNIFF_BYTES, refuse_unsafe=True).root == ROOT
        ]
        if not found:
            raise InputError(
                "no CVAT XML here: no *.xml file at the top of this folder has an "
                f"<{ROOT}> root element",
                where=where,
            )
        return found
    if is_zip(path):
        return _zip_documents(path)
    return [Document(where, file_opener(path))]


def _folder_xmls(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file())


def _zip_documents(path: Path) -> list[Document]:
    where = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except ZIP_ERRORS as exc:
        raise InputError(f"not a readable zip: {exc}", where=where) from exc
    check_members(members, where)
    found = []
    for member in sorted(xml_members(members), key=lambda m: m.filename):
        opener = member_opener(path, member.filename)
        document_where = f"{where}!{member.filename}"
        if _head(opener, document_where, SNIFF_BYTES, refuse_unsafe=True).root == ROOT:
            found.append(Document(document_where, opener))
    if not found:
        raise InputError(
            f"no CVAT XML in this zip: no *.xml member has an <{ROOT}> root element", where=where
        )
    return found


def xml_members(members: list[zipfile.ZipInfo]) -> Iterator[zipfile.ZipInfo]:
    for member in members:
        if not member.is_dir() and member.filename.lower().endswith(".xml"):
            yield member


def _head(opener: Opener, where: str, limit: int, *, refuse_unsafe: bool = False) -> Head:
    """The head of one candidate document; Head(None) when it is not XML. `refuse_unsafe`:
    a DTD refuses the export (when reading it) rather than making it no candidate (sniff)."""
    try:
        with opener() as stream:
            return read_head(stream, where, want_version=True, limit=limit)
    except UnsafeXMLError:
        if refuse_unsafe:
            raise
        return Head(None)
    except InputError:
        return Head(None)
    except ZIP_ERRORS:
        return Head(None)


def sniff_head(path: Path) -> Head | None:
    """The head of the first CVAT-rooted document of `path` (file, folder or zip), cheaply:
    a bounded read of each candidate. None when there is none."""
    candidates: list[tuple[Opener, str]]
    if path.is_dir():
        candidates = [(file_opener(p), str(p)) for p in _folder_xmls(path)[:_SNIFF_MEMBERS]]
    elif is_zip(path):
        try:
            with zipfile.ZipFile(path) as archive:
                members = list(xml_members(archive.infolist()))[:_SNIFF_MEMBERS]
        except ZIP_ERRORS:
            return None
        candidates = [(member_opener(path, m.filename), m.filename) for m in members]
    elif path.is_file():
        candidates = [(file_opener(path), str(path))]
    else:
        return None
    for opener, where in candidates:
        head = _head(opener, where, SNIFF_BYTES)
        if head.root == ROOT:
            return head
    return None


def image_roots(path: Path) -> list[tuple[Path, str]]:
    """Where the export keeps its own images: `images/` in the zip, in the folder, or beside
    the bare XML (an unpacked export). Only roots that exist."""
    if is_zip(path):
        return [(path, "images")]
    folder = path if path.is_dir() else path.parent
    return [(folder, "images")] if (folder / "images").is_dir() else []
