"""Span, region and text comparison between two annotators, with vectors worked by hand."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge._agreement_matching import (
    RegionAnswer,
    SpanAnswer,
    compare_regions,
    compare_spans,
    compare_texts,
    iou,
)


def span(start: int, end: int, label: str) -> SpanAnswer:
    return SpanAnswer(start, end, label, None)


def test_exact_and_overlap_span_matching() -> None:
    a = [span(0, 13, "PERSON"), span(40, 50, "DATE"), span(60, 70, "ORG")]
    b = [span(0, 13, "PERSON"), span(42, 50, "DATE"), span(60, 70, "LOC")]
    tally = compare_spans(a, b)
    # exact: only PERSON; overlap: PERSON and DATE (ORG vs LOC overlap but differ in label)
    assert tally == {"matched": 1, "matched_overlap": 2, "spans": 6}


def test_overlap_matching_is_one_to_one() -> None:
    """One long span overlapping two short ones of the same label matches only one of them."""
    tally = compare_spans([span(0, 20, "X")], [span(0, 5, "X"), span(8, 20, "X")])
    assert tally["matched_overlap"] == 1
    assert tally["spans"] == 3


def test_duplicate_spans_match_as_a_multiset() -> None:
    tally = compare_spans([span(0, 2, "X"), span(0, 2, "X")], [span(0, 2, "X")])
    assert tally["matched"] == 1


def test_iou_of_known_rectangles() -> None:
    # qc-defects q1 scratch: admin (100,120)-(260,150) lies inside ben (95,115)-(265,155)
    assert iou((100, 120, 260, 150), (95, 115, 265, 155)) == pytest.approx(4800 / 6800)
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # touching edges share no area
    assert iou((3, 3, 3, 3), (3, 3, 3, 3)) == 1.0  # degenerate but identical


def test_regions_pair_greedily_highest_iou_first() -> None:
    """b[0] overlaps a[0] (IoU 0.9) and a[1] (0.67); greedy gives b[0] to a[0], so a[1]
    pairs with b[1] when that clears the threshold, and labels are compared on pairs."""
    a = [RegionAnswer("dent", (0, 0, 10, 10)), RegionAnswer("scratch", (0, 0, 10, 6))]
    b = [RegionAnswer("dent", (0, 0, 10, 9)), RegionAnswer("dent", (0, 0, 10, 5))]
    tally = compare_regions(a, b, threshold=0.5)
    assert tally["matched"] == 2
    assert tally["same_label"] == 1  # scratch vs dent on the second pair
    assert tally["iou_sum"] == pytest.approx(0.9 + 5 / 6)
    assert tally["regions"] == 4
    assert tally["matched_labeled"] == 1  # dent-dent; the scratch has no dent partner
    strict = compare_regions(a, b, threshold=0.85)
    assert strict["matched"] == 1


def test_labeled_pairs_need_the_same_label_and_are_matched_on_their_own() -> None:
    """a's scratch covers b's dent (IoU 90/100) and b's scratch (60/100). Label-blind, it
    pairs with the dent (highest IoU) and the labels differ; label-aware, only the scratch
    is a candidate, so it pairs with that."""
    a = [RegionAnswer("scratch", (0, 0, 10, 10))]
    b = [RegionAnswer("dent", (0, 0, 10, 9)), RegionAnswer("scratch", (0, 0, 10, 6))]
    tally = compare_regions(a, b, threshold=0.5)
    assert (tally["matched"], tally["same_label"]) == (1, 0)
    assert tally["matched_labeled"] == 1
    assert compare_regions(a, b, threshold=0.7)["matched_labeled"] == 0  # 0.6 < 0.7
    same_place = compare_regions(a, [RegionAnswer("dent", (0, 0, 10, 10))], threshold=0.5)
    assert (same_place["matched"], same_place["matched_labeled"]) == (1, 0)


def test_text_similarity_is_difflib_on_normalised_text() -> None:
    tally = compare_texts("Hello   World\n", "hello world")
    assert tally == {"pairs": 1, "exact": 0.0, "similarity_sum": 1.0}
    a, b = "Council approved the plan", "The council rejected the plan"
    expected = difflib.SequenceMatcher(None, a.lower(), b.lower(), autojunk=False).ratio()
    assert compare_texts(a, b)["similarity_sum"] == pytest.approx(expected)
    assert compare_texts(a, a)["exact"] == 1.0


coords = st.floats(min_value=0, max_value=100, allow_nan=False)
rects = st.tuples(coords, coords, coords, coords).map(
    lambda r: (min(r[0], r[2]), min(r[1], r[3]), max(r[0], r[2]), max(r[1], r[3]))
)


@given(rects, rects)
def test_iou_is_symmetric_and_between_zero_and_one(
    a: tuple[float, ...], b: tuple[float, ...]
) -> None:
    value = iou(a, b)  # type: ignore[arg-type]
    assert 0.0 <= value <= 1.0 + 1e-12
    assert value == pytest.approx(iou(b, a))  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 10), st.sampled_from("XY"))))
def test_a_span_set_matches_itself_completely(spec: list[tuple[int, int, str]]) -> None:
    spans = [span(start, start + length, label) for start, length, label in spec]
    tally = compare_spans(spans, list(reversed(spans)))
    assert 2 * tally["matched"] == tally["spans"]
    assert 2 * tally["matched_overlap"] == tally["spans"]


@given(st.lists(st.tuples(rects, st.sampled_from(["dent", "scratch"])), max_size=8))
def test_a_region_set_matches_itself_completely_with_its_labels(
    spec: list[tuple[tuple[float, float, float, float], str]],
) -> None:
    regions = [RegionAnswer(label, rect) for rect, label in spec]
    tally = compare_regions(regions, list(reversed(regions)), threshold=0.5)
    assert 2 * tally["matched_labeled"] == tally["regions"]
    renamed = [RegionAnswer("paint_chip", region.rect) for region in regions]
    blind = compare_regions(regions, renamed, threshold=0.5)
    assert 2 * blind["matched"] == blind["regions"]  # the same places...
    assert blind["matched_labeled"] == 0  # ...with other labels agree on nothing
