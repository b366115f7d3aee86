"""Doccano span offsets: UTF-16 code units (the browser UI) and code points (API clients).

The known vector is the fixture README's (sequence-labeling s4): in
"😀🎉 Emoji first: invoice ZX-9 ...", `ZX-9` is [24, 28] in code points and [26, 30] in
UTF-16 code units. The property tests compute UTF-16 offsets with Python's own UTF-16 codec.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jsonl_bridge.adapters._doccano_offsets import OffsetError, TextOffsets

S4 = "😀🎉 Emoji first: invoice ZX-9 totals $12.00, due 2025-01-31."


def _utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def test_the_readme_vector_in_both_units() -> None:
    assert TextOffsets(S4, "utf16").span(26, 30) == (24, 28)
    assert TextOffsets(S4, "codepoints").span(24, 28) == (24, 28)
    assert S4[24:28] == "ZX-9"


def test_a_text_without_astral_characters_is_the_same_in_both_units() -> None:
    text = "Grüße aus Köln – ✈️ ok"  # umlauts, dash, U+2708 U+FE0F: all in the BMP
    assert TextOffsets(text, "utf16").span(3, 9) == (3, 9)
    assert TextOffsets(text, "utf16").length == len(text)


def test_an_offset_inside_a_surrogate_pair_is_an_error() -> None:
    with pytest.raises(OffsetError, match=r"surrogate pair.*'😀'.*offsets=codepoints"):
        TextOffsets(S4, "utf16").span(1, 5)


@pytest.mark.parametrize(
    ("unit", "start", "end", "length"),
    [("utf16", 26, 62, 61), ("codepoints", 24, 60, 59), ("codepoints", -1, 3, 59)],
)
def test_a_span_past_either_end_names_the_length_and_unit(
    unit: str, start: int, end: int, length: int
) -> None:
    name = "UTF-16 code units" if unit == "utf16" else "code points"
    with pytest.raises(OffsetError, match=rf"\[{start}, {end}\].*\({length} {name}"):
        TextOffsets(S4, unit).span(start, end)  # type: ignore[arg-type]


def test_an_empty_or_reversed_span_is_an_error() -> None:
    for start, end in ((5, 5), (6, 5)):
        with pytest.raises(OffsetError, match="start must be below end"):
            TextOffsets("hello world", "codepoints").span(start, end)


_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),  # emoji (astral)
        st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, categories=["Lo", "So"]),
        st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]),
    ),
    min_size=1,
    max_size=40,
)


@given(_TEXT, st.data())
def test_utf16_offsets_round_trip_to_code_points(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    offsets = TextOffsets(text, "utf16")
    assert offsets.length == len(text.encode("utf-16-le")) // 2
    assert offsets.span(_utf16(text, start), _utf16(text, end)) == (start, end)
    assert TextOffsets(text, "codepoints").span(start, end) == (start, end)


@given(_TEXT, st.data())
def test_every_offset_inside_a_surrogate_pair_is_refused(text: str, data: st.DataObject) -> None:
    astral = [i for i, char in enumerate(text) if ord(char) > 0xFFFF]
    assume(astral)
    inside = _utf16(text, data.draw(st.sampled_from(astral))) + 1  # between the two units
    offsets = TextOffsets(text, "utf16")
    with pytest.raises(OffsetError, match="surrogate pair"):
        offsets.span(inside, offsets.length)  # as a start
    with pytest.raises(OffsetError, match="surrogate pair"):
        offsets.span(0, inside)  # as an end
