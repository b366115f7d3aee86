"""Label Studio brush masks: the tight box read from `value.rle` without decoding to values.

The encoder below follows @thi.ng/rle-pack's `encodeBinary` (what Label Studio's frontend
runs); the decoder is a list transcription of label-studio-converter's `decode_rle`. The
decoder checks the encoder, and both check `ls_rle_bbox` against a brute-force box.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jsonl_bridge
from jsonl_bridge.adapters._ls_rle import ls_rle_bbox
from jsonl_bridge.adapters._ls_values import ResultError
from jsonl_bridge.geometry import envelope
from jsonl_bridge.records import Mask

RLE_SIZES = (3, 4, 8, 16)


def _bits(value: int, count: int) -> str:
    assert 0 <= value < 1 << count
    return format(value, f"0{count}b")


def encode(
    values: list[int], word_size: int = 8, rle_sizes: tuple[int, ...] = RLE_SIZES
) -> list[int]:
    """rle-pack: runs of equal values (count >= 2) and literal chunks, each at most 2**16 long
    with the default sizes; a chunk's count - 1 goes in the smallest length class that holds it."""
    limit = 1 << rle_sizes[3]
    out = [_bits(len(values), 32), _bits(word_size - 1, 5)]
    out += [_bits(size - 1, 4) for size in rle_sizes]

    def head(flag: int, count: int) -> None:
        cls = next(k for k, size in enumerate(rle_sizes) if count - 1 < 1 << size)
        out.append(f"{flag}{_bits(cls, 2)}{_bits(count - 1, rle_sizes[cls])}")

    literals: list[int] = []

    def flush() -> None:
        if literals:
            head(0, len(literals))
            out.extend(_bits(v, word_size) for v in literals)
            literals.clear()

    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i] and j - i < limit:
            j += 1
        if j - i >= 2:
            flush()
            head(1, j - i)
            out.append(_bits(values[i], word_size))
        else:
            literals.append(values[i])
            if len(literals) == limit:
                flush()
        i = j
    flush()
    stream = "".join(out)
    stream += "0" * (-len(stream) % 8)
    return [int(stream[k : k + 8], 2) for k in range(0, len(stream), 8)]


def decode(rle: list[int]) -> list[int]:
    """label-studio-converter `decode_rle`, with a list for the numpy array."""
    stream = "".join(_bits(b, 8) for b in rle)
    pos = 0

    def read(count: int) -> int:
        nonlocal pos
        pos += count
        return int(stream[pos - count : pos], 2)

    num = read(32)
    word_size = read(5) + 1
    rle_sizes = [read(4) + 1 for _ in range(4)]
    i, out = 0, [0] * num
    while i < num:
        x = read(1)
        j = i + 1 + read(rle_sizes[read(2)])
        if x:
            val = read(word_size)
            out[i:j] = [val] * (j - i)
            i = j
        else:
            while i < j:
                out[i] = read(word_size)
                i += 1
    return out


def brute_bbox(alpha: list[list[int]]) -> tuple[int, int, int, int] | None:
    painted = [(x, y) for y, row in enumerate(alpha) for x, a in enumerate(row) if a]
    if not painted:
        return None
    xs, ys = [x for x, _ in painted], [y for _, y in painted]
    return min(xs), min(ys), max(xs) + 1, max(ys) + 1


