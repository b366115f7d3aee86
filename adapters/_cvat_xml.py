"""Safe, streaming reading of one CVAT XML document: the top-level elements, one at a time.

Safety: a DTD is the only place where entities (billion laughs, external files) can be
declared, and it can only stand before the root element. So the prolog is read first with
defusedxml's parser (`forbid_dtd`, `forbid_entities`, `forbid_external`) up to the root's
start tag, and a DTD or entity refuses the whole file. Only then is the document streamed
through the C parser (`XMLParser` with a `TreeBuilder`, what the C `iterparse` runs): with
no DTD, any entity other than the five predefined ones is a well-formedness error there.
(defusedxml's own `iterparse` runs the pure-Python parser: on its own about twice the time
of the C one, most of what a whole conversion may take.)

Streaming: each child of `<annotations>` (`<version>`, `<meta>`, every `<image>` and
`<track>`) is yielded complete, then dropped from the tree, so memory holds one image or
track (and the parser's read-ahead) at a time, never the document.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from io import RawIOBase
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder, XMLParser

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from jsonl_bridge.errors import InputError

from ._common import TaskBoundedStream

ROOT = "annotations"
TOP_LEVEL = frozenset({"version", "meta", "image", "track"})
_CHUNK = 64 * 1024
_PROLOG_BYTES = 1 << 20
"""The root element starts within this: a CVAT prolog is an XML declaration."""
_FEED = 16 * 1024
"""iterparse's read size. Larger reads hold more of the tree at once, which the cyclic
garbage collector then walks over and over: 64 KiB reads took 15 % more time at its default
thresholds."""
_FEED_MAX = 8 << 20

Opener = Callable[[], AbstractContextManager[IO[bytes]]]


@dataclass(frozen=True)
class Head:
    """What the start of a document says: its root element and `<version>` (when seen)."""

    root: str | None
    version: str | None = None


class UnsafeXMLError(InputError):
    """The XML declares a DTD or entities: refused for safety, never parsed further."""


class _Stop(Exception):
    pass


class _HeadTarget:
    """Parser target that records the root and the `<version>` text, then stops."""

    def __init__(self, want_version: bool):
        self.want_version = want_version
        self.root: str | None = None
        self.version: str | None = None
        self._depth = 0
        self._text: list[str] | None = None

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._depth += 1
        if self._depth == 1:
            self.root = tag
            if not self.want_version or tag != ROOT:
                raise _Stop
        elif self._depth == 2:
            if tag != "version":
                raise _Stop
            self._text = []

    def end(self, tag: str) -> None:
        if self._depth == 2 and self._text is not None:
            self.version = "".join(self._text).strip()
            raise _Stop
        self._depth -= 1

    def data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)

    def close(self) -> None:
        return None


def read_head(
    stream: IO[bytes] | RawIOBase, where: str, *, want_version: bool, limit: int | None = None
) -> Head:
    """Parse the start of `stream` safely up to the root start tag (and `<version>` when
    `want_version`), reading at most `limit` bytes (None: as far as it takes).

    InputError for a DTD, an entity declaration or reference, or malformed XML.
    """
    target = _HeadTarget(want_version)
    parser = DefusedXMLParser(
        target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    read = 0
    try:
        while limit is None or read < limit:
            chunk = stream.read(_CHUNK if limit is None else min(_CHUNK, limit - read))
            if not chunk:
                if read:
                    parser.close()  # raises: the root never started
                break
            read += len(chunk)
            parser.feed(chunk)
    except _Stop:
        pass
    except DefusedXmlException as exc:
        raise UnsafeXMLError(
            f"refused: the XML has a DTD or entity declarations ({type(exc).__name__}); "
            "CVAT exports have none, and they are not parsed for safety",
            where=where,
        ) from exc
    except ParseError as exc:
        raise InputError(_parse_message(exc), where=_at(where, exc)) from exc
    except (LookupError, ValueError) as exc:  # expat asks Python for encodings it lacks
        raise InputError(
            f"the XML declares an encoding the parser cannot use ({exc})", where=where
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as exc:
        raise InputError(f"cannot read: {exc}", where=where) from exc
    return Head(target.root, target.version)


def top_level(opener: Opener, where: str) -> Generator[Element, None, None]:
    """Each complete `<version>`, `<meta>`, `<image>` and `<track>` child of `<annotations>`,
    in document order, detached from the tree (memory holds what the caller keeps)."""
    with _reading(where), opener() as stream:
        head = read_head(stream, where, want_version=False, limit=_PROLOG_BYTES)
    if head.root is None:
        raise InputError(
            f"no XML element (an empty file, or more than {_PROLOG_BYTES >> 20} MiB before the "
            "root element)",
            where=where,
        )
    if head.root != ROOT:
        raise InputError(
            f"not a CVAT XML: the root element is <{head.root}>, not <{ROOT}>", where=where
        )
    with _reading(where), opener() as stream:
        bounded = TaskBoundedStream(stream, where, "element")
        try:
            for element in _root_children(bounded):
                if element.tag in TOP_LEVEL:
                    yield element
        except ParseError as exc:
            raise InputError(_parse_message(exc), where=_at(where, exc)) from exc


def _root_children(stream: TaskBoundedStream) -> Iterator[Element]:
    """Each child of the root element once it is complete, dropped from the tree as it is
    handed out, so the tree holds the child still open and what the last read added.

    The parser builds the tree and reports only the root's start (through `_setevents`, the
    call XMLPullParser makes), then nothing: an event per element (twenty an image in the
    bench export) cost a tenth of the parse. After each read the root's children but the
    last are complete (a later one has started), the last is at the end of the document.
    `stream` is marked when a child completes: the 64 MiB bound is per child.

    Expat before 2.6 lexes a token cut by a read again from its start on every read, so one
    huge attribute costs (its size)² / (read size): a 64 MB one took 9 minutes in iterparse's
    16 KB reads. Reads start at _FEED and double while the tree does not grow at its top two
    levels (inside a long token, or deep in one child), up to _FEED_MAX: the cost of a long
    token is then about linear.
    """
    parser = XMLParser(target=TreeBuilder())
    started: list[tuple[str, Element]] = []
    parser._setevents(started, ("start",))  # type: ignore[attr-defined]
    root: Element | None = None
    size = _FEED
    shape = (0, 0)
    while chunk := stream.read(size):
        parser.feed(chunk)
        if root is None:
            if not started:
                continue
            root = started[0][1]
            parser._setevents(started, ())  # type: ignore[attr-defined]
        started.clear()  # nothing more is reported (pure-Python parser: still bounded)
        complete = len(root) - 1
        if complete > 0:
            stream.mark()
            children = root[:complete]
            del root[:complete]
            yield from children
        grown = (len(root), len(root[-1]) if len(root) else 0)
        size = _FEED if grown != shape else min(2 * size, _FEED_MAX)
        shape = grown
    parser.close()
    if root is not None:
        children = root[:]
        del root[:]
        yield from children


class _reading(AbstractContextManager[None]):
    """Turn I/O and zip errors while reading into InputError naming the document."""

    def __init__(self, where: str):
        self.where = where

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if isinstance(exc, (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError)):
            detail = getattr(exc, "strerror", None) or str(exc)
            raise InputError(f"cannot read: {detail}", where=self.where) from exc


def _parse_message(exc: ParseError) -> str:
    text = str(exc)
    if text.startswith(("no element found", "unclosed token")):
        return f"truncated or malformed XML: {text}"
    return f"malformed XML: {text}"


def _at(where: str, exc: ParseError) -> str:
    line = exc.position[0] if getattr(exc, "position", None) else None
    return f"{where}:{line}" if line else where
