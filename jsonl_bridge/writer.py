"""JSON Lines output: atomic, deterministic, UTF-8, one example per `\\n`-terminated line.

Atomic means a temp file beside the target, renamed over it only when everything was written;
a failure part-way leaves the old file (if any) untouched and no temp file behind. The same
input gives byte-identical output: no timestamps, no dict-order surprises, no ASCII escaping.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import msgspec
import pybase64

from jsonl_bridge.chat import Example, ImagePart, Message
from jsonl_bridge.errors import OutputError, UsageError
from jsonl_bridge.report import Reject, Report

if TYPE_CHECKING:
    from jsonl_bridge.pipeline import Conversion


def dumps_line(obj: dict[str, Any]) -> bytes:
    """One JSON Lines line: the service's own formatting, UTF-8, no ASCII escaping."""
    return b"".join(line_chunks(obj))


def example_chunks(example: Example) -> list[bytes]:
    """An example's line in pieces (written one after the other, a megabyte-sized image is
    not copied once more to join them). Data URLs made by embedding go in unchecked."""
    line = _text_line(example.messages)
    if line is not None:
        return [line]
    texts = [(m.role, m.content) for m in example.messages if isinstance(m.content, str)]
    if len(texts) == len(example.messages):
        return [_escaped_text_line(texts)]
    plain = {
        id(part.image_url.url)
        for message in example.messages
        if isinstance(message.content, list)
        for part in message.content
        if isinstance(part, ImagePart) and part.image_url.plain_base64
    }
    return line_chunks(example.to_json_dict(), plain)


def _text_line(messages: Sequence[Message]) -> bytes | None:
    """The line of an example whose roles and contents are all plain strings: what
    `json.dumps` writes for its dict (same separators, same escaping: msgspec escapes every
    character as json does with ensure_ascii=False, several times faster), without building
    the dict. None for any other example, and for text UTF-8 cannot encode (a lone
    surrogate), which `_escaped_text_line` fails on as it always did."""
    pieces: list[bytes] = []
    for message in messages:
        role, content = message.role, message.content
        if type(role) is not str or type(content) is not str:
            return None
        try:
            head = _HEADS.get(role) or _head(role)
            pieces.append(head + _encode_json(content) + b"}")
        except UnicodeEncodeError:
            return None
    return _LINE_START + b", ".join(pieces) + _LINE_END


def _head(role: str) -> bytes:
    """A message's JSON up to its content's value."""
    return b'{"role": ' + _encode_json(role) + b', "content": '


_encode_json = msgspec.json.Encoder().encode
_LINE_START, _LINE_END = b'{"messages": [', b"]}\n"
_HEADS = {role: _head(role) for role in ("system", "user", "assistant")}


def _escaped_text_line(messages: Sequence[tuple[str, str]]) -> bytes:
    """`_text_line` for any strings: through json's own escaping."""
    quoted = _quoted
    body = ", ".join(
        [f'{{"role": {quoted(role)}, "content": {quoted(text)}}}' for role, text in messages]
    )
    return f'{{"messages": [{body}]}}\n'.encode()


_quoted: Callable[[str], str] = json.encoder.encode_basestring
"""JSON's string escaping as json.dumps(ensure_ascii=False) does it (the C version)."""


