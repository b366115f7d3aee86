"""Image references → bytes, without letting an export read or fetch what it should not.

Exports name images the way their tool stored them: Label Studio upload and local-files URLs,
plain paths, `file://` and `data:` URIs, web URLs. The files are wherever the user copied them,
so the user names those places (`--images`: folders or zip files) and a reference is only ever
looked up inside them. That is also the safety rule: an export cannot make the converter read
/etc/passwd or ~/.ssh through `..`, a symlink or an absolute path, cannot exhaust memory with a
huge file or a zip bomb, and web URLs are only downloaded when the user allows it (remote.py).
"""

from __future__ import annotations

import base64
import os
import posixpath
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, unquote_to_bytes, urlsplit

from jsonl_bridge.errors import (
    ImageFetchError,
    ImageInvalidError,
    ImageNotFoundError,
    ImageRefusedError,
    ImageTooLargeError,
    UsageError,
)
from jsonl_bridge.remote import RemoteFetcher

_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+)://")
_UPLOAD = re.compile(r"/data/upload/(\d+)/(.+)")
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{8}-(.+)")
_NO_ROOTS = (
    "pass --images DIR, the folder holding the images (for Label Studio uploads, the "
    "media/upload folder of its data directory)"
)


@dataclass
class _Folder:
    name: str  # as the user wrote it
    given: Path  # absolute, symlinks kept
    real: Path  # symlinks resolved


@dataclass
class _Zip:
    name: str
    archive: zipfile.ZipFile
    members: dict[str, zipfile.ZipInfo]  # normalised name → member


_Root = _Folder | _Zip

MAX_ZIP_MEMBERS = 1_000_000
"""A zip image root holds one member per image; more is a zip bomb (its index would fill
memory). Members are never extracted, and each is inflated only up to `max_download` bytes,
so neither a member's size nor its compression ratio can exhaust memory."""

ImageRoot = str | Path | tuple[str | Path, str]
"""A folder or zip file, or (folder or zip file, the folder inside it that holds the images):
an export zip keeps its pictures under `images/`."""


