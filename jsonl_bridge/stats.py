"""`bridge stats`: what a chat JSON Lines file holds, streamed line by line.

Per example it keeps a few integers (compact arrays, 8 bytes each) to report distributions:
messages, estimated tokens (the estimate of docs/validate.md), images and their sizes; and it
counts labels: the labels of JSON box lists, else short one-line assistant outputs as a whole.
Lines that are not chat examples are counted, not described (`bridge validate` says why).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonl_bridge._validate_output import guess_labels
from jsonl_bridge.profiles import DEFAULT_PROFILE, get_profile
from jsonl_bridge.validation import (
    MAX_DISTINCT_LABELS,
    check_readable,
    inspect_example,
    is_value,
    read_examples,
)

LABELS_SHOWN = 20
"""The text output lists this many most frequent labels (JSON gives them all)."""


def distribution(values: array[int]) -> dict[str, int] | None:
    """min, median, p95 and max (nearest rank: the smallest value with at least that share of
    the values at or below it); None for no values."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(share: float) -> int:
        return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]

    return {"min": ordered[0], "median": rank(0.5), "p95": rank(0.95), "max": ordered[-1]}


@dataclass
class DatasetStats:
    """The figures `bridge stats` prints."""

    path: str
    lines: int = 0
    examples: int = 0
    """Lines holding an object with a non-empty `messages` list."""
    other_lines: int = 0
    """Blank, unparsable or non-chat lines."""
    messages: array[int] = field(default_factory=lambda: array("q"))
    tokens: array[int] = field(default_factory=lambda: array("q"))
    images: array[int] = field(default_factory=lambda: array("q"))
    image_bytes: array[int] = field(default_factory=lambda: array("q"))
    image_widths: array[int] = field(default_factory=lambda: array("q"))
    image_heights: array[int] = field(default_factory=lambda: array("q"))
    image_formats: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    labels_complete: bool = True
    """False once more than MAX_DISTINCT_LABELS different labels were seen (free text)."""

    def to_json_dict(self) -> dict[str, Any]:
        """The `--format json` object (shape documented in docs/validate.md)."""
        return {
            "file": self.path,
            "lines": self.lines,
            "examples": self.examples,
            "other_lines": self.other_lines,
            "messages_per_example": distribution(self.messages),
            "tokens_per_example": distribution(self.tokens),
            "images_per_example": distribution(self.images),
            "images": {
                "count": sum(self.images),
                "bytes": distribution(self.image_bytes),
                "width": distribution(self.image_widths),
                "height": distribution(self.image_heights),
                "formats": dict(self.image_formats.most_common()),
            },
            "labels": dict(self.labels.most_common()),
            "labels_complete": self.labels_complete,
        }

    def to_text(self) -> str:
        data = self.to_json_dict()
        other = (
            f", {self.other_lines} other lines (see bridge validate)" if self.other_lines else ""
        )
        out = [f"{self.path}: {self.lines} lines, {self.examples} examples{other}"]
        for key in ("messages_per_example", "tokens_per_example", "images_per_example"):
            out.append(f"{key.replace('_', ' ')}: {_spread(data[key])}")
        images = data["images"]
        if images["count"]:
            formats = ", ".join(f"{k} {v}" for k, v in images["formats"].items())
            out.append(f"images: {images['count']} ({formats or 'not readable'})")
            for key in ("bytes", "width", "height"):
                out.append(f"  {key}: {_spread(images[key])}")
        shown = self.labels.most_common(LABELS_SHOWN)
        more = len(self.labels) - len(shown)
        listed = ", ".join(f"{label} {count}" for label, count in shown) or "none"
        out.append(f"labels: {listed}" + (f" (+{more} more)" if more > 0 else ""))
        if not self.labels_complete:
            out.append(f"  (over {MAX_DISTINCT_LABELS:,} different: free text, counting stopped)")
        return "\n".join(out)


def _spread(d: dict[str, int] | None) -> str:
    if d is None:
        return "-"
    return f"min {d['min']:,}, median {d['median']:,}, p95 {d['p95']:,}, max {d['max']:,}"


def stats(path: str | Path) -> DatasetStats:
    """Figures of one chat JSON Lines file, read line by line.

    Raises:
        InputError: the file cannot be opened or read.
    """
    path = Path(path)
    check_readable(path)
    profile = get_profile(DEFAULT_PROFILE)
    result = DatasetStats(str(path))
    for number, value, _ in read_examples(path):
        result.lines = number
        facts = inspect_example(value, profile) if is_value(value) else None
        if facts is None or not facts.messages:
            result.other_lines += 1
            continue
        result.examples += 1
        result.messages.append(facts.messages)
        result.tokens.append(facts.tokens)
        result.images.append(len(facts.images))
        for image in facts.images:
            if image.width is not None and image.height is not None:
                result.image_widths.append(image.width)
                result.image_heights.append(image.height)
            if image.nbytes is not None:
                result.image_bytes.append(image.nbytes)
            if image.format is not None:
                result.image_formats[image.format] += 1
        if facts.output and result.labels_complete:
            result.labels.update(guess_labels(facts.output))
            result.labels_complete = len(result.labels) <= MAX_DISTINCT_LABELS
    return result
