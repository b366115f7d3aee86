"""CVAT's own mask RLE (the `rle` of `<mask>`): parse the runs, find the painted envelope.

CVAT's runs cover the mask's `width × height` crop row by row (left to right, then the next
row) and alternate starting with background: `3, 5, 7` is 3 unset pixels, 5 set, 7 unset. If
the first pixel is set the first run is 0; the runs sum to width × height and their count
may be odd or even. This is not COCO's RLE (column-major over the whole image).

The envelope is computed from the runs arithmetically, never by painting a bitmap, so a
full-frame mask (datumaro writes `left=0 top=0` and the whole image size) costs as much as
its number of runs.
"""

from __future__ import annotations

from dataclasses import dataclass


class RleError(ValueError):
    """The runs do not describe a `width × height` mask."""


@dataclass(frozen=True)
class MaskExtent:
    """What the runs paint: the pixel count and the tight envelope in crop coordinates.

    `bbox` is (x1, y1, x2, y2) in pixel edges, x2 = last painted column + 1 (a pixel covers
    [x, x + 1)); None when nothing is painted.
    """

    pixels: int
    bbox: tuple[int, int, int, int] | None


def parse_runs(text: str) -> list[int]:
    """`"30, 1, 51"` → [30, 1, 51]; RleError for anything that is not a non-negative integer."""
    try:
        runs = [int(part) for part in text.split(",")]
    except ValueError:
        raise RleError("rle must be comma-separated integers") from None
    if any(run < 0 for run in runs):
        raise RleError("rle holds a negative run length")
    return runs


def mask_extent(runs: list[int], width: int, height: int) -> MaskExtent:
    """Pixel count and tight envelope of CVAT runs over a `width × height` crop.

    A set run that starts at offset s and has n pixels spans rows s // width to
    (s + n − 1) // width; when it spans more than one row it touches both the last column
    (on its first row) and the first column (on the next), so its columns are all of them.
    """
    if width <= 0 or height <= 0:
        raise RleError(f"mask size {width}x{height} is not positive")
    total = sum(runs)
    if total != width * height:
        raise RleError(
            f"rle runs cover {total} pixels, the {width}x{height} mask has {width * height}"
        )
    offset = pixels = 0
    x1 = y1 = x2 = y2 = -1
    for index, run in enumerate(runs):
        if index % 2 and run:
            last = offset + run - 1
            row, col = divmod(offset, width)
            last_row, last_col = divmod(last, width)
            if last_row != row:
                col, last_col = 0, width - 1
            if pixels == 0:
                x1, y1, x2, y2 = col, row, last_col, last_row
            else:
                x1, x2 = min(x1, col), max(x2, last_col)
                y2 = last_row  # runs come in reading order: rows only grow
            pixels += run
        offset += run
    if pixels == 0:
        return MaskExtent(0, None)
    return MaskExtent(pixels, (x1, y1, x2 + 1, y2 + 1))
