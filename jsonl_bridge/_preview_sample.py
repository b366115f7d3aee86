"""Which lines a preview shows, and the figures of the whole file, in one streamed pass.

The file is read line by line (never whole). Every line adds a few integers to the figures
(tokens, answer length, labels); only the lines to show are rendered, at once, into their
card, so their images (often most of a line) are dropped as soon as the thumbnail is made.
"""

from __future__ import annotations

import random
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonl_bridge._preview_cards import CardFacts
from jsonl_bridge._validate_output import guess_labels
from jsonl_bridge.errors import InputError
from jsonl_bridge.validation import (
    MAX_DISTINCT_LABELS,
    inspect_example,
    numbered_lines,
    parse_line,
)
from jsonl_bridge.validation import _warnings as line_warnings

if TYPE_CHECKING:
    from jsonl_bridge._validate_output import OutputRule
    from jsonl_bridge.profiles import Profile

RenderCard = Callable[[Any, CardFacts], str]


@dataclass
class FileFigures:
    """Per example (a line with a non-empty `messages` list): estimated tokens and the
    length of the final answer in characters; the labels of the answers."""

    tokens: array[int] = field(default_factory=lambda: array("q"))
    answer_chars: array[int] = field(default_factory=lambda: array("q"))
    labels: Counter[str] = field(default_factory=Counter)
    labels_complete: bool = True
    """False once more than MAX_DISTINCT_LABELS different labels were seen (free text)."""

    @property
    def examples(self) -> int:
        return len(self.tokens)


def choose_lines(total: int, sample: int, seed: int) -> list[int]:
    """`sample` line numbers out of 1..`total`, uniformly at random, the same ones for the
    same seed; sorted. The count is known from the validation pass, so this is an exact
    uniform sample (no reservoir needed), and only the chosen lines are ever kept."""
    chosen = random.Random(seed).sample(range(1, total + 1), min(sample, total))
    return sorted(chosen)


def scan(
    path: Path,
    shown: Collection[int],
    profile: Profile,
    rule: OutputRule | None,
    render: RenderCard,
) -> tuple[FileFigures, list[str]]:
    """The figures of every line, and the cards of the lines in `shown`, in file order."""
    figures = FileFigures()
    cards: list[str] = []
    for number, raw in _lines(path):
        value, problem = parse_line(raw)
        if problem is not None:
            if number in shown:
                text = raw.decode("utf-8", errors="replace")
                cards.append(render(None, CardFacts(number, [problem], raw=text)))
            continue
        facts = inspect_example(value, profile, rule)
        if facts.messages:
            figures.tokens.append(facts.tokens)
            figures.answer_chars.append(len(facts.output or ""))
            if facts.output and figures.labels_complete:
                _count_labels(figures, facts.output, rule)
        if number in shown:
            findings = [*facts.findings, *line_warnings(facts, profile)]
            cards.append(render(value, CardFacts(number, findings, facts.tokens)))
    return figures, cards


def _count_labels(figures: FileFigures, output: str, rule: OutputRule | None) -> None:
    figures.labels.update(guess_labels(output) if rule is None else rule.labels(output))
    if len(figures.labels) > MAX_DISTINCT_LABELS:
        figures.labels_complete = False


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(physical line number from 1, its bytes); the unparsable ones are shown as they are."""
    try:
        with path.open("rb") as handle:
            for number, raw in numbered_lines(handle):
                yield number, raw if raw is not None else b"(a line too long to read: E105)"
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where=str(path)) from exc