class ImageResolver:
    """Reads the bytes behind image references, looking only inside `roots` (folders or zip
    files, tried in order) and downloading http(s) only with `allow_remote`."""

    def __init__(
        self,
        roots: Sequence[ImageRoot] = (),
        *,
        allow_remote: bool = False,
        allow_private_hosts: bool = False,
        timeout: float = 10.0,
        max_download: int = 64 * 1024 * 1024,
    ) -> None:
        if timeout <= 0 or max_download <= 0:
            raise UsageError("the image timeout and download limit must be positive")
        self.allow_remote = allow_remote
        self.allow_private_hosts = allow_private_hosts
        self.timeout = timeout
        self.max_download = max_download
        self._remote: RemoteFetcher | None = None
        self._roots: list[_Root] = []
        self._listings: dict[tuple[int, str], dict[tuple[str, str | None], list[str]]] = {}
        try:
            for root in roots:
                self._roots.append(_open_root(root))
        except BaseException:
            self.close()
            raise

    def read(self, uri: str) -> bytes:
        """The bytes `uri` refers to; an ImageError subclass (naming `uri`) otherwise."""
        if uri[:5].lower() == "data:":
            return _decode_data_uri(uri)
        url = _URL.match(uri)
        if url is None:
            return self._read_local(uri, _local_paths(uri))
        scheme = url.group(1).lower()
        if scheme == "file":
            parts = urlsplit(uri)
            if parts.netloc not in ("", "localhost"):
                raise ImageRefusedError(f"{uri}: a file URL on another host ({parts.netloc})")
            return self._read_local(uri, [unquote(parts.path)])
        if scheme not in ("http", "https"):
            raise ImageRefusedError(
                f"{uri}: {scheme}:// references are not supported; download the files and "
                "pass --images DIR"
            )
        if not self.allow_remote:
            raise ImageRefusedError(f"{uri}: a remote image; pass --allow-remote to download it")
        if self._remote is None:
            self._remote = RemoteFetcher(
                allow_private_hosts=self.allow_private_hosts,
                timeout=self.timeout,
                max_bytes=self.max_download,
            )
        return self._remote.fetch(uri)

    def close(self) -> None:
        """Close the zip files and remove downloaded images."""
        for root in self._roots:
            if isinstance(root, _Zip):
                root.archive.close()
        if self._remote is not None:
            self._remote.close()
            self._remote = None

    def __enter__(self) -> ImageResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_local(self, uri: str, paths: list[str]) -> bytes:
        """The first of `paths` found under a root (roots in order, then paths in order)."""
        attempts = self._attempts(uri, paths)
        for root, relative in attempts:
            data = self._read_in(uri, root, relative)
            if data is not None:
                return data
        for root, relative in attempts:
            data = self._read_loosely(uri, root, relative)
            if data is not None:
                return data
        if not self._roots:
            raise ImageNotFoundError(f"{uri}: not found: no image folder given; {_NO_ROOTS}")
        tried = ", ".join(dict.fromkeys(relative for _, relative in attempts))
        raise ImageNotFoundError(f"{uri}: not found; tried {tried} under {self._names()}")

    def _attempts(self, uri: str, paths: list[str]) -> list[tuple[_Root, str]]:
        """(root, relative path) pairs to try; refuses paths that lead outside the roots."""
        if not os.path.isabs(paths[0]):
            relatives = [_inside(uri, path) for path in paths]
            return [(root, relative) for root in self._roots for relative in relatives]
        path = Path(os.path.normpath(paths[0]))
        attempts: list[tuple[_Root, str]] = []
        for root in self._roots:
            base = _base_holding(root, path)
            if base is not None:
                attempts.append((root, _inside(uri, path.relative_to(base).as_posix())))
        if not attempts:
            hint = "" if self._roots else f"; {_NO_ROOTS}"
            raise ImageRefusedError(
                f"{uri}: an absolute path outside the image roots ({self._names()}){hint}"
            )
        return attempts

    def _read_in(self, uri: str, root: _Root, relative: str) -> bytes | None:
        if isinstance(root, _Zip):
            return self._read_member(uri, root, relative)
        return self._read_file(uri, root, relative)

    def _read_loosely(self, uri: str, root: _Root, relative: str) -> bytes | None:
        """The one file in the same folder that `relative` names up to the case of its
        extension (`frame_000010.PNG` saved as `.png`), or, for a name without extension,
        with any extension (CVAT writes video frames as `frame_000123` in image exports;
        FORMAT.md §4). Several candidates are an error, not a guess."""
        folder, name = posixpath.split(relative)
        stem, ext = posixpath.splitext(name)
        entries = self._listing(root, folder)
        found = entries.get((stem, ext.lower()) if ext else (name, None), [])
        found = [entry for entry in found if entry != name]
        if len(found) > 1:
            raise ImageNotFoundError(
                f"{uri}: not found as {relative}; several files could be it in "
                f"{root.name}: {', '.join(sorted(found))}"
            )
        return self._read_in(uri, root, posixpath.join(folder, found[0])) if found else None

    def _listing(self, root: _Root, folder: str) -> dict[tuple[str, str | None], list[str]]:
        """File names in `folder` of `root` by (stem, lower-case extension) and by (stem,
        None), read once per folder and run."""
        key = (id(root), folder)
        if key not in self._listings:
            if isinstance(root, _Zip):
                names = [
                    posixpath.basename(member)
                    for member in root.members
                    if posixpath.dirname(member) == folder
                ]
            else:
                names = _folder_names(root, folder)
            index: dict[tuple[str, str | None], list[str]] = {}
            for name in names:
                stem, ext = posixpath.splitext(name)
                index.setdefault((stem, ext.lower()), []).append(name)
                index.setdefault((stem, None), []).append(name)
            self._listings[key] = index
        return self._listings[key]

    def _names(self) -> str:
        return ", ".join(root.name for root in self._roots) or "none given"

    def _read_file(self, uri: str, root: _Folder, relative: str) -> bytes | None:
        target = Path(os.path.realpath(root.real / relative))
        if not target.is_relative_to(root.real):
            raise ImageRefusedError(
                f"{uri}: {relative} resolves to {target}, outside the image root {root.name}"
            )
        try:
            if not target.is_file():
                return None
            with target.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = b"" if size > self.max_download else handle.read(self.max_download + 1)
        except OSError as exc:
            raise ImageFetchError(f"{uri}: cannot read {target}: {exc.strerror or exc}") from exc
        if size > self.max_download or len(data) > self.max_download:
            raise ImageTooLargeError(
                f"{uri}: {target} is larger than the {self.max_download} byte limit"
            )
        return data

    def _read_member(self, uri: str, root: _Zip, relative: str) -> bytes | None:
        info = root.members.get(relative)
        if info is None:
            return None
        where = f"{root.name}:{info.filename}"
        if info.file_size > self.max_download:
            raise ImageTooLargeError(
                f"{uri}: {where} unpacks to {info.file_size} bytes, above the "
                f"{self.max_download} byte limit"
            )
        try:
            with root.archive.open(info) as member:
                data = member.read(self.max_download + 1)
        except (OSError, EOFError, RuntimeError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
            raise ImageFetchError(f"{uri}: cannot read {where}: {exc}") from exc
        if len(data) > self.max_download:
            raise ImageTooLargeError(f"{uri}: {where} is larger than its zip entry says")
        return data


def _open_root(spec: ImageRoot) -> _Root:
    """A folder, or a zip file opened once with an index of its members (those under the
    given inner folder, named relative to it)."""
    root, inner = spec if isinstance(spec, tuple) else (spec, "")
    inner = posixpath.normpath(inner.strip("/")) if inner else ""
    path = Path(root)
    if inner and path.is_dir():
        path = path / inner
        root, inner = str(path), ""
    if path.is_dir():
        return _Folder(str(root), Path(os.path.abspath(path)), Path(os.path.realpath(path)))
    if not path.is_file():
        raise UsageError(f"--images {root}: no such folder or zip file")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        what = (
            "not a valid zip file"
            if path.suffix.lower() == ".zip"
            else "neither a folder nor a zip file"
        )
        raise UsageError(f"--images {root}: {what}") from exc
    except (OSError, RuntimeError, ValueError) as exc:  # a zip version Python lacks, a bad name
        raise UsageError(f"--images {root}: cannot read it: {exc}") from exc
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        archive.close()
        raise UsageError(
            f"--images {root}: refused: {len(infos):,} zip members, more than "
            f"{MAX_ZIP_MEMBERS:,} (a zip bomb?)"
        )
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = posixpath.normpath(info.filename.replace("\\", "/").lstrip("/"))
        if inner:
            if not name.startswith(inner + "/"):
                continue
            name = name[len(inner) + 1 :]
        if not info.is_dir() and not _escapes(name):
            members.setdefault(name, info)
    return _Zip(f"{root}!{inner}" if inner else str(root), archive, members)


def _folder_names(root: _Folder, folder: str) -> list[str]:
    """The file names in `folder` under `root`, none when it is not a folder inside it."""
    path = Path(os.path.realpath(root.real / folder))
    if not path.is_relative_to(root.real):
        return []
    try:
        return [entry.name for entry in os.scandir(path) if entry.is_file()]
    except OSError:
        return []


def _base_holding(root: _Root, path: Path) -> Path | None:
    """The folder root, as given or with symlinks resolved, that `path` lies in (if any)."""
    if isinstance(root, _Zip):
        return None
    return next((base for base in (root.given, root.real) if path.is_relative_to(base)), None)


def _local_paths(uri: str) -> list[str]:
    """The paths a scheme-less reference may stand for, in the order to try them."""
    parts = urlsplit(uri)
    upload = _UPLOAD.fullmatch(unquote(parts.path))
    if upload:
        # Label Studio stores uploads as media/upload/<project>/<8 hex>-<original name>.
        project, stored = upload.groups()
        original = _HEX_PREFIX.fullmatch(stored)
        paths = [f"{project}/{stored}", stored, *([original.group(1)] if original else [])]
        return [*paths, f"upload/{project}/{stored}"]
    if parts.path.rstrip("/") == "/data/local-files":
        # Decoded as Label Studio's Django does, relative to LOCAL_FILES_DOCUMENT_ROOT.
        return parse_qs(parts.query).get("d", [""])[:1]
    return [uri]


def _inside(uri: str, path: str) -> str:
    """`path` normalised; refused when `..` climbs out of the folder it is looked up in."""
    relative = posixpath.normpath(path)
    if _escapes(relative) or "\0" in relative:
        raise ImageRefusedError(f"{uri}: {path} leads outside the image roots")
    return relative


def _escapes(relative: str) -> bool:
    return relative == ".." or relative.startswith("../")


def _decode_data_uri(uri: str) -> bytes:
    """`data:[type][;base64],payload`; a malformed one is reported as an invalid image."""
    header, comma, payload = uri[5:].partition(",")
    try:
        if not comma:
            raise ValueError("no ',' before the data")
        if header.lower().endswith(";base64"):
            return base64.b64decode("".join(unquote(payload).split()), validate=True)
        return unquote_to_bytes(payload)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise ImageInvalidError(f"{uri[:40]}...: not a valid data URI: {exc}") from exc
