"""The repeated-id check (adapters/_repeated_ids.py) against a plain set of every id.

Small windows make every path run: repeats found in the window, found when a window is
checked against the older hashes, and the earliest repeat named whichever way it was found.
"""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge.adapters._repeated_ids import RepeatedIds


def _with_a_set(ids: list[str]) -> tuple[int, str | None]:
    seen: set[str] = set()
    repeats, first = 0, None
    for ident in ids:
        if ident in seen:
            repeats += 1
            first = ident if first is None else first
        seen.add(ident)
    return repeats, first


@given(
    ids=st.lists(st.integers(0, 40).map(str), max_size=150),
    window=st.sampled_from([1, 2, 3, 5, 16, 1000]),
)
def test_counts_and_names_repeats_as_a_set_of_every_id_would(ids: list[str], window: int) -> None:
    check = RepeatedIds(window=window)
    for ident in ids:
        check.add(ident)
    check.finish()
    assert (check.repeats, check.first) == _with_a_set(ids)


def test_a_repeat_found_late_in_a_window_is_named_before_a_later_one() -> None:
    check = RepeatedIds(window=4)
    for ident in ["a", "b", "c", "d", "x", "a", "x"]:  # "a" repeats an old id, "x" a recent one
        check.add(ident)
    check.finish()
    assert (check.repeats, check.first) == (2, "a")


def test_older_ids_take_about_eight_bytes_each() -> None:
    check = RepeatedIds(window=1 << 12)
    tracemalloc.start()
    try:
        for number in range(200_000):
            check.add(f"task-{number}")
        check.finish()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert check.repeats == 0 and check.first is None
    assert kept < 200_000 * 12  # a set of the hashes would take about 70 bytes each


@given(
    earlier=st.lists(st.integers(0, 30).map(str), unique=True, max_size=40),
    later=st.lists(st.integers(0, 40).map(str), max_size=60),
    window=st.sampled_from([1, 2, 5, 1000]),
)
def test_earlier_hashes_count_as_seen(earlier: list[str], later: list[str], window: int) -> None:
    """How `warn_repeated_ids` hands over the ids that grew before the first that did not."""
    check = RepeatedIds((hash(ident) for ident in earlier), window)
    for ident in later:
        check.add(ident)
    check.finish()
    assert (check.repeats, check.first) == _with_a_set(earlier + later)
