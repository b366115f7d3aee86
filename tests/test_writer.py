"""The JSONL writer: exact bytes, atomic replacement, deterministic splits."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge.chat import Example, Message
from jsonl_bridge.errors import UsageError
from jsonl_bridge.records import Source
from jsonl_bridge.writer import parse_split, split_of, write_jsonl, write_splits

SOURCE = Source(tool="test", format="json", file="x.json")


def example(ident: str, answer: str) -> Example:
    return Example(
        id=ident,
        source=SOURCE,
        messages=[
            Message(role="user", content="Grüße 😡"),
            Message(role="assistant", content=answer),
        ],
    )


def test_lines_are_utf8_unescaped_and_newline_terminated(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    report = write_jsonl([example("1", "a\nb")], out)
    data = out.read_bytes()
    expected = (
        '{"messages": [{"role": "user", "content": "Grüße 😡"}, '
        '{"role": "assistant", "content": "a\\nb"}]}\n'
    ).encode()
    assert data == expected
    assert b"\r" not in data and b"\\u" not in data
    assert report.examples == 1 and report.bytes_written == len(data)


def test_stream_target_gets_the_same_bytes(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    write_jsonl([example("1", "x")], buffer)
    write_jsonl([example("1", "x")], tmp_path / "a.jsonl")
    assert buffer.getvalue() == (tmp_path / "a.jsonl").read_bytes()


def test_failure_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    out.write_text("old\n")

    def broken() -> Iterator[Example]:
        yield example("1", "x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(broken(), out)
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]


def test_output_gets_ordinary_permissions(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    write_jsonl([example("1", "x")], out)
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_parse_split_validates() -> None:
    assert parse_split("train=0.9,validation=0.1") == {"train": 0.9, "validation": 0.1}
    for bad in ("train=0.9", "train", "train=x,validation=1", "a=0.5,a=0.5", "a=1.5,b=-0.5"):
        with pytest.raises(UsageError, match="--split"):
            parse_split(bad)


def test_splits_are_deterministic_and_files_named_after_the_output(tmp_path: Path) -> None:
    fractions = {"train": 0.5, "validation": 0.5}
    examples = [example(str(i), str(i)) for i in range(200)]
    write_splits(examples, tmp_path / "ds.jsonl", fractions, seed=1)
    train = (tmp_path / "ds.train.jsonl").read_bytes()
    validation = (tmp_path / "ds.validation.jsonl").read_bytes()
    assert len(train.splitlines()) + len(validation.splitlines()) == 200
    assert 60 < len(train.splitlines()) < 140  # a fair coin, not all in one bucket
    # the split of a task does not depend on file order
    write_splits(list(reversed(examples)), tmp_path / "r.jsonl", fractions, seed=1)
    ids = {json.loads(line)["messages"][1]["content"] for line in train.splitlines()}
    reversed_ids = {
        json.loads(line)["messages"][1]["content"]
        for line in (tmp_path / "r.train.jsonl").read_bytes().splitlines()
    }
    assert ids == reversed_ids
    # and a different seed gives a different split
    assert any(split_of(str(i), fractions, 1) != split_of(str(i), fractions, 2) for i in range(50))


@given(st.text(min_size=1), st.integers(min_value=0, max_value=2**32))
def test_split_of_always_names_a_split(task_id: str, seed: int) -> None:
    fractions = {"train": 0.8, "validation": 0.1, "test": 0.1}
    assert split_of(task_id, fractions, seed) in fractions
    assert split_of(task_id, fractions, seed) == split_of(task_id, fractions, seed)


def test_a_write_error_midway_is_an_output_error_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jsonl_bridge import writer
    from jsonl_bridge.errors import OutputError

    def full(example: object) -> list[bytes]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "example_chunks", full)
    with pytest.raises(OutputError, match="No space left on device"):
        write_jsonl([example("1", "x")], tmp_path / "t.jsonl")
    assert list(tmp_path.iterdir()) == []


_texts = st.text(st.characters(codec="utf-8"), max_size=30)
_urls = st.one_of(
    st.builds(
        lambda mime, payload: f"data:image/{mime};base64,{payload}",
        st.sampled_from(["png", "jpeg", "webp"]),
        st.text("ABCXYZabcxyz0189+/=", max_size=60),
    ),
    _texts,  # anything else a library user may put there: must be escaped as usual
    st.just("data:x\x00jsonl_bridge:data-url\x00"),  # the placeholder itself
)


@given(st.lists(st.tuples(_texts, _urls), max_size=4), _texts)
def test_spliced_data_urls_give_exactly_json_dumps_bytes(
    parts: list[tuple[str, str]], answer: str
) -> None:
    """The fast path for images must be byte-identical to plain json.dumps, whatever the
    text around the images holds (even the placeholder the writer uses)."""
    from jsonl_bridge.writer import dumps_line

    content: list[dict[str, object]] = []
    for text, url in parts:
        content += [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": url}},
        ]
    line = {
        "messages": [{"role": "user", "content": content}, {"role": "assistant", "content": answer}]
    }
    assert dumps_line(line) == (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


def test_embedded_urls_are_spliced_unchecked_and_others_checked() -> None:
    """Data URLs made by embedding skip the alphabet check; a URL a library user built goes
    through it, so one with characters JSON must escape is still escaped."""
    from jsonl_bridge.chat import EmbeddedImageURL, Example, ImagePart, ImageURL, Message, TextPart
    from jsonl_bridge.records import Source
    from jsonl_bridge.writer import example_chunks

    made = "data:image/png;base64," + "QUJD" * 50_000
    hand = 'data:image/png;base64,QUJD"\\x'
    example = Example(
        id="1",
        source=Source(tool="t", format="f", file="x"),
        messages=[
            Message(
                role="user",
                content=[
                    TextPart(text="look"),
                    ImagePart(image_url=EmbeddedImageURL(url=made)),
                    ImagePart(image_url=ImageURL(url=hand)),
                ],
            ),
            Message(role="assistant", content=[TextPart(text="[]")]),
        ],
    )
    chunks = example_chunks(example)
    expected = (json.dumps(example.to_json_dict(), ensure_ascii=False) + "\n").encode()
    assert b"".join(chunks) == expected
    assert made.encode() in chunks  # spliced as its own piece, not copied into a join
    assert EmbeddedImageURL(url=made).plain_base64 and not ImageURL(url=made).plain_base64


@given(
    st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text()),
        min_size=1,
        max_size=4,
    )
)
def test_a_text_only_line_is_what_json_dumps_writes(messages: list[tuple[str, str]]) -> None:
    """Text-only examples skip the dict and json's encoder object: the bytes are the same."""
    from jsonl_bridge.writer import example_chunks

    example = Example(
        id="1",
        source=Source(tool="t", format="f", file="x"),
        messages=[Message(role=role, content=text) for role, text in messages],  # type: ignore[arg-type]
    )
    expected = (json.dumps(example.to_json_dict(), ensure_ascii=False) + "\n").encode()
    assert example_chunks(example) == [expected]


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (
            Message(role="bogus", content="x"),
            "Invalid enum value 'bogus' - at `$.messages[0].role`",
        ),  # type: ignore[arg-type]
        (Message(role="user", content=5), "got `int` - at `$.messages[0].content`"),  # type: ignore[arg-type]
        (Message(role="user", content=[{"type": "text"}]), "at `$.messages[0].content"),  # type: ignore[list-item]
    ],
)
def test_hand_built_examples_of_the_wrong_types_are_refused_before_anything_is_written(
    tmp_path: Path, message: Message, why: str
) -> None:
    """Structs do not check types when built: write_jsonl does, for examples not made by
    convert, and the atomic output leaves no file behind."""
    source = Source(tool="t", format="f", file="x")
    good = Example(id="1", source=source, messages=[Message(role="assistant", content="ok")])
    bad = Example(id="2", source=source, messages=[message])
    with pytest.raises(UsageError, match="example 1 \\(id '2'\\)") as caught:
        write_jsonl([good, bad], tmp_path / "out.jsonl")
    assert why in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="expected an Example, got dict"):
        write_jsonl([{"messages": []}], tmp_path / "out.jsonl")  # type: ignore[list-item]


