"""Agreement between two annotators' answers that are sets of things: spans, regions, text.

Each comparison returns a `Tally` of additive counts, so one sum gives an annotator pair's
figure over all its items and another the field's figure over every pair (pooled, not an
average of averages). F1 = 2·matched / (n_a + n_b) is symmetric in the two annotators:
Hripcsak & Rothschild (2005), "Agreement, the F-measure, and reliability in information
retrieval", show it equals positive specific agreement and needs no gold standard.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from jsonl_bridge.geometry import Rect

Tally = dict[str, float]
"""Additive counts of one comparison, keyed by name; `add` sums them."""


def add(total: Tally, more: Tally) -> None:
    """Add `more` into `total`, key by key."""
    for key, value in more.items():
        total[key] = total.get(key, 0.0) + value


class SpanAnswer(NamedTuple):
    start: int
    end: int
    label: str
    text: str | None


class RegionAnswer(NamedTuple):
    label: str
    rect: Rect


def compare_spans(a: Sequence[SpanAnswer], b: Sequence[SpanAnswer]) -> Tally:
    """Exact matches (same start, end and label) and overlap matches (same label, ranges
    overlapping), each one-to-one; `spans` counts both annotators' spans."""
    exact = Counter((s.start, s.end, s.label) for s in a) & Counter(
        (s.start, s.end, s.label) for s in b
    )
    overlap = _greedy(
        [
            (min(x.end, y.end) - max(x.start, y.start), i, j)
            for i, x in enumerate(a)
            for j, y in enumerate(b)
            if x.label == y.label and x.start < y.end and y.start < x.end
        ]
    )
    return {
        "matched": sum(exact.values()),
        "matched_overlap": len(overlap),
        "spans": len(a) + len(b),
    }


def compare_regions(
    a: Sequence[RegionAnswer], b: Sequence[RegionAnswer], threshold: float
) -> Tally:
    """Regions paired one-to-one by IoU ≥ threshold, greedily, highest IoU first (ties in
    source order), twice: whatever their labels (`matched`, then how many of those pairs
    share the label, and their IoU sum), and only between regions with the same label
    (`matched_labeled`, the count a gate needs: a scratch drawn where the other annotator
    drew a dent is not agreement)."""
    candidates = []
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            overlap = iou(x.rect, y.rect)
            if overlap >= threshold and overlap > 0:
                candidates.append((overlap, i, j))
    pairs = _greedy(candidates)
    labeled = _greedy([c for c in candidates if a[c[1]].label == b[c[2]].label])
    return {
        "matched": len(pairs),
        "matched_labeled": len(labeled),
        "regions": len(a) + len(b),
        "same_label": sum(a[i].label == b[j].label for _, i, j in pairs),
        "iou_sum": sum(overlap for overlap, _, _ in pairs),
    }


def iou(a: Rect, b: Rect) -> float:
    """Intersection over union of two axis-aligned rectangles (x1, y1, x2, y2)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = _area(a) + _area(b) - inter
    if union <= 0:
        return 1.0 if a == b else 0.0
    return inter / union


def _area(rect: Rect) -> float:
    return max(rect[2] - rect[0], 0.0) * max(rect[3] - rect[1], 0.0)


def _greedy(candidates: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    """One-to-one pairs, best score first; ties go to the earlier region of `a`, then of `b`."""
    taken_a: set[int] = set()
    taken_b: set[int] = set()
    pairs = []
    for score, i, j in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if i not in taken_a and j not in taken_b:
            taken_a.add(i)
            taken_b.add(j)
            pairs.append((score, i, j))
    return pairs


def compare_texts(a: str, b: str) -> Tally:
    """Exact equality, and difflib's ratio 2·M/T after folding case and collapsing whitespace
    (so a trailing newline or a capital letter is not a disagreement about content)."""
    similarity = difflib.SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio()
    return {"pairs": 1, "exact": float(a == b), "similarity_sum": similarity}


def normalise(text: str) -> str:
    """Case-folded, with every run of whitespace one space and none at the ends."""
    return " ".join(text.casefold().split())
