"""The orjson streamer of a top-level JSON array (adapters/_json_array.py, _json_value.py).

The oracle is Python's `json` on the whole text: the streamer must yield exactly its items,
whatever the strings hold (braces, `},{`, quotes, backslashes, astral characters), however
the array is laid out, and whatever size the reads have (1 byte up, so that every item,
string and escape is cut by a read somewhere).
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsonl_bridge.adapters import _common, _json_array, _json_value
from jsonl_bridge.adapters._json_array import READ_SIZE, array_items
from jsonl_bridge.errors import InputError

TRICKY = '}{][,:"\\ \n\tabé€😀'
"""What cuts and scanners trip on: the structure bytes, escapes, two- to four-byte UTF-8."""
texts = st.text(
    st.sampled_from(list(TRICKY)) | st.characters(blacklist_categories=("Cs",)), max_size=30
)
texts = texts | st.sampled_from(["}", "},{", "}, ]", '"}', "\\", "}]}", '{"id": 1}, {'])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()  # json.dump writes NaN and Infinity, which orjson refuses
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)
tasks = st.dictionaries(texts, values, max_size=5)
arrays = st.lists(tasks | values, max_size=8)
"""Mostly objects (what exports hold), some numbers, strings, arrays and nulls."""


def serialize(items: list[Any], style: str, ensure_ascii: bool) -> bytes:
    if style == "compact":
        text = json.dumps(items, separators=(",", ":"), ensure_ascii=ensure_ascii)
    elif style == "default":
        text = json.dumps(items, ensure_ascii=ensure_ascii)
    else:  # indented, like Label Studio's JSON_MIN; crlf and bom on top of that
        text = json.dumps(items, indent=2, ensure_ascii=ensure_ascii)
        text = text.replace("\n", "\r\n") if style == "crlf" else text
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if style == "bom" else data


def stream(data: bytes, read_size: int = READ_SIZE) -> list[Any]:
    return list(array_items(io.BytesIO(data), "export.json", "task", read_size))


def refusal(data: bytes, read_size: int = READ_SIZE) -> str:
    with pytest.raises(InputError) as caught:
        stream(data, read_size)
    message = str(caught.value)
    assert message.startswith("export.json: ")
    return message


read_sizes = st.integers(min_value=1, max_value=64) | st.sampled_from([256, 4096, READ_SIZE])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=arrays,
    style=st.sampled_from(["compact", "default", "indent", "crlf", "bom"]),
    ensure_ascii=st.booleans(),
    read_size=read_sizes,
)
def test_the_items_are_exactly_what_json_reads(
    items: list[Any], style: str, ensure_ascii: bool, read_size: int
) -> None:
    data = serialize(items, style, ensure_ascii)
    assert _as_read(stream(data, read_size)) == _as_read(json.loads(data.decode("utf-8-sig")))


flat_tasks = st.dictionaries(texts, scalars | st.lists(scalars, max_size=3), max_size=4)


@settings(max_examples=100, deadline=None)
@given(items=st.lists(flat_tasks, min_size=20, max_size=40), read_size=st.integers(64, 2048))
def test_long_arrays_of_objects_take_the_fast_path_and_stay_exact(
    items: list[Any], read_size: int
) -> None:
    """Many objects per read: stretches of several items are cut and parsed at once, and a
    string with unbalanced braces sends one stretch to the slow path."""
    data = serialize(items, "compact", False)
    assert _as_read(stream(data, read_size)) == _as_read(json.loads(data))


@settings(max_examples=200, deadline=None)
@given(items=st.lists(tasks | values, min_size=1, max_size=6), cut=st.floats(0, 1))
def test_a_file_cut_anywhere_is_truncated_json(items: list[Any], cut: float) -> None:
    data = serialize(items, "default", False)
    end = 1 + int(cut * (len(data) - 2))  # past the '[', before the ']'
    message = refusal(data[:end], read_size=7)
    assert "truncated JSON: the file ends " in message


edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace"]),
        st.floats(0, 1),
        st.sampled_from([*b'{}[],:"\\ 0-.eEntf', 0xFF, 0xC3]),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(flat_tasks | values, max_size=6), edits=edits, read_size=read_sizes)
def test_damaged_json_is_refused_or_read_as_json_reads_it(
    items: list[Any], edits: list[tuple[str, float, int]], read_size: int
) -> None:
    """Never accept what `json` refuses, never fail with anything but InputError."""
    data = bytearray(serialize(items, "default", False))
    for edit, where, byte in edits:
        at = int(where * len(data))
        if edit == "insert":
            data.insert(at, byte)
        elif at < len(data):
            data[at : at + 1] = b"" if edit == "delete" else bytes([byte])
    try:
        expected = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError):
        expected = None
    if not isinstance(expected, list):
        refusal(bytes(data), read_size)
    else:
        assert _as_read(stream(bytes(data), read_size)) == _as_read(expected)


def _as_read(value: Any) -> Any:
    """What the streamer makes of what `json` reads: NaN made comparable, lone surrogates as
    U+FFFD."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    if isinstance(value, list):
        return [_as_read(item) for item in value]
    if isinstance(value, dict):
        return {_as_read(key): _as_read(item) for key, item in value.items()}
    return value


