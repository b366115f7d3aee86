"""Property tests: whatever the bytes, whatever the mapping, jsonl_bridge either converts or
raises a BridgeError, never anything else; what it writes passes `bridge validate`; the same
input gives the same bytes.

Inputs are real exports (the fixtures) damaged at random (cut, overwritten, spliced, bytes
inserted), which reaches far deeper into the parsers than random bytes; random bytes and
random text are tried too.
"""

from __future__ import annotations

import base64
import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jsonl_bridge as jb
from jsonl_bridge.chat import EmbeddedImageURL, Example, ImagePart, ImageURL, Message, TextPart
from jsonl_bridge.errors import BridgeError
from jsonl_bridge.records import Record, Source
from jsonl_bridge.registry import get_adapter
from jsonl_bridge.validation import validate
from jsonl_bridge.writer import write_jsonl

FIXTURES = Path(__file__).parent / "fixtures"
EMAIL = FIXTURES / "label-studio" / "email-classification"
DOCCANO = FIXTURES / "doccano" / "document-classification" / "exports"
CVAT = FIXTURES / "cvat"
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _member(archive: Path, name: str) -> bytes:
    with zipfile.ZipFile(archive) as opened:
        return opened.read(name)


def _small_zip(members: dict[str, bytes]) -> bytes:
    path = Path(tempfile.mkdtemp()) / "x.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path.read_bytes()


SEEDS: dict[str, list[tuple[str, bytes]]] = {
    "label-studio": [
        (name, (EMAIL / name).read_bytes()[:6000])
        for name in ("export.json", "export_min.json", "export.csv", "export.tsv")
    ],
    "doccano": [
        ("all.jsonl", _member(DOCCANO / "JSONL__collaborative__all.zip", "all.jsonl")[:3000]),
        ("all.json", _member(DOCCANO / "JSON__collaborative__approved-only.zip", "all.json")),
        ("all.csv", _member(DOCCANO / "CSV__collaborative__all.zip", "all.csv")[:3000]),
        ("all.txt", _member(DOCCANO / "fastText__collaborative__all.zip", "all.txt")[:3000]),
        ("export.zip", (DOCCANO / "JSONL__individual__all.zip").read_bytes()),
    ],
    "cvat": [
        ("default.xml", (CVAT / "public/cvat-docs/images_example_annotations.xml").read_bytes()),
        ("video.xml", (CVAT / "public/cvat-docs/video_example_annotations.xml").read_bytes()),
        (
            "export.zip",
            _small_zip(
                {
                    "annotations.xml": (
                        CVAT / "public/cvat-docs/images_example_annotations.xml"
                    ).read_bytes()[:4000]
                }
            ),
        ),
    ],
}


@st.composite
def damaged(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with one to three random edits: cut, overwrite, insert, delete, duplicate."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["cut", "overwrite", "insert", "delete", "duplicate"]))
        chunk = draw(
            st.one_of(
                st.binary(min_size=1, max_size=16),
                st.sampled_from(
                    [
                        b"\0",
                        b"\xff\xfe",
                        b'"',
                        b"\\",
                        b"[",
                        b"{",
                        b"<",
                        b"&x;",
                        b"\r\n",
                        b",",
                        b"\xef\xbb\xbf",
                        b"\xed\xa0\x80",
                        b"1e999",
                    ]
                ),
            )
        )
        if edit == "cut":
            del data[at:]
        elif edit == "overwrite":
            data[at : at + len(chunk)] = chunk
        elif edit == "insert":
            data[at:at] = chunk
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = data[max(0, at - 64) : at]
    return bytes(data)


@st.composite
def export_inputs(draw: st.DrawFn, adapter: str) -> tuple[str, bytes]:
    name, seed = draw(st.sampled_from(SEEDS[adapter]))
    content = draw(st.one_of(damaged(seed), st.binary(max_size=200)))
    return name, content


@contextmanager
def written(name: str, content: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        yield path


def _read_or_bridge_error(adapter: str, path: Path) -> list[Record] | None:
    try:
        return list(get_adapter(adapter).read(path, None))
    except BridgeError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), str(exc)
        return None


@pytest.mark.parametrize("adapter", sorted(SEEDS))
@SETTINGS
@given(data=st.data())
def test_any_export_bytes_give_records_or_a_bridge_error(adapter: str, data: st.DataObject) -> None:
    name, content = data.draw(export_inputs(adapter))
    with written(name, content) as path:
        records = _read_or_bridge_error(adapter, path)
        for record in records or []:
            assert msgspec.json.decode(msgspec.json.encode(record), type=Record) == record


@pytest.mark.parametrize("adapter", sorted(SEEDS))
@settings(SETTINGS, max_examples=15)
@given(data=st.data())
def test_any_export_converts_to_valid_deterministic_jsonl_or_a_bridge_error(
    adapter: str, data: st.DataObject
) -> None:
    name, content = data.draw(export_inputs(adapter))
    with written(name, content) as path:
        outputs = []
        for attempt in ("a", "b"):
            out = path.parent / f"{attempt}.jsonl"
            try:
                conversion = jb.convert(path, "auto", from_=adapter)
                write_jsonl(conversion, out)
            except BridgeError:
                return
            outputs.append(out.read_bytes())
        assert outputs[0] == outputs[1]
        if outputs[0]:
            assert validate(path.parent / "a.jsonl").ok


# --- the mapping engine ---------------------------------------------------------------------

_FRAGMENTS = [
    "{{ data.text }}",
    "{{ label }}",
    "{{ fields.category }}",
    "{{ fields | json }}",
    "{{ fields.category | default('none') }}",
    "{{ regions | boxes }}",
    "{{ 1 / 0 }}",
    "{{ data.missing }}",
    "{% if label %}yes{% endif %}",
    "{{ ",
    " }}",
    "{% for x in",
    "}}",
    "{{ label | upper }}",
    "{{ schema.labels }}",
    "{{ annotation.annotator }}",
    "\n",
    "x",
    "{{ data.text | lines }}",
    "{{ 2 ** 3000 }}",
    "{{ 'ab' * 400000 }}",
    "{{ [1] * 2 }}",
]
templates = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=8), max_size=5).map("".join)
mapping_values = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 1, 2, "1"])},
    optional={
        "system": templates,
        "user": templates | st.lists(st.fixed_dictionaries({"text": templates}), max_size=2),
        "assistant": templates,
        "select": st.sampled_from(
            ["auto", "first", "latest", "majority", "ground_truth", "annotator:1", "bogus"]
        ),
        "labels": st.fixed_dictionaries(
            {},
            optional={
                "allowed": st.lists(st.sampled_from(["billing", "sales", "spam", "other"])),
                "rename": st.dictionaries(
                    st.sampled_from(["billing", "spam"]), st.text(max_size=5)
                ),
                "unknown": st.sampled_from(["reject", "drop", "keep", "explode"]),
            },
        ),
        "fields": st.dictionaries(
            st.sampled_from(["category", "x"]),
            st.sampled_from(["category", {"kind": "choice"}, {"kind": "nonsense"}, 3]),
        ),
        "extends": st.sampled_from(["email-classification", "auto", "no-such-preset"]),
        "include_predictions": st.booleans(),
        "unknwon": st.just(1),
    },
)


