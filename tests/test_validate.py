"""`jsonl_bridge.validate`: one hand-written line per error code and per warning, each
asserting the exact code and line number, and the profile limits on images."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import jsonl_bridge as jb
from jsonl_bridge._validate_codes import CODES
from jsonl_bridge.profiles import PROFILES, get_profile
from jsonl_bridge.validation import check_example

SYSTEM = {"role": "system", "content": "Answer yes or no."}


def example(*messages: dict[str, Any], system: bool = True) -> dict[str, Any]:
    """A chat example; by default system + user + assistant."""
    if not messages:
        messages = ({"role": "user", "content": "Is it?"}, {"role": "assistant", "content": "yes"})
    return {"messages": [SYSTEM, *messages] if system else list(messages)}


def line(obj: Any) -> str:
    return json.dumps(obj)


GOOD = [
    line(example({"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}))
    for i in range(12)
]
"""Twelve distinct valid examples: more than the profile minimum, so W106 stays quiet."""


def run(tmp_path: Path, *lines: str | bytes, name: str = "data.jsonl", **kwargs: Any) -> Any:
    path = tmp_path / name
    raw = [x.encode() if isinstance(x, str) else x for x in lines]
    path.write_bytes(b"".join(x + b"\n" for x in raw))
    return jb.validate(path, **kwargs)


def places(report: Any, code: str) -> list[int | None]:
    summary = report.codes.get(code)
    return [p.line for p in summary.first] if summary else []


def errors_at(report: Any, line_no: int) -> set[str]:
    return {
        code
        for code, s in report.codes.items()
        if s.severity == "error" and any(p.line == line_no for p in s.first)
    }


def png(mode: str = "RGB", size: tuple[int, int] = (4, 4), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt)
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_example(*urls: str, role: str = "user") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "Defects?"}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    answer = [{"type": "text", "text": "[]"}]
    if role == "assistant":
        return example(
            {"role": "user", "content": parts[:1]}, {"role": "assistant", "content": parts}
        )
    return example({"role": "user", "content": parts}, {"role": "assistant", "content": answer})


# --- E1xx: lines that are not a JSON object ------------------------------------------------


def test_not_utf8_is_e101_at_its_line(tmp_path: Path) -> None:
    report = run(tmp_path, GOOD[0], b'{"messages": "caf\xe9"}')  # byte 18: 17 before
    assert errors_at(report, 2) == {"E101"}
    assert "byte 18 " in report.codes["E101"].first[0].message


@pytest.mark.parametrize("bad", ["not json", '{"messages": [}', "", "   ", '{"a": NaN}'])
def test_invalid_json_and_blank_lines_are_e102(tmp_path: Path, bad: str) -> None:
    report = run(tmp_path, GOOD[0], bad, GOOD[1])
    assert errors_at(report, 2) == {"E102"}
    assert report.files[0].lines == 3


def test_a_byte_order_mark_is_e102_and_crlf_line_ends_are_fine(tmp_path: Path) -> None:
    report = run(tmp_path, "\ufeff" + GOOD[0], GOOD[1] + "\r")
    assert errors_at(report, 1) == {"E102"}
    assert "BOM" in report.codes["E102"].first[0].message
    assert errors_at(report, 2) == set()


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "null", "3"])
def test_a_json_value_that_is_not_an_object_is_e103(tmp_path: Path, value: str) -> None:
    report = run(tmp_path, value)
    assert errors_at(report, 1) == {"E103"}


def test_an_empty_file_is_e104_for_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    report = jb.validate(path)
    assert places(report, "E104") == [None]
    assert report.errors == 1 and not report.ok


# --- E2xx: the chat structure ---------------------------------------------------------------


@pytest.mark.parametrize("obj", [{}, {"messages": "hi"}, {"messages": []}, {"msgs": []}])
def test_messages_missing_not_a_list_or_empty_is_e201(tmp_path: Path, obj: Any) -> None:
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E201"}


def test_a_message_that_is_not_an_object_is_e202(tmp_path: Path) -> None:
    obj = example("hello", {"role": "assistant", "content": "yes"})  # type: ignore[arg-type]
    assert errors_at(run(tmp_path, GOOD[0], line(obj)), 2) == {"E202"}


@pytest.mark.parametrize(
    "message", [{"role": "user"}, {"content": "hi"}, {"role": "user", "content": None}]
)
def test_a_message_without_role_or_content_is_e203(tmp_path: Path, message: Any) -> None:
    obj = example(message, {"role": "assistant", "content": "yes"})
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E203"}


@pytest.mark.parametrize("role", ["bot", "tool", "User", 3])
def test_an_unknown_role_is_e204(tmp_path: Path, role: Any) -> None:
    obj = example(
        {"role": "user", "content": "hi"},
        {"role": role, "content": "x"},
        {"role": "assistant", "content": "yes"},
    )
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E204"}


def test_an_unknown_message_key_is_e205_naming_it(tmp_path: Path) -> None:
    obj = example(
        {"role": "user", "content": "hi", "author": "ann"},
        {"role": "assistant", "content": "yes", "weight": 1},
    )
    report = run(tmp_path, line(obj))
    assert errors_at(report, 1) == {"E205"}
    assert "author" in report.codes["E205"].first[0].message


@pytest.mark.parametrize(
    "content",
    ["", "  \n", [], [{"type": "text", "text": ""}]],
    ids=["empty", "blank", "list", "part"],
)
def test_empty_content_is_e206(tmp_path: Path, content: Any) -> None:
    obj = example({"role": "user", "content": content}, {"role": "assistant", "content": "yes"})
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E206"}


@pytest.mark.parametrize(
    "part", [{"type": "audio", "audio": "x"}, "just text", {"text": "no type"}]
)
def test_a_part_of_unknown_type_is_e207(tmp_path: Path, part: Any) -> None:
    obj = example({"role": "user", "content": [part]}, {"role": "assistant", "content": "yes"})
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E207"}


@pytest.mark.parametrize("part", [{"type": "text"}, {"type": "text", "text": 5}])
def test_a_text_part_without_text_is_e208(tmp_path: Path, part: Any) -> None:
    obj = example({"role": "user", "content": [part]}, {"role": "assistant", "content": "yes"})
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E208"}


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url"},
        {"type": "image_url", "image_url": {}},
        {"type": "image_url", "image_url": "u"},
    ],
)
def test_an_image_part_without_a_url_is_e209(tmp_path: Path, part: Any) -> None:
    text = {"type": "text", "text": "look"}
    obj = example(
        {"role": "user", "content": [text, part]}, {"role": "assistant", "content": "yes"}
    )
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E209"}


def test_an_image_in_an_assistant_message_is_e210(tmp_path: Path) -> None:
    obj = image_example(data_url(png()), role="assistant")
    report = run(tmp_path, line(obj))
    assert errors_at(report, 1) == {"E210"}
    assert "assistant" in report.codes["E210"].first[0].message


def test_a_system_message_after_the_first_is_e211(tmp_path: Path) -> None:
    obj = example(
        {"role": "user", "content": "hi"}, SYSTEM, {"role": "assistant", "content": "yes"}
    )
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E211"}


def test_no_assistant_message_is_e212(tmp_path: Path) -> None:
    obj = example({"role": "user", "content": "hi"})
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E212"}


def test_a_last_message_not_from_the_assistant_is_e213(tmp_path: Path) -> None:
    obj = example(
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "and?"},
    )
    report = run(tmp_path, line(obj))
    assert errors_at(report, 1) == {"E213"}
    assert "from user" in report.codes["E213"].first[0].message


@pytest.mark.parametrize("content", [5, {"text": "hi"}, True])
def test_content_neither_string_nor_list_is_e214(tmp_path: Path, content: Any) -> None:
    obj = example({"role": "user", "content": content}, {"role": "assistant", "content": "yes"})
    assert errors_at(run(tmp_path, line(obj)), 1) == {"E214"}


# --- E3xx: images ---------------------------------------------------------------------------


def png_with_chunk(kind: bytes, body: bytes, data: bytes | None = None) -> bytes:
    """A valid PNG with one more chunk (correct CRC) just before IEND."""
    data = data or png()
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk(kind, body) + data[end:]


def chunk(kind: bytes, body: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return struct.pack(">I", len(body)) + kind + body + crc


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels and holds none."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return (
        signature + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "url",
    ["data:image/png,iVBORw0KGgo=", "ftp://host/a.png", "data:text/plain;base64,QUJD", "a.png"],
)
def test_a_malformed_data_url_is_e301(tmp_path: Path, url: str) -> None:
    assert errors_at(run(tmp_path, line(image_example(url))), 1) == {"E301"}


@pytest.mark.parametrize("payload", ["@@@@", "iVBORw0KGgo", "iVBO Rw0K"])
def test_invalid_base64_is_e302(tmp_path: Path, payload: str) -> None:
    url = f"data:image/png;base64,{payload}"
    assert errors_at(run(tmp_path, line(image_example(url))), 1) == {"E302"}


def test_bytes_that_are_not_an_image_are_e303(tmp_path: Path) -> None:
    url = data_url(b"hello, not an image at all")
    assert errors_at(run(tmp_path, line(image_example(url))), 1) == {"E303"}


def test_a_declared_type_other_than_the_bytes_is_e304(tmp_path: Path) -> None:
    report = run(tmp_path, line(image_example(data_url(png(), "image/jpeg"))))
    assert errors_at(report, 1) == {"E304"}
    assert "declared image/jpeg, the bytes are image/png" in report.codes["E304"].first[0].message


def test_a_format_outside_the_profile_is_e305(tmp_path: Path) -> None:
    bmp = png(fmt="BMP")
    assert errors_at(run(tmp_path, line(image_example(data_url(bmp, "image/bmp")))), 1) == {"E305"}


@pytest.mark.parametrize("mode", ["L", "P", "LA", "I;16"])
def test_a_mode_outside_the_profile_is_e306(tmp_path: Path, mode: str) -> None:
    report = run(tmp_path, line(image_example(data_url(png(mode)))))
    assert errors_at(report, 1) == {"E306"}
    assert f"mode {mode}," in report.codes["E306"].first[0].message


def test_an_image_over_the_byte_limit_is_e307(tmp_path: Path) -> None:
    limit = get_profile("openai").max_image_bytes
    assert limit == 10 * 1024 * 1024
    big = png_with_chunk(b"prVt", b"\0" * limit)  # a private ancillary chunk: still a valid PNG
    just_under = png_with_chunk(b"prVt", b"\0" * (limit - len(png()) - 12))
    assert len(just_under) == limit
    report = run(
        tmp_path, line(image_example(data_url(big))), line(image_example(data_url(just_under)))
    )
    assert errors_at(report, 1) == {"E307"}
    assert errors_at(report, 2) == set()


def test_a_decompression_bomb_header_is_e308_without_decoding(tmp_path: Path) -> None:
    bomb = png_header_only(100_000, 100_000)
    report = run(tmp_path, line(image_example(data_url(bomb))))
    assert errors_at(report, 1) == {"E308"}


def test_more_images_than_the_profile_allows_is_e309(tmp_path: Path) -> None:
    url = data_url(png())
    ten, eleven = image_example(*[url] * 10), image_example(*[url] * 11)
    report = run(tmp_path, line(ten), line(eleven))
    assert errors_at(report, 1) == set()
    assert errors_at(report, 2) == {"E309"}
    assert "11 images, over 10" in report.codes["E309"].first[0].message
    assert run(tmp_path, line(eleven), profile="azure-openai").errors == 0  # 64 there


def test_a_corrupt_image_is_e310(tmp_path: Path) -> None:
    data = bytearray(png("RGB", (16, 16)))
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF  # inside the compressed data: the chunk CRC no longer matches
    report = run(tmp_path, line(image_example(data_url(bytes(data)))))
    assert errors_at(report, 1) == {"E310"}
    assert "CRC" in report.codes["E310"].first[0].message


def test_valid_images_of_every_service_format_and_mode_pass(tmp_path: Path) -> None:
    urls = [
        data_url(png("RGB")),
        data_url(png("RGBA")),
        data_url(png("RGB", fmt="JPEG"), "image/jpeg"),
        data_url(png("RGB", fmt="WEBP"), "image/webp"),
    ]
    assert run(tmp_path, line(image_example(*urls))).errors == 0


# --- warnings -------------------------------------------------------------------------------


def test_the_same_example_twice_is_w101_whatever_the_key_order_and_spacing(tmp_path: Path) -> None:
    obj = json.loads(GOOD[3])
    reordered = json.dumps(
        {"messages": [dict(reversed(m.items())) for m in obj["messages"]]},
        indent=None,
        separators=(",", ":"),
    )
    report = run(tmp_path, *GOOD, reordered)
    assert places(report, "W101") == [13]
    assert report.codes["W101"].first[0].message == "the same example as line 4"
    assert report.ok


def test_the_same_example_in_two_files_is_w102_leakage(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(GOOD) + "\n")
    valid = tmp_path / "validation.jsonl"
    valid.write_text(
        "\n".join(
            [
                GOOD[5],
                line(
                    example(
                        {"role": "user", "content": "new"}, {"role": "assistant", "content": "a"}
                    )
                ),
            ]
        )
        + "\n"
    )
    report = jb.validate([train, valid])
    assert places(report, "W102") == [1]
    assert report.codes["W102"].first[0].file == str(valid)
    assert report.codes["W102"].first[0].message == f"the same example as {train}:6"
    assert "W101" not in report.codes


def test_a_missing_system_message_is_w103(tmp_path: Path) -> None:
    report = run(tmp_path, *GOOD, line(example(system=False)))
    assert places(report, "W103") == [13]
    assert report.ok


def test_an_example_over_the_token_limit_is_w104(tmp_path: Path) -> None:
    limit = get_profile("openai").max_tokens_per_example
    long = example(
        {"role": "user", "content": "x" * (4 * limit)}, {"role": "assistant", "content": "a"}
    )
    report = run(tmp_path, *GOOD, line(long))
    assert places(report, "W104") == [13]  # 4 * limit chars + the rest: over limit tokens
    assert report.ok


def test_a_skewed_label_distribution_is_w105(tmp_path: Path) -> None:
    def answer(i: int, label: str) -> str:
        return line(
            example({"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": label})
        )

    skewed = [answer(i, "yes") for i in range(20)] + [answer(100 + i, "no") for i in range(2)]
    report = run(tmp_path, *skewed)
    assert places(report, "W105") == [None]
    assert "'yes' ×20 but 'no' ×2" in report.codes["W105"].first[0].message
    balanced = [answer(i, "yes") for i in range(19)] + [answer(100 + i, "no") for i in range(2)]
    assert "W105" not in run(tmp_path, *balanced).codes  # 19 < 10 × 2


def test_free_text_answers_are_never_judged_skewed(tmp_path: Path) -> None:
    unique = [
        line(
            example(
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"answer {i}"},
            )
        )
        for i in range(30)
    ]
    assert "W105" not in run(tmp_path, *unique).codes


def test_fewer_examples_than_the_profile_minimum_is_w106(tmp_path: Path) -> None:
    report = run(tmp_path, *GOOD[:9])
    assert places(report, "W106") == [None]
    assert report.ok and report.warnings == 1
    assert "W106" not in run(tmp_path, *GOOD[:10]).codes


def test_a_remote_image_is_w107_not_fetched(tmp_path: Path) -> None:
    report = run(tmp_path, *GOOD, line(image_example("https://example.com/a.png")))
    assert places(report, "W107") == [13]
    assert report.ok


# --- the report and the API -----------------------------------------------------------------


def test_every_code_is_documented(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[1] / "docs" / "validate.md").read_text(encoding="utf-8")
    for code, (name, _) in CODES.items():
        assert f"`{code}` | `{name}`" in doc, code


def test_counts_are_complete_and_places_capped(tmp_path: Path) -> None:
    report = run(tmp_path, *["oops"] * 25)
    assert report.codes["E102"].count == 25
    assert places(report, "E102") == list(range(1, 11))


def test_check_example_is_pure_and_ordered() -> None:
    obj = example({"role": "bot", "content": ""})
    profile = PROFILES["openai"]
    findings = check_example(obj, profile)
    assert [f.code for f in findings] == ["E204", "E206", "E212"]
    assert check_example(obj, profile) == findings
    assert check_example(json.loads(GOOD[0]), profile) == []


def test_the_package_attribute_stays_the_function_after_the_module_is_imported(
    tmp_path: Path,
) -> None:
    import jsonl_bridge.validation  # noqa: F401

    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(GOOD) + "\n")
    assert jb.validate(path).ok and jb.validate(path).ok  # twice: no module shadowing
    assert isinstance(jb.validate(path), jb.ValidationReport)


def test_an_unreadable_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(jb.InputError, match="cannot read"):
        jb.validate(tmp_path / "missing.jsonl")
    with pytest.raises(jb.InputError, match="cannot read"):
        jb.validate(tmp_path)  # a folder


def test_an_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(jb.UsageError, match="did you mean 'openai'"):
        run(tmp_path, GOOD[0], profile="opneai")
