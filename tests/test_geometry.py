"""Box geometry: the DESIGN §5 known vectors, envelopes of every shape, conventions, clamping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge.geometry import (
    CONVENTIONS,
    box_envelope,
    clamp,
    ellipse_envelope,
    envelope,
    from_convention,
    points_envelope,
    rotated_corners,
    to_convention,
)


def ls_box_px(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[float, ...]:
    """Label Studio percents to pixels, the way the adapter converts them (pct / 100 * size)."""
    return x / 100 * width, y / 100 * height, w / 100 * width, h / 100 * height


def test_known_vector_unrotated_66x154() -> None:
    x, y, w, h = ls_box_px(40.909, 7.143, 28.788, 14.286, 66, 154)
    rect = box_envelope(x, y, w, h, 0, "top_left")
    assert to_convention(rect, 66, 154, "gemini") == [71, 409, 214, 697]


def test_known_vector_rotated_90_about_top_left() -> None:
    x, y, w, h = ls_box_px(20, 20, 30, 20, 1000, 500)
    rect = box_envelope(x, y, w, h, 90, "top_left")
    assert to_convention(rect, 1000, 500, "gemini") == [200, 100, 800, 200]


def test_rotation_is_clockwise_on_screen() -> None:
    # A 10x0 segment from the origin turned 90° clockwise (y down) points straight down.
    corners = rotated_corners(0, 0, 10, 0, 90, "top_left")
    assert corners[1] == pytest.approx((0, 10))


def test_center_pivot_keeps_the_centre() -> None:
    # CVAT: a 40x20 box rotated 90° about its centre (50, 50) becomes 20 wide, 40 high.
    rect = box_envelope(30, 40, 40, 20, 90, "center")
    assert rect == pytest.approx((40, 30, 60, 70))


def test_rotated_45_envelope_matches_the_fixture_note() -> None:
    # README of the LS fixtures: a 70x70 rect at (310, 95) rotated 45° has AABB (260.5, 95, 99, 99)
    x1, y1, x2, y2 = box_envelope(310, 95, 70, 70, 45, "top_left")
    assert (x1, y1, x2 - x1, y2 - y1) == pytest.approx((260.503, 95, 98.995, 98.995), abs=1e-3)


def test_unknown_pivot_is_refused() -> None:
    with pytest.raises(ValueError, match="pivot"):
        rotated_corners(0, 0, 1, 1, 10, "bottom")


def test_polygon_and_ellipse_and_mask_envelopes() -> None:
    polygon = {"type": "polygon", "points": [[500, 80], [560, 90], [550, 140], [505, 130]]}
    assert envelope(polygon) == (500, 80, 560, 140)
    assert ellipse_envelope(10, 20, 5, 2, 0) == pytest.approx((5, 18, 15, 22))
    assert ellipse_envelope(10, 20, 5, 2, 90) == pytest.approx((8, 15, 12, 25))
    mask = {"type": "mask", "left": 3, "top": 4, "width": 2, "height": 1}
    assert envelope(mask) == (3, 4, 5, 5)  # a run covers [left, left + width)


def test_shapes_without_geometry_are_refused() -> None:
    with pytest.raises(ValueError, match="no box geometry"):
        envelope({"type": "choice", "labels": ["a"]})
    with pytest.raises(ValueError, match="without points"):
        points_envelope([])


def test_conventions() -> None:
    rect = (100.4, 120.0, 260.0, 150.6)
    assert to_convention(rect, 640, 480, "xyxy") == [100, 120, 260, 151]
    assert to_convention(rect, 640, 480, "qwen") == [100, 120, 260, 151]
    assert to_convention(rect, 640, 480, "xywh") == [100, 120, 160, 31]
    assert to_convention(rect, 640, 480, "xyxy_norm") == [0.1569, 0.25, 0.4062, 0.3137]
    assert to_convention(rect, 640, 480, "gemini") == [250, 157, 314, 406]
    with pytest.raises(ValueError, match="unknown box convention"):
        to_convention(rect, 640, 480, "yolo")
    with pytest.raises(ValueError, match="not positive"):
        to_convention(rect, 0, 480, "gemini")


def test_clamp_to_the_image() -> None:
    assert clamp((-10, 470, 700, 500), 640, 480) == (0, 470, 640, 480)
    assert to_convention((-10, -5, 700, 500), 640, 480, "gemini") == [0, 0, 1000, 1000]
    assert clamp((50, 60, 10, 20), 640, 480) == (10, 20, 50, 60)  # corners normalised


sizes = st.floats(min_value=1, max_value=4000, allow_nan=False)
coords = st.floats(min_value=-500, max_value=4500, allow_nan=False)
angles = st.floats(min_value=-720, max_value=720, allow_nan=False)


@given(coords, coords, sizes, sizes, angles, st.sampled_from(["top_left", "center"]))
def test_envelope_contains_every_rotated_corner(
    x: float, y: float, w: float, h: float, rotation: float, pivot: str
) -> None:
    x1, y1, x2, y2 = box_envelope(x, y, w, h, rotation, pivot)
    eps = 1e-6 * max(1.0, abs(x) + abs(y) + w + h)
    for cx, cy in rotated_corners(x, y, w, h, rotation, pivot):
        assert x1 - eps <= cx <= x2 + eps
        assert y1 - eps <= cy <= y2 + eps
    # The envelope is tight: the rotated box's diagonal fits exactly, no slack.
    assert math.hypot(x2 - x1, y2 - y1) <= math.hypot(w, h) * math.sqrt(2) + eps


@given(coords, coords, sizes, sizes, angles, sizes, sizes)
def test_gemini_values_stay_in_range_and_ordered(
    x: float, y: float, w: float, h: float, rotation: float, width: float, height: float
) -> None:
    values = to_convention(box_envelope(x, y, w, h, rotation), width, height, "gemini")
    assert all(isinstance(v, int) and 0 <= v <= 1000 for v in values)
    ymin, xmin, ymax, xmax = values
    assert ymin <= ymax and xmin <= xmax


# One unit of each convention, in pixels of a width x height image.
UNITS = {
    "gemini": lambda w, h: (w / 1000, h / 1000),
    "xyxy": lambda w, h: (1.0, 1.0),
    "qwen": lambda w, h: (1.0, 1.0),
    "xywh": lambda w, h: (1.0, 1.0),
    "xyxy_norm": lambda w, h: (w / 10_000, h / 10_000),
}


@given(
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
    st.integers(1, 8000),
    st.integers(1, 8000),
    st.sampled_from(sorted(CONVENTIONS)),
)
def test_pixels_to_convention_and_back_within_one_unit(
    fx1: float, fy1: float, fx2: float, fy2: float, width: int, height: int, convention: str
) -> None:
    """Every convention keeps a box within one of its own units (rounding only)."""
    rect = (
        min(fx1, fx2) * width,
        min(fy1, fy2) * height,
        max(fx1, fx2) * width,
        max(fy1, fy2) * height,
    )
    back = from_convention(
        to_convention(rect, width, height, convention), width, height, convention
    )
    unit_x, unit_y = UNITS[convention](width, height)
    for got, want, unit in zip(back, rect, (unit_x, unit_y, unit_x, unit_y), strict=True):
        assert abs(got - want) <= unit + 1e-9


def test_the_issue_rotated_case_in_every_convention() -> None:
    """LS rect x=310 y=95 w=70 h=70 px rotated 45 on 640x480: envelope x 260.5-359.5, y 95-194."""
    rect = box_envelope(310, 95, 70, 70, 45)
    assert rect == pytest.approx((260.503, 95, 359.497, 193.995), abs=1e-3)
    assert to_convention(rect, 640, 480, "xyxy") == [261, 95, 359, 194]
    assert to_convention(rect, 640, 480, "gemini") == [198, 407, 404, 562]
    assert to_convention(rect, 640, 480, "xywh") == [261, 95, 98, 99]
    assert to_convention(rect, 640, 480, "xyxy_norm") == [0.407, 0.1979, 0.5617, 0.4042]