class Text(str):
    """A str subclass, which the writer's fast path leaves to json's escaping."""


ANY_CHARACTER = st.characters(codec=None, categories=None)
"""Every code point, lone surrogates included (which UTF-8 cannot encode)."""


@given(
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["system", "user", "assistant"]), st.text(ANY_CHARACTER)),
            st.one_of(st.text(ANY_CHARACTER), st.text().map(Text)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_text_line_is_what_json_dumps_writes_or_fails_as_it_does(
    messages: list[tuple[str, str]],
) -> None:
    """Every character, any role, str subclasses: the same bytes as json.dumps, and the same
    error where UTF-8 cannot encode the line."""
    from jsonl_bridge.writer import example_chunks

    example = Example(
        id="1",
        source=Source(tool="t", format="f", file="x"),
        messages=[Message(role=role, content=text) for role, text in messages],  # type: ignore[arg-type]
    )
    plain = [{"role": role, "content": text} for role, text in messages]
    line = json.dumps({"messages": plain}, ensure_ascii=False) + "\n"
    try:
        expected = line.encode()
    except UnicodeEncodeError as exc:
        with pytest.raises(UnicodeEncodeError) as caught:
            example_chunks(example)
        assert str(caught.value) == str(exc)
    else:
        assert example_chunks(example) == [expected]