@pytest.fixture(scope="module")
def email_records() -> list[Record]:
    options = {"label_config": str(EMAIL / "config.xml")}
    return list(jb.read(EMAIL / "export.json", "label-studio", options))


@SETTINGS
@given(spec=mapping_values)
def test_any_mapping_loads_and_renders_or_raises_a_bridge_error(
    spec: dict[str, Any], email_records: list[Record]
) -> None:
    with written("mapping.yaml", yaml.safe_dump(spec, allow_unicode=True).encode()) as path:
        try:
            mapping = jb.load_mapping(path)
            conversion = jb.convert(email_records, mapping)
            write_jsonl(conversion, path.parent / "out.jsonl")
        except BridgeError:
            return
        assert all(reject.reason for reject in conversion.rejects)
        if (path.parent / "out.jsonl").read_bytes():
            report = validate(path.parent / "out.jsonl")
            codes = set(report.codes)
            # a mapping may render an empty answer (an empty template): that is its author's
            # choice, reported by validate; nothing else may be wrong with the lines
            assert codes <= {"E206", "W101", "W103", "W104", "W105", "W106"}, report.to_text()


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_mapping_text_loads_or_raises_a_bridge_error(text: str) -> None:
    with written("mapping.yaml", text.encode("utf-8", "surrogatepass")) as path:
        try:
            jb.load_mapping(path)
        except BridgeError as exc:
            assert str(exc)


# --- the writer -----------------------------------------------------------------------------

_PNG = (FIXTURES / "label-studio/qc-defects/media/upload/6/6bc7734c-qc_part_01.png").read_bytes()
words = st.text(min_size=1, max_size=40).filter(lambda text: text.strip() != "")


def _png_url() -> str:
    return "data:image/png;base64," + base64.b64encode(_PNG).decode()


user_messages = st.one_of(
    words.map(lambda text: Message(role="user", content=text)),
    st.lists(
        st.one_of(
            words.map(lambda text: TextPart(text=text)),
            st.just(ImagePart(image_url=ImageURL(url=_png_url()))),
            st.just(ImagePart(image_url=EmbeddedImageURL(url=_png_url()))),
        ),
        min_size=1,
        max_size=3,
    ).map(lambda parts: Message(role="user", content=list(parts))),
)
examples = st.builds(
    lambda task_id, system, turns, answer: Example(
        id=task_id,
        source=Source(tool="test", format="x", file="x.json"),
        messages=(
            ([Message(role="system", content=system)] if system else [])
            + [m for user, reply in turns for m in (user, Message(role="assistant", content=reply))]
            + [Message(role="user", content="q"), Message(role="assistant", content=answer)]
        ),
    ),
    st.text(max_size=5),
    st.none() | words,
    st.lists(st.tuples(user_messages, words), max_size=2),
    words,
)


@SETTINGS
@given(batch=st.lists(examples, max_size=6))
def test_written_examples_pass_validate_and_the_bytes_are_deterministic(
    batch: list[Example],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        first, second = Path(folder) / "a.jsonl", Path(folder) / "b.jsonl"
        write_jsonl(batch, first)
        write_jsonl(list(batch), second)
        assert first.read_bytes() == second.read_bytes()
        assert first.read_bytes().count(b"\n") == len(batch)
        if batch:
            report = validate(first)
            assert report.errors == 0, report.to_text()
        lines = first.read_text("utf-8").split("\n")[:-1]  # not splitlines: U+0085 is text
        for line, example in zip(lines, batch, strict=True):
            assert json.loads(line) == example.to_json_dict()
