"""Warnings about a whole doccano export, each given once however many rows show it.

A warning is about the export (its CSV joins labels with '#', its offsets look like the other
unit, its annotators were merged), so repeating it per row or per file would bury the one
line a user needs; the first row that shows it is named as an example.
"""

from __future__ import annotations

import warnings


class Notices:
    """The warnings of one read of one export. `quiet` for a look ahead, whose rows are read
    again (and warned about) by the real read."""

    def __init__(self, *, quiet: bool = False):
        self._quiet = quiet
        self._given: set[str] = set()

    def once(self, topic: str, message: str) -> None:
        """Warn `message` unless a warning on `topic` was already given."""
        if self._quiet or topic in self._given:
            return
        self._given.add(topic)
        warnings.warn(message, UserWarning, stacklevel=3)