def line_chunks(obj: dict[str, Any], plain: Set[int] = frozenset()) -> list[bytes]:
    """`dumps_line` in pieces. `plain`: ids of URL strings in `obj` known to be plain
    base64 data URLs.

    Embedded images are most of the bytes, and json.dumps escapes a long string at about
    100 MB/s: a base64 data URL (nothing in it to escape) is spliced in after encoding the
    rest, which gives the same bytes several times faster.
    """
    urls: list[bytes] = []
    text = json.dumps(_with_placeholders(obj, urls, plain), ensure_ascii=False)
    if not urls:
        return [(text + "\n").encode("utf-8")]
    pieces = text.split(_PLACEHOLDER)
    if len(pieces) != len(urls) + 1:  # the placeholder also occurs in the data: no splicing
        return [(json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")]
    chunks = [pieces[0].encode("utf-8")]
    for url, piece in zip(urls, pieces[1:], strict=True):
        chunks += (url, piece.encode("utf-8"))
    chunks[-1] += b"\n"
    return chunks


_MARK = "\x00jsonl_bridge:data-url\x00"
"""Stands for a data URL while the rest of the line is encoded (NULs: unlikely in text)."""
_PLACEHOLDER = json.dumps(_MARK)[1:-1]
"""The mark as json.dumps writes it."""


def _with_placeholders(obj: Any, urls: list[bytes], plain: Set[int]) -> Any:
    """`obj` with every spliceable data URL replaced by the mark, collected (as the bytes
    to write) in order."""
    if isinstance(obj, dict):
        if set(obj) == {"url"} and (spliced := _spliceable(obj["url"], plain)) is not None:
            urls.append(spliced)
            return {"url": _MARK}
        return {key: _with_placeholders(value, urls, plain) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_with_placeholders(item, urls, plain) for item in obj]
    return obj


def _spliceable(url: Any, plain: Set[int]) -> bytes | None:
    """A base64 data URL's bytes, which JSON writes as they are, else None (checking the
    alphabet with pybase64 runs at GB/s; a per-character Python check would cost more than
    the escaping it saves). The payload is checked in place, not copied out."""
    if not isinstance(url, str) or not url.isascii():
        return None
    if id(url) in plain:
        return url.encode("ascii")
    header = _DATA_URL_HEADER.match(url)
    if header is None:
        return None
    raw = url.encode("ascii")
    try:
        pybase64.b64decode(memoryview(raw)[header.end() :], validate=True)
    except ValueError:
        return None
    return raw


_DATA_URL_HEADER = re.compile(r"data:[A-Za-z0-9.+/-]+;base64,")


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Write to a temp file in the target's folder and rename it into place on success.

    A symlink is followed (its target is replaced, the link stays); a device or pipe such as
    /dev/null or a FIFO is written to directly, since renaming over it would replace it.
    """
    try:
        if path.exists() and not path.is_file():
            # As given, not resolved: /dev/stdout resolves to a pipe's "pipe:[N]" name.
            with path.open("wb") as direct:
                yield direct
            return
        path = Path(os.path.realpath(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", where=str(path)) from exc
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            # a full disk or a file-size limit while writing is an output problem, not a bug
            raise OutputError(f"cannot write: {exc.strerror or exc}", where=str(path)) from exc
        raise


def _umask() -> int:
    """mkstemp creates 0600 files; outputs should get the permissions `open` would give."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _report_of(examples: Iterable[Example]) -> tuple[Report, bool]:
    """The conversion's own report when there is one (so counts and bytes add up)."""
    report = getattr(examples, "report", None)
    if isinstance(report, Report):
        return report, False
    return Report(), True


class BinaryOutput(Protocol):
    """What `write_jsonl` writes to besides a path: an open binary file or stream."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


def write_jsonl(
    examples: Conversion | Iterable[Example], path: str | Path | BinaryOutput
) -> Report:
    """Write examples to `path` ("-" or a binary stream writes there directly)."""
    report, counted = _report_of(examples)
    with ExitStack() as stack:
        handle: BinaryOutput
        if isinstance(path, (str, Path)) and str(path) != "-":
            handle = stack.enter_context(atomic_file(Path(path)))
            name = str(path)
        else:
            handle = path if not isinstance(path, (str, Path)) else _stdout()
            name = "-"
        lines = 0
        for example in examples:
            if counted:  # not from convert, whose examples passed the gate
                _check_built(example, lines)
            report.bytes_written += _write(handle, example_chunks(example))
            lines += 1
        handle.flush()
    if counted:
        report.examples = lines
    report.outputs[name] = lines
    return report


def _check_built(example: object, index: int) -> None:
    """Examples built by hand (in a notebook) are Structs whose types nothing checked when
    they were made: a role or content of the wrong type would be written as a line the
    fine-tuning service refuses, after the money question was already answered."""
    if not isinstance(example, Example):
        raise UsageError(f"example {index}: expected an Example, got {type(example).__name__}")
    try:
        msgspec.convert(msgspec.to_builtins(example), Example)
    except (msgspec.ValidationError, TypeError) as exc:
        raise UsageError(f"example {index} (id {example.id!r}): {exc}") from None


def _write(handle: BinaryOutput, chunks: list[bytes]) -> int:
    if len(chunks) == 1:  # a text line
        handle.write(chunks[0])
        return len(chunks[0])
    for chunk in chunks:
        handle.write(chunk)
    return sum(map(len, chunks))


def _stdout() -> IO[bytes]:
    import sys

    return sys.stdout.buffer


_SPLIT_NAME = re.compile(r"(?!rejects$)[A-Za-z0-9_-]+")


def parse_split(spec: str) -> dict[str, float]:
    """`train=0.9,validation=0.1` → ordered fractions that must sum to 1."""
    fractions: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and not _SPLIT_NAME.fullmatch(name):
            raise UsageError(
                f"--split: {name!r} cannot name a split: use letters, digits, '-' and '_', "
                "and not 'rejects'"
            )
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if name in fractions:
            raise UsageError(f"--split: the split name {name!r} appears twice")
        if not sep or not name or not 0 <= fraction <= 1:
            raise UsageError(
                f"--split: bad part {part!r}; expected NAME=FRACTION with a fraction from 0 "
                "to 1, e.g. train=0.9"
            )
        fractions[name] = fraction
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise UsageError(f"--split: fractions add up to {sum(fractions.values()):g}, not 1")
    return fractions


def split_of(task_id: str, fractions: dict[str, float], seed: int) -> str:
    """Deterministic split for a task: a hash of (seed, task id), independent of file order."""
    digest = hashlib.sha256(f"{seed}\0{task_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    total = 0.0
    for name, fraction in fractions.items():
        total += fraction
        if point < total:
            return name
    return next(reversed(fractions))


def split_paths(output: Path, fractions: dict[str, float] | None) -> dict[str, Path]:
    """`data/ds.jsonl` → `data/ds.train.jsonl`, `data/ds.validation.jsonl`, ..."""
    return {
        name: output.with_name(f"{output.stem}.{name}{output.suffix}") for name in fractions or {}
    }


def write_splits(
    examples: Conversion | Iterable[Example], output: Path, fractions: dict[str, float], seed: int
) -> Report:
    """Write one file per split, every file atomically; empty splits still get a file."""
    report, counted = _report_of(examples)
    paths = split_paths(output, fractions)
    counts = dict.fromkeys(fractions, 0)
    with ExitStack() as stack:
        handles = {name: stack.enter_context(atomic_file(p)) for name, p in paths.items()}
        for example in examples:
            name = split_of(example.id, fractions, seed)
            report.bytes_written += _write(handles[name], example_chunks(example))
            counts[name] += 1
    if counted:
        report.examples = sum(counts.values())
    report.outputs.update({str(paths[name]): n for name, n in counts.items()})
    return report


def write_rejects(rejects: Iterable[Reject], path: Path) -> int:
    """The rejects file: one JSON line per rejected task, atomically."""
    count = 0
    with atomic_file(path) as handle:
        for reject in rejects:
            handle.write(dumps_line(reject.to_json_dict()))
            count += 1
    return count
