"""Which tasks repeat the id of an earlier one, in about 8 bytes a task.

A Python set of a million ids' hashes takes about 70 MB, more than everything else a
streaming read keeps. The latest ids (up to `WINDOW`) are kept in a dict, so that a repeat can
be named; older ones only as the 64-bit hashes in a sorted numpy array, against which each
full window is checked before it is merged in. Counting by hash is what the set did: two
different ids whose hashes collide (odds about n²/2⁶⁵) would count as a repeat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WINDOW = 1 << 16
"""Ids kept as Python objects (about 5 MB); below this many tasks numpy is never imported."""


class RepeatedIds:
    """Feed every task's id to `add`; `repeats` and `first` are final after `finish`."""

    def __init__(self, earlier: Iterable[int] = (), window: int = WINDOW):
        """`earlier`: the hashes of ids seen before, none of them repeated."""
        self._window = window
        self._recent: dict[int, str] = dict.fromkeys(earlier, "")
        """hash → id, for the ids since the last `_settle`, in stream order (a repeat is
        named by its own id, so the earlier ones need none)."""
        self._settled: Any = None
        """The hashes of older ids: a sorted numpy int64 array."""
        self._settles = 0
        self.repeats = 0
        self._first: tuple[tuple[int, int], str] | None = None
        """The earliest repeat: ((window number, 2 x its place among the window's ids, or
        2 x the ids before it minus 1 when found at once), id)."""
        if len(self._recent) >= window:
            self._settle()

    @property
    def first(self) -> str | None:
        """The id of the earliest task (in stream order) that repeats an earlier one."""
        return self._first[1] if self._first else None

    def add(self, ident: str) -> None:
        key = hash(ident)
        recent = self._recent
        if key in recent:
            self._repeat((self._settles, 2 * len(recent) - 1), ident)
            return
        recent[key] = ident
        if len(recent) >= self._window:
            self._settle()

    def finish(self) -> None:
        """Check the ids still in the window against the older ones (a repeat found here is
        named by the window's id, never by an earlier one's empty name: a window holds only
        ids not seen before it, and `earlier` ones are older than any window)."""
        if self._settled is not None:
            self._settle()

    def _repeat(self, place: tuple[int, int], ident: str) -> None:
        self.repeats += 1
        if self._first is None or place < self._first[0]:
            self._first = (place, ident)

    def _settle(self) -> None:
        import numpy as np

        keys = np.fromiter(self._recent, dtype=np.int64, count=len(self._recent))
        settled = self._settled
        if settled is not None and len(settled):
            at = np.minimum(np.searchsorted(settled, keys), len(settled) - 1)
            hits = np.flatnonzero(settled[at] == keys)
            if len(hits):
                window = list(self._recent.values())
                for index in hits.tolist():
                    self._repeat((self._settles, 2 * index), window[index])
            keys = np.concatenate((settled, keys))
        keys.sort(kind="stable")  # two sorted runs: merged in one pass
        self._settled = keys
        self._recent = {}
        self._settles += 1
