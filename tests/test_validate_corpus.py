"""The corpus of tests/fixtures/validate: one broken file per code, checked against the answer
key of its README (each row's command, run through the CLI, must report exactly the findings
the row lists); the service's own example lines, which must pass; and the two shortcuts that
make validation fast and small, which must agree with the plain way: the fast path of the
usual example with the full check, duplicates found by sorting with a dictionary."""

from __future__ import annotations

import base64
import io
import json
import shlex
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from jsonl_bridge import validation
from jsonl_bridge._validate_codes import CODES
from jsonl_bridge._validate_duplicates import Duplicates
from jsonl_bridge._validate_example import _inspect_fully, _usual_example
from jsonl_bridge.cli import app
from jsonl_bridge.profiles import get_profile

CORPUS = Path(__file__).parent / "fixtures" / "validate"
README = (CORPUS / "README.md").read_text(encoding="utf-8")
SERVICE = CORPUS / "service-examples.jsonl"
ALWAYS_IGNORED = "W106"
"""Every corpus file has fewer than 10 valid examples (README): W106 counts in its row only."""


def table(header: str) -> list[list[str]]:
    """The rows of the README table whose header line starts with `header`, cells unquoted."""
    lines = README.splitlines()
    start = next(i for i, text in enumerate(lines) if text.startswith(header))
    rows = []
    for text in lines[start + 2 :]:
        if not text.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in text.strip("|").split(" | ")])
    return rows


CORPUS_ROWS = table("| file | command | expected |")
SERVICE_ROWS = table("| line | use case |")

Findings = Counter[tuple[str, str, int | None]]


def expected_findings(file: str, cell: str) -> Findings:
    """`E102:1, E104:file` of the README as (file, code, line) counts."""
    if cell == "(none)":
        return Counter()
    found: Findings = Counter()
    for item in cell.split(", "):
        code, _, where = item.partition(":")
        found[file, code, None if where == "file" else int(where)] += 1
    return found


def run_cli(args: list[str]) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout)


def reported_findings(report: dict[str, Any], ignore: set[str]) -> Findings:
    found: Findings = Counter()
    for code, entry in report["codes"].items():
        if code in ignore:
            continue
        assert entry["count"] == len(entry["first"]), "a corpus file reports few enough to list"
        for place in entry["first"]:
            found[Path(place["file"]).name, code, place["line"]] += 1
    return found


# --- the files the test writes: their size is what breaks them (README) ----------------------


def png_4x4() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    return out.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return struct.pack(">I", len(body)) + kind + body + crc


def chat_line(*user_parts: dict[str, Any], user_text: str = "Defects?") -> bytes:
    content: Any = [{"type": "text", "text": user_text}, *user_parts] if user_parts else user_text
    messages = [
        {"role": "system", "content": "Find the defects."},
        {"role": "user", "content": content},
        {"role": "assistant", "content": "[]"},
    ]
    return json.dumps({"messages": messages}).encode() + b"\n"


def image_part(data: bytes) -> dict[str, Any]:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def write_e307(path: Path) -> None:
    small = png_4x4()
    end = small.rindex(b"IEND") - 4
    big = small[:end] + chunk(b"prVt", b"\0" * (10 * 1024 * 1024)) + small[end:]
    assert len(big) == 10_485_841 > get_profile("openai").max_image_bytes  # as the README says
    path.write_bytes(chat_line(image_part(small)) + chat_line(image_part(big)))


def write_w104(path: Path) -> None:
    long_text = ("The bearing of motor 3 is worn. " * 8_500)[:270_000]
    path.write_bytes(chat_line(user_text="Defects?") + chat_line(user_text=long_text))


def write_e105(path: Path) -> None:
    long_text = "x" * 10_000  # over the 4 KiB the test sets as the line limit
    path.write_bytes(chat_line() + chat_line(user_text=long_text) + chat_line(user_text="Any?"))


GENERATED: dict[str, Callable[[Path], None]] = {
    "E105-line-too-long.jsonl": write_e105,
    "E307-image-too-many-bytes.jsonl": write_e307,
    "W104-too-many-tokens.jsonl": write_w104,
}


# --- the corpus ------------------------------------------------------------------------------


def test_every_code_has_exactly_one_corpus_file_and_every_file_a_row() -> None:
    files = [row[0] for row in CORPUS_ROWS]
    assert len(files) == len(set(files))
    for code, (name, _) in CODES.items():
        assert [f for f in files if f.startswith(code)] == [f"{code}-{name}.jsonl"], code
    committed = {p.name for p in CORPUS.glob("*.jsonl")} - {SERVICE.name}
    assert committed == set(files) - set(GENERATED)