def test_empty_arrays_and_whitespace_around_them() -> None:
    assert stream(b"[]") == []
    assert stream(b"\xef\xbb\xbf \r\n[ \t\r\n] \n") == []
    assert stream(b"[\n  ]", read_size=1) == []


@pytest.mark.parametrize(
    ("data", "wanted"),
    [
        (b"", "empty file"),
        (b"\xef\xbb\xbf  \n", "empty file"),
        (b'{"id": 1}', "not a JSON array: it starts with '{' at byte offset 0 (line 1)"),
        (b"\n\n  1", "not a JSON array: it starts with '1' at byte offset 4 (line 3)"),
        (b'[{"id": 1}] {"id": 2}', "invalid JSON: content after the closing ']' at byte offset 12"),
        (b'[{"id": 1}]]', "content after the closing ']' at byte offset 11"),
        (b'[{"id": 7},]', "invalid JSON after task [0] (id 7): expected a task at byte offset 11"),
        (b"[,1]", "invalid JSON before the first task: expected a task at byte offset 1"),
        (b'[{"id": 7} {"id": 8}]', "after task [0] (id 7): expected ',' or ']' at byte offset 11"),
        (b'[{"id": 7}', "truncated JSON: the file ends after task [0] (id 7), before the closing"),
        (b"[", "truncated JSON: the file ends before the first task, before the closing ']'"),
        (b'[1, {"a": "x', "ends after task [0], inside the task that starts at byte offset 4"),
        (b"[1, tru", "ends after task [0], inside the task that starts at byte offset 4"),
    ],
)
def test_what_is_not_a_whole_array_is_refused_saying_where(data: bytes, wanted: str) -> None:
    for read_size in (1, 5, READ_SIZE):
        assert wanted in refusal(data, read_size)


def test_invalid_json_in_the_middle_names_the_task_before_it_the_byte_and_the_line() -> None:
    tasks = [{"id": f"t{n}", "data": {"text": "naïve 😀 } , {"}} for n in range(50)]
    text = json.dumps(tasks, indent=2, ensure_ascii=False)
    bad = text.index('"id": "t30"') + len('"id": "t30"')  # a comma goes missing
    data = (text[:bad] + text[bad + 1 :]).encode("utf-8")
    expected_offset = len(text[:bad].encode("utf-8")) + 5  # past the newline and indent
    expected_line = text[:bad].count("\n") + 2
    for read_size in (3, 100, READ_SIZE):
        message = refusal(data, read_size)
        assert "invalid JSON after task [29] (id t29)" in message
        assert f"at byte offset {expected_offset} (line {expected_line})" in message


def test_bytes_that_are_not_utf8_are_refused_at_their_offset() -> None:
    data = b'[{"id": 1, "t": "ok"}, {"id": 2, "t": "caf\xe9"}]'
    offset = data.index(b"\xe9")
    for read_size in (1, 16, READ_SIZE):
        message = refusal(data, read_size)
        assert f"not UTF-8 text after task [0] (id 1) at byte offset {offset} (line 1)" in message


def test_a_stream_that_cannot_seek_gets_the_offset_without_the_line() -> None:
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(InputError) as caught:
        list(array_items(Pipe(b'[{"id": 1} 2]'), "-", "task"))
    assert (
        str(caught.value)
        == "-: invalid JSON after task [0] (id 1): expected ',' or ']' at byte offset 11"
    )


def test_what_python_writes_and_orjson_refuses_is_read_with_json() -> None:
    """json.dump writes NaN and Infinity; surrogates can be escaped alone."""
    data = b'[{"a": NaN, "b": -Infinity}, {"c": 1e400}, {"d": "x\\ud800y", "e": "\\ud83d\\ude00"}]'
    for read_size in (1, 8, READ_SIZE):
        first, second, third = stream(data, read_size)
        assert math.isnan(first["a"]) and first["b"] == -math.inf
        assert second == {"c": math.inf}
        assert third == {"d": "x\ufffdy", "e": "😀"}  # a lone surrogate cannot be written


