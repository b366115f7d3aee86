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
