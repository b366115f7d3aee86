"""Inline SVG charts for the preview page: the label distribution and histograms.

Plain SVG written here, not a charting library: the page must be self-contained and small,
and a bar per label or bin is all it needs. Each bar carries a <title> with its exact figures.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from html import escape

HISTOGRAM_BINS = 20
LABELS_CHARTED = 30
"""The label chart shows this many most frequent labels (the rest are counted)."""
_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 270, 130, 40, 22, 8


def bins(values: Sequence[int], most: int = HISTOGRAM_BINS) -> list[tuple[int, int, int]]:
    """(low, high, count) of equal-width integer bins covering min..max, at most `most`
    of them; `high` is inclusive."""
    if not values:
        return []
    low, high = min(values), max(values)
    width = max(1, math.ceil((high - low + 1) / most))
    counts = [0] * ((high - low) // width + 1)
    for value in values:
        counts[(value - low) // width] += 1
    return [(low + i * width, low + (i + 1) * width - 1, n) for i, n in enumerate(counts)]


def histogram(values: Sequence[int], unit: str) -> str:
    """An SVG histogram of `values` (e.g. tokens per example), or a note when empty."""
    counted = bins(values)
    if not counted:
        return '<p class="jb-note">no examples</p>'
    top = max(n for _, _, n in counted)
    plot_w, plot_h = _WIDTH - _LEFT - 8, _HEIGHT - _BOTTOM - _TOP
    bar_w = plot_w / len(counted)
    bars = []
    for index, (low, high, count) in enumerate(counted):
        h = plot_h * count / top
        span = f"{low:,}" if low == high else f"{low:,}–{high:,}"
        bars.append(
            f'<rect class="jb-bar" x="{_LEFT + index * bar_w:.1f}" y="{_TOP + plot_h - h:.1f}" '
            f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}">'
            f"<title>{span} {escape(unit)}: {count:,}</title></rect>"
        )
    first, last = counted[0][0], counted[-1][1]
    base = _TOP + plot_h
    axis = (
        f'<line class="jb-axis" x1="{_LEFT}" y1="{base}" x2="{_WIDTH - 8}" y2="{base}"/>'
        f'<text x="{_LEFT}" y="{base + 15}">{first:,}</text>'
        f'<text x="{_WIDTH - 8}" y="{base + 15}" text-anchor="end">{last:,} {escape(unit)}</text>'
        f'<text x="{_LEFT - 4}" y="{_TOP + 10}" text-anchor="end">{top:,}</text>'
        f'<text x="{_LEFT - 4}" y="{base}" text-anchor="end">0</text>'
    )
    return (
        f'<svg class="jb-chart" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">{"".join(bars)}{axis}</svg>'
    )


def _shared_prefix(labels: list[str]) -> str:
    """What every label starts with up to a separator (`Classification: `), left off the bar
    names so that short names differ: the full label stays in each bar's tooltip."""
    if len(labels) < 2:
        return ""
    prefix = os.path.commonprefix(labels)  # noqa: RUF071 (characters, not path parts)
    cut = max(prefix.rfind(": "), prefix.rfind("="))
    return prefix[: cut + 2] if prefix[cut : cut + 2] == ": " else prefix[: cut + 1]


def label_chart(counts: Sequence[tuple[str, int]], colour: Callable[[str], str]) -> str:
    """Horizontal bars, most frequent label first, in the colours the boxes are drawn in."""
    shown = list(counts[:LABELS_CHARTED])
    if not shown:
        return '<p class="jb-note">no labels found in the answers</p>'
    row, name_w, bar_room = 20, 100, _WIDTH - 100 - 40
    top = shown[0][1]
    common = _shared_prefix([label for label, _ in shown])
    rows = []
    for index, (label, count) in enumerate(shown):
        y = index * row + 4
        name = label[len(common) :]
        name = name if len(name) <= 14 else name[:13] + "…"
        width = max(bar_room * count / top, 1)
        rows.append(
            f'<text x="{name_w - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{name_w}" y="{y + 2}" width="{width:.1f}" height="{row - 6}" '
            f'fill="{colour(label)}"><title>{escape(label)}: {count:,}</title></rect>'
            f'<text x="{name_w + width + 4:.1f}" y="{y + 13}">{count:,}</text>'
        )
    height = len(shown) * row + 8
    svg = (
        f'<svg class="jb-chart" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img">{"".join(rows)}</svg>'
    )
    more = len(counts) - len(shown)
    return svg + (f'<p class="jb-note">and {more:,} more labels</p>' if more > 0 else "")