def test_a_nan_in_every_task_of_a_long_export_is_read() -> None:
    tasks = [{"id": n, "score": float("nan"), "text": "} , {" * (n % 5)} for n in range(300)]
    got = stream(json.dumps(tasks).encode(), read_size=4096)
    assert [task["id"] for task in got] == list(range(300))
    assert all(math.isnan(task["score"]) for task in got)


def test_integers_beyond_64_bits_stay_exact() -> None:
    """An id of 25 digits must not become a float (orjson's reading): it names a task."""
    big, unsigned = 2**70, 2**64 - 1
    (item,) = stream(json.dumps([{"big": big, "neg": -big, "u64": unsigned}]).encode())
    assert item == {"big": big, "neg": -big, "u64": unsigned}
    assert all(type(v) is int for v in item.values())


def test_nesting_deeper_than_orjson_allows_is_refused() -> None:
    data = b"[" + b"[" * 2000 + b"]" * 2000 + b"]"
    assert "invalid JSON before the first task" in refusal(data)
    assert stream(b"[" + b"[" * 500 + b"]" * 500 + b"]") == [json.loads(b"[" * 500 + b"]" * 500)]


def test_a_task_larger_than_the_bound_is_refused_where_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_common, "MAX_TASK_BYTES", 1000)
    small = json.dumps({"id": 1, "text": "x" * 900})
    large = json.dumps({"id": 2, "text": "} " * 600})
    data = f"[{small}, {small}, {large}, {small}]".encode()
    start = data.index(b'{"id": 2')
    for read_size in (1, 64, READ_SIZE):
        message = refusal(data, read_size)
        where = f"from byte offset {start} (line 1)"
        assert f"refused: one task ({where}) is larger than 1000 bytes" in message
    assert len(stream(f"[{small}, {small}]".encode(), read_size=64)) == 2


def test_a_giant_string_is_refused_having_read_about_the_bound() -> None:
    """Memory: the streamer holds the task being read plus one read, never the whole file."""
    limit = _common.MAX_TASK_BYTES

    class Endless(io.RawIOBase):
        """`[{"text": "aaaa...` that never ends; counts what was read."""

        def __init__(self) -> None:
            self.given = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            view = memoryview(buffer).cast("B")
            head = b'[{"text": "' if not self.given else b""
            view[: len(head)] = head
            view[len(head) :] = b"a" * (len(view) - len(head))
            self.given += len(view)
            return len(view)

    endless = Endless()
    with pytest.raises(InputError, match="refused: one task"):
        list(array_items(io.BufferedReader(endless), "endless.json", "task"))
    assert limit < endless.given < limit + 3 * READ_SIZE


def test_items_come_before_the_file_is_read_whole() -> None:
    tasks = [{"id": n, "text": "t" * 500} for n in range(5000)]  # 2.6 MB
    source = io.BytesIO(json.dumps(tasks).encode())
    items = array_items(source, "export.json", "task")
    assert next(items) == tasks[0]
    assert source.tell() <= 64 << 10
    assert list(items) == tasks[1:]


def test_objects_with_balanced_strings_are_all_read_by_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The speed of the streamer (issue 8): an export's tasks are parsed stretch by stretch."""
    monkeypatch.setattr(_json_array._ArrayReader, "_one", None)  # the slow path would fail
    tasks = [
        {"id": n, "data": {"text": "Grüße 😀 {x}, [y]" * (n % 7)}, "a": [{}]} for n in range(3000)
    ]
    for style in ("compact", "default", "indent"):
        assert stream(serialize(tasks, style, ensure_ascii=False)) == tasks


def test_valid_items_in_the_slow_path_need_no_exact_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Items the fast path cannot cut (here: unbalanced braces in strings, non-ASCII text)
    are found by orjson probes; the exact scanner and `json` are for what orjson refuses."""
    monkeypatch.setattr(_json_array, "Scan", None)
    monkeypatch.setattr(_json_value, "_DECODER", None)  # nor Python's json
    tasks = [{"id": n, "text": "naïve 😀 {" * (n % 3), "n": [1.5, None]} for n in range(500)]
    assert stream(serialize(tasks, "default", ensure_ascii=False), read_size=1 << 16) == tasks


def test_an_encoded_surrogate_is_not_utf8_and_is_refused() -> None:
    """b'\\xed\\xa0\\x80' (U+D800 encoded) is not UTF-8: no output could be written with it."""
    for where in (b'[{"\xed\xa0\x80a": 1}]', b'[{"a": "x"}, {"b": "\xed\xa0\x80"}]'):
        assert "not UTF-8" in refusal(where) or "invalid JSON" in refusal(where)