@pytest.mark.parametrize("row", CORPUS_ROWS, ids=[row[0] for row in CORPUS_ROWS])
def test_each_corpus_file_reports_exactly_its_findings(
    row: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file, command, expected, _ = row
    if file.startswith("E105"):
        monkeypatch.setattr(validation, "MAX_LINE_BYTES", 4096)
    words = shlex.split(command)
    assert words[:2] == ["bridge", "validate"] and file in words
    args = []
    for word in words[2:]:
        if word in GENERATED:
            GENERATED[word](tmp_path / word)
            word = str(tmp_path / word)
        elif (CORPUS / word).is_file():
            word = str(CORPUS / word)
        args.append(word)
    exit_code, report = run_cli(["validate", *args])
    ignore = set() if file.startswith(ALWAYS_IGNORED) else {ALWAYS_IGNORED}
    assert reported_findings(report, ignore) == expected_findings(file, expected)
    has_error = any(CODES[code][1] == "error" for _, code, _ in expected_findings(file, expected))
    assert exit_code == (1 if has_error else 0)


# --- the service's own example lines ---------------------------------------------------------


def test_the_service_examples_pass_without_a_mapping() -> None:
    exit_code, report = run_cli(["validate", str(SERVICE)])
    assert exit_code == 0 and report["errors"] == 0
    assert report["files"][0]["examples"] == len(SERVICE_ROWS) == 8
    assert set(report["codes"]) == {"W106", "W107"}  # 8 examples; line 6's https image
    assert [p["line"] for p in report["codes"]["W107"]["first"]] == [6]


def service_errors(tmp_path: Path, number: int, mapping: str) -> set[str]:
    """The error codes of service line `number` validated alone (`(none)`: no mapping)."""
    path = tmp_path / f"line{number}.jsonl"
    path.write_bytes(SERVICE.read_bytes().splitlines(keepends=True)[number - 1])
    _, report = run_cli(["validate", str(path), *([] if mapping == "(none)" else ["-m", mapping])])
    return {code for code, entry in report["codes"].items() if entry["severity"] == "error"}


@pytest.mark.parametrize("row", SERVICE_ROWS, ids=[f"line{row[0]}" for row in SERVICE_ROWS])
def test_each_service_example_passes_the_mapping_of_its_use_case(
    row: list[str], tmp_path: Path
) -> None:
    """...except the single-quoted dict, which the structured-extraction mapping flags."""
    number, use_case, mapping, _ = row
    flagged = {"E402"} if "single quotes" in use_case else set()
    assert service_errors(tmp_path, int(number), mapping) == flagged


@pytest.mark.parametrize("mapping", ["(none)", "dialogue", "summarization"])
def test_the_single_quotes_example_passes_without_the_structured_extraction_mapping(
    mapping: str, tmp_path: Path
) -> None:
    (row,) = [row for row in SERVICE_ROWS if "single quotes" in row[1]]
    assert row[2] == "structured-extraction"
    assert service_errors(tmp_path, int(row[0]), mapping) == set()


def test_the_single_quotes_example_is_line_4_and_not_json() -> None:
    answer = json.loads(SERVICE.read_bytes().splitlines()[3])["messages"][-1]["content"]
    assert answer.startswith("{'")
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer)


# --- the fast path of the usual example loses no check --------------------------------------

chat_messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant", "User", "tool"]),
            "content": st.sampled_from(["", " ", "\n\t", "Hi", "Classification: billing"])
            | st.text(max_size=5),
        },
        optional={"weight": st.integers(0, 1), "name": st.text(max_size=3), "author": st.text()},
    ),
    max_size=5,
)


@given(chat_messages)
def test_the_usual_example_fast_path_agrees_with_the_full_check(messages: list[Any]) -> None:
    """Whatever the fast path accepts, the full check finds nothing wrong with, and both
    compute the same facts; whatever the full check passes (text only), the fast path takes."""
    profile = get_profile("openai")
    fast = _usual_example(messages, profile) if messages else None
    full = _inspect_fully(messages, profile, {}) if messages else None
    if fast is not None:
        assert full is not None and full.findings == []
        assert (fast.messages, fast.text_chars, fast.has_system, fast.output) == (
            full.messages,
            full.text_chars,
            full.has_system,
            full.output,
        )
    elif full is not None:
        assert full.findings


# --- duplicates, found by sorting, are those a dictionary finds -------------------------------


@given(
    st.lists(
        st.lists(st.sampled_from([None, 1, "a", [1], {"a": 1, "b": [2]}]), max_size=8),
        min_size=1,
        max_size=3,
    )
)
def test_duplicates_found_by_sorting_are_those_a_dictionary_finds(files: list[list[Any]]) -> None:
    paths = [Path(f"f{i}.jsonl") for i in range(len(files))]
    duplicates = Duplicates(paths)
    first_seen: dict[str, tuple[int, int]] = {}
    expected = []
    for index, values in enumerate(files):
        for line, value in enumerate(values, 1):
            duplicates.add(value, index, line)
            key = json.dumps(value, sort_keys=True)
            seen = first_seen.setdefault(key, (index, line))
            if seen == (index, line):
                continue
            if seen[0] == index:
                expected.append((index, line, "W101", f"the same example as line {seen[1]}"))
            else:
                where = f"f{seen[0]}.jsonl:{seen[1]}"
                expected.append((index, line, "W102", f"the same example as {where}"))
    found = [(i, line, f.code, f.message) for i, line, f in duplicates.findings()]
    assert found == expected
