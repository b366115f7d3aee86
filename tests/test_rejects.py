"""The rejects list: a list to the caller, mostly on disk when a run rejects many tasks."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge.records import Source
from jsonl_bridge.rejects import Rejects
from jsonl_bridge.report import Reject

SOURCE = Source(tool="t", format="f", file="export.json", pointer="/[0]")


def reject(n: int) -> Reject:
    return Reject(
        str(n), msgspec.structs.replace(SOURCE, pointer=f"/[{n}]"), "label", f"d{n}", ["a"]
    )


@given(st.integers(0, 40), st.integers(0, 5))
def test_behaves_as_the_list_of_what_was_appended(count: int, in_memory: int) -> None:
    expected = [reject(n) for n in range(count)]
    rejects = Rejects(in_memory=in_memory)
    for item in expected:
        rejects.append(item)
    assert len(rejects) == count and list(rejects) == expected and rejects == expected
    assert [rejects[i] for i in range(-count, count)] == expected + expected
    assert rejects[1:7:2] == expected[1:7:2]
    with pytest.raises(IndexError):
        rejects[count]
    assert bool(rejects) == bool(expected)


def test_beyond_the_in_memory_part_rejects_go_to_a_file() -> None:
    rejects = Rejects(in_memory=3)
    for n in range(10):
        rejects.append(reject(n))
    assert len(rejects._kept) == 3 and len(rejects._offsets) == 7
    assert rejects[9].detail == "d9" and rejects[9].source.pointer == "/[9]"
    assert rejects != [reject(n) for n in range(9)]


class Name(str):
    """A str subclass: msgpack would give it back as a plain str."""


ODD = [
    Reject("1", SOURCE, "label", "lone \udc80 surrogate", ["a"]),
    Reject("2", msgspec.structs.replace(SOURCE, line=2**70), "label", "d", []),
    Reject("3", SOURCE, "label", "d", ("a", "b")),  # type: ignore[arg-type]
    Reject(Name("4"), SOURCE, "label", "d", [Name("a")]),
    Reject("5", SOURCE, "label", {"answers": {"a": "x"}}, ["a"]),  # type: ignore[arg-type]
]


@given(
    st.lists(st.one_of(st.integers(0, 99).map(reject), st.sampled_from(ODD)), max_size=25),
    st.integers(0, 3),
    st.lists(st.integers(0, 30), max_size=8),
)
def test_spilled_rejects_read_back_equal_and_of_the_same_types_between_appends(
    items: list[Reject], in_memory: int, reads: list[int]
) -> None:
    """Rejects of unusual types (kept by pickle) and reads in the middle of appending (which
    move the file position) give back what was appended."""
    rejects = Rejects(in_memory=in_memory)
    for count, item in enumerate(items, 1):
        rejects.append(item)
        for index in reads:
            if index < count:
                assert rejects[index] == items[index]
    assert list(rejects) == items
    for got, item in zip(rejects, items, strict=True):
        assert type(got.id) is type(item.id)
        assert type(got.annotators) is type(item.annotators)
        assert type(got.detail) is type(item.detail)
        assert got.source == item.source