@st.composite
def masks(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    """A random alpha plane and RGBA values: painted pixels come in rectangles, row-major
    strokes (which wrap row ends) and strays; values repeat the alpha (runs across row ends),
    carry a colour, or are noise (literal chunks)."""
    width, height = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    alphas = st.one_of(st.just(255), st.integers(1, 255))
    alpha = [[0] * width for _ in range(height)]
    for _ in range(draw(st.integers(0, 3))):
        x1, y1 = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
        x2, y2 = draw(st.integers(x1, width - 1)), draw(st.integers(y1, height - 1))
        value = draw(alphas)
        for y in range(y1, y2 + 1):
            for x in range(x1, x2 + 1):
                alpha[y][x] = value
    for _ in range(draw(st.integers(0, 2))):
        first = draw(st.integers(0, width * height - 1))
        last = draw(st.integers(first, min(first + 2 * width, width * height - 1)))
        value = draw(alphas)
        for pixel in range(first, last + 1):
            alpha[pixel // width][pixel % width] = value
    for _ in range(draw(st.integers(0, 4))):
        x, y = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
        alpha[y][x] = draw(st.one_of(st.just(0), alphas))
    mode = draw(st.sampled_from(["grey", "colour", "noise", "noisy paint"]))
    noise = draw(st.randoms(use_true_random=False))
    values = []
    for row in alpha:
        for a in row:
            if mode == "grey":  # label-studio-converter's mask2rle: each alpha repeated 4 times
                values += [a] * 4
            elif mode == "colour" or (mode == "noisy paint" and not a and noise.random() < 0.5):
                values += [0, 0, 0, 0] if not a else [255, 0, 0, a]
            else:  # literal chunks; with some zero pixels they start and end mid-row
                values += [noise.randrange(256) for _ in range(3)] + [a]
    return alpha, values


@settings(max_examples=200, deadline=None)
@given(masks())
def test_bbox_matches_brute_force(mask: tuple[list[list[int]], list[int]]) -> None:
    alpha, values = mask
    height, width = len(alpha), len(alpha[0])
    assert ls_rle_bbox(encode(values), width, height) == brute_bbox(alpha)


@settings(max_examples=100, deadline=None)
@given(masks(), st.sampled_from([(8, RLE_SIZES), (9, RLE_SIZES), (12, (1, 2, 3, 4))]))
def test_decoder_inverts_encoder(
    mask: tuple[list[list[int]], list[int]], scheme: tuple[int, tuple[int, ...]]
) -> None:
    alpha, values = mask
    word_size, sizes = scheme
    rle = encode(values, word_size, sizes)
    assert decode(rle) == values
    # other word and length sizes take the generic path
    assert ls_rle_bbox(rle, len(alpha[0]), len(alpha)) == brute_bbox(alpha)


def test_chunks_longer_than_a_length_class() -> None:
    """Runs and literal chunks past 2**16 values split; 2**4-bit sizes force many splits."""
    width, height = 200, 90  # 72000 values
    alpha = [[0] * width for _ in range(height)]
    for x in range(40, 190):
        alpha[70][x] = 200
    alpha[80][7] = 1
    values = [a for row in alpha for a in row for _ in range(4)]
    want = (7, 70, 190, 81)
    assert ls_rle_bbox(encode(values), width, height) == want
    assert ls_rle_bbox(encode(values, 8, (2, 3, 4, 5)), width, height) == want
    noisy = [(v * 7 + k) % 256 if k % 4 != 3 else v for k, v in enumerate(values)]
    assert decode(encode(noisy)) == noisy
    assert ls_rle_bbox(encode(noisy), width, height) == want


def test_hand_computed_4x3() -> None:
    # 4 x 3 image, pixels (1, 1) and (2, 1) painted: values 20..27 of 48 carry alpha 255.
    values = [0] * 48
    values[20:28] = [255] * 8
    rle = encode(values)
    # bits: num 48 (32), word size 8 - 1 (5), sizes 3 4 8 16 less one (4 x 4), then runs:
    # 20 x 0 = 1 10 00010011 00000000, 8 x 255 = 1 00 111 11111111, 20 x 0 again; 105 bits
    assert rle == [0, 0, 0, 48, 57, 27, 254, 19, 0, 159, 255, 9, 128, 0]
    assert ls_rle_bbox(rle, 4, 3) == (1, 1, 3, 2)
    # the alpha of pixel 5 alone (values 20..22 zero): the same box's left pixel only
    values[20:23] = [0, 0, 0]
    values[24:28] = [0] * 4
    assert ls_rle_bbox(encode(values), 4, 3) == (1, 1, 2, 2)


def test_a_run_across_a_row_end_spans_every_column() -> None:
    # 4 x 2, pixels (3, 0) and (0, 1): one run of 8 x 255 from value 12 to 19
    values = [0] * 32
    values[12:20] = [255] * 8
    assert ls_rle_bbox(encode(values), 4, 2) == (0, 0, 4, 2)


def test_nothing_painted_and_colour_without_alpha() -> None:
    assert ls_rle_bbox(encode([0] * 48), 4, 3) is None
    # colour but zero alpha is not paint
    assert ls_rle_bbox(encode([255, 255, 255, 0] * 12), 4, 3) is None


def test_wrong_size_and_truncation_are_result_errors() -> None:
    rle = encode([0] * 48)
    with pytest.raises(ResultError, match=r"brush mask encodes 48 values, the image has 5 x 3 x 4"):
        ls_rle_bbox(rle, 5, 3)
    for cut in (rle[:2], rle[:-1], []):
        with pytest.raises(ResultError, match="truncated"):
            ls_rle_bbox(cut, 4, 3)
    literal = encode([k % 7 for k in range(48)])
    with pytest.raises(ResultError, match="truncated"):
        ls_rle_bbox(literal[:-3], 4, 3)
    with pytest.raises(ResultError, match="0-255"):
        ls_rle_bbox([*rle, 256], 4, 3)


def test_empty_mask_has_no_box() -> None:
    empty = Mask(field="m", label="x", encoding="ls-rle", rle=[], width=4, height=3)
    with pytest.raises(ValueError, match="an empty mask has no box"):
        envelope(msgspec.to_builtins(empty))


def _brush_export(tmp_path: Path, rle: list[int], width: int, height: int) -> Path:
    result: dict[str, Any] = {
        "id": "b1",
        "type": "brushlabels",
        "from_name": "mask",
        "to_name": "image",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {"format": "rle", "rle": rle, "brushlabels": ["dent"]},
    }
    annotation = {"id": 10, "completed_by": 1, "result": [result], "was_cancelled": False}
    task = {"id": 1, "data": {"image": "/data/upload/1/a.png"}, "annotations": [annotation]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps([task]), encoding="utf-8")
    return path


def test_through_the_adapter(tmp_path: Path) -> None:
    width, height = 10, 6
    alpha = [[0] * width for _ in range(height)]
    for y in (2, 3):
        for x in range(3, 8):
            alpha[y][x] = 255
    values = [v for row in alpha for a in row for v in ((0, 0, 0, 0) if not a else (0, 0, 0, a))]
    path = _brush_export(tmp_path, encode(values), width, height)
    (record,) = jsonl_bridge.read(path, from_="label-studio")
    assert record.problems == []
    (region,) = record.annotations[0].regions
    assert isinstance(region, Mask)
    assert (region.label, region.width, region.height) == ("dent", width, height)
    assert region.bbox == (3, 2, 8, 4)
    assert envelope(msgspec.to_builtins(region)) == (3, 2, 8, 4)


def test_adapter_reports_a_mask_of_another_size(tmp_path: Path) -> None:
    path = _brush_export(tmp_path, encode([0, 0, 0, 255] * 12), 4, 4)
    (record,) = jsonl_bridge.read(path, from_="label-studio")
    assert record.annotations[0].regions == []
    (problem,) = record.problems
    assert "brush mask encodes 48 values, the image has 4 x 4 x 4" in problem
