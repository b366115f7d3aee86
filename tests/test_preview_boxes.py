"""Reading boxes back out of assistant outputs, in every convention (docs/images.md)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge._preview_boxes import boxes_of
from jsonl_bridge._preview_charts import bins
from jsonl_bridge.geometry import CONVENTIONS, to_convention


def test_gemini_is_ymin_xmin_ymax_xmax_per_mille() -> None:
    # the DESIGN §5 vector: LS x=40.909 y=7.143 w=28.788 h=14.286 on 66×154 → [71, 409, 214, 697]
    found = boxes_of('[{"box_2d": [71, 409, 214, 697], "label": "scratch"}]')
    assert found is not None and found.problems == []
    (box,) = found.boxes
    assert (box.label, box.key, box.convention) == ("scratch", "box_2d", "gemini")
    x1, y1, x2, y2 = box.pixels(66, 154)
    assert x1 == pytest.approx(0.40909 * 66, abs=0.05)
    assert y1 == pytest.approx(0.07143 * 154, abs=0.1)
    assert x2 == pytest.approx((0.40909 + 0.28788) * 66, abs=0.05)
    assert y2 == pytest.approx((0.07143 + 0.14286) * 154, abs=0.1)


def test_bbox_2d_is_qwen_pixels() -> None:
    found = boxes_of('[{"bbox_2d": [10, 20, 30, 40], "label": "a"}]')
    assert found is not None
    assert found.boxes[0].convention == "qwen"
    assert found.boxes[0].pixels(100, 100) == (10, 20, 30, 40)


def test_a_bare_bbox_needs_the_mapping_to_say_its_convention() -> None:
    text = '[{"bbox": [10, 20, 30, 40], "label": "a"}]'
    unknown = boxes_of(text)
    assert unknown is not None and unknown.boxes == []
    assert "convention is unknown" in unknown.problems[0] and "--mapping" in unknown.problems[0]
    xywh = boxes_of(text, "xywh")
    assert xywh is not None and xywh.boxes[0].pixels(100, 100) == (10, 20, 40, 60)
    xyxy = boxes_of(text, "xyxy")
    assert xyxy is not None and xyxy.boxes[0].pixels(100, 100) == (10, 20, 30, 40)


def test_the_mapping_convention_wins_over_the_key() -> None:
    found = boxes_of('[{"box_2d": [1, 2, 3, 4], "label": "a"}]', "xyxy")
    assert found is not None and found.boxes == []
    assert found.problems == ["box 0: no bbox (the mapping's xyxy key)"]


@pytest.mark.parametrize(
    "output",
    [
        "Classification: spam",
        "[]",
        "[1, 2, 3]",
        '[{"label": "a"}]',
        '{"box_2d": [1, 2, 3, 4]}',
        "[not json",
    ],
)
def test_outputs_that_are_not_box_lists_have_no_boxes(output: str) -> None:
    assert boxes_of(output) is None


def test_unreadable_entries_are_reported_not_dropped_silently() -> None:
    text = json.dumps(
        [
            {"box_2d": [1, 2, 3], "label": "short"},
            {"box_2d": [1, 2, 3, "4"], "label": "text"},
            {"box_2d": [True, 2, 3, 4], "label": "bool"},
            "box",
            {"box_2d": [100, 200, 300, 400]},
        ]
    )
    found = boxes_of(text)
    assert found is not None
    assert [b.label for b in found.boxes] == [""]  # the last one, without a label
    assert [p.split(":")[0] for p in found.problems] == ["box 0", "box 1", "box 2", "box 3"]


def test_infinity_cannot_be_drawn() -> None:
    # Python's json reads Infinity; a rectangle at infinity would break the SVG
    found = boxes_of('[{"box_2d": [1, 2, 3, Infinity], "label": "x"}]')
    assert found is not None and found.boxes == [] and len(found.problems) == 1


def test_an_inverted_box_is_drawn_where_its_corners_are() -> None:
    found = boxes_of('[{"box_2d": [500, 400, 100, 200], "label": "a"}]')
    assert found is not None
    assert found.boxes[0].pixels(1000, 1000) == (200, 100, 400, 500)


rects = st.tuples(
    st.floats(0, 500, allow_nan=False),
    st.floats(0, 500, allow_nan=False),
    st.floats(1, 500, allow_nan=False),
    st.floats(1, 500, allow_nan=False),
).map(lambda r: (r[0], r[1], r[0] + r[2], r[1] + r[3]))


@given(
    rect=rects,
    width=st.integers(1001, 4000),
    height=st.integers(1001, 4000),
    convention=st.sampled_from(sorted(CONVENTIONS)),
)
def test_what_convert_writes_is_drawn_where_it_was(
    rect: tuple[float, float, float, float], width: int, height: int, convention: str
) -> None:
    """to_convention (convert's side) then boxes_of (the preview's side) gives the pixel
    rectangle back, up to the convention's rounding: a per-mille step, or half a pixel."""
    coords = to_convention(rect, width, height, convention)
    text = json.dumps([{CONVENTIONS[convention]: coords, "label": "x"}])
    found = boxes_of(text, convention)
    assert found is not None and found.problems == []
    drawn = found.boxes[0].pixels(width, height)
    step_x = width / 1000 if convention == "gemini" else 1.0
    step_y = height / 1000 if convention == "gemini" else 1.0
    for got, want, step in zip(drawn, rect, (step_x, step_y, step_x, step_y), strict=True):
        assert abs(got - want) <= step / 2 + 1e-6


@given(st.lists(st.integers(-1000, 10**6), min_size=1, max_size=300))
def test_histogram_bins_cover_every_value_once(values: list[int]) -> None:
    counted = bins(values)
    assert len(counted) <= 20
    assert sum(n for _, _, n in counted) == len(values)
    assert counted[0][0] == min(values) and counted[-1][1] >= max(values)
    widths = {high - low for low, high, _ in counted}
    assert len(widths) == 1
