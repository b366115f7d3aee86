"""The record spool gives back exactly the records it kept, in order, and cleans up."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import msgspec
import pytest

import jsonl_bridge as jb
from jsonl_bridge.records import Annotation, Choice, Record, Source
from jsonl_bridge.spool import RecordSpool, unpack_block

FIXTURES = Path(__file__).parent / "fixtures"
EXPORTS = [
    (FIXTURES / "label-studio" / "qc-defects" / "export.json", "label-studio"),
    (FIXTURES / "label-studio" / "ner-spans" / "export.json", "label-studio"),
    (FIXTURES / "label-studio" / "dialogue" / "export.json", "label-studio"),
    *((path, "cvat") for path in sorted((FIXTURES / "cvat").rglob("*.xml"))[:12]),
    (
        FIXTURES
        / "doccano"
        / "sequence-labeling"
        / "exports"
        / "JSONL__individual__relations__approved-only.zip",
        "doccano",
    ),
]


@pytest.mark.parametrize(("export", "tool"), EXPORTS, ids=lambda v: str(v)[-40:])
def test_real_records_come_back_equal_and_in_order(export: Path, tool: str) -> None:
    options = {"offsets": "codepoints"} if tool == "doccano" else None
    spool = RecordSpool(block_records=3)
    kept = list(spool.keep(jb.read(export, tool, options)))
    assert kept, f"{export} gave no records"
    back = list(spool.replay())
    assert back == kept
    # byte for byte: == takes 10 for 10.0, an example's text would not
    assert [msgspec.json.encode(r) for r in back] == [msgspec.json.encode(r) for r in kept]


def test_a_record_msgpack_cannot_hold_is_kept_exactly() -> None:
    huge = 2**70  # JSON allows it, msgpack stops at 64 bits
    record = Record(
        id="1",
        source=Source(tool="t", format="json", file="f.json", pointer="/[0]"),
        data={"n": huge, "x": float("nan"), "nested": [{"a": -(2**80)}]},
        annotations=[Annotation(regions=[Choice(field="c", labels=["a"])])],
    )
    plain = Record(id="2", source=record.source, data={"n": 1})
    spool = RecordSpool(block_records=3)
    assert list(spool.keep([plain, record, plain])) == [plain, record, plain]
    back = list(spool.replay())
    assert [r.id for r in back] == ["2", "1", "2"]
    assert back[1].data["n"] == huge and back[1].data["nested"][0]["a"] == -(2**80)
    assert back[1].data["x"] != back[1].data["x"]  # NaN survives as NaN
    assert back[0] == plain and back[2] == plain


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_the_spool_file_is_gone_after_replay_or_close() -> None:
    def open_spools() -> int:
        gc.collect()
        return len(os.listdir("/proc/self/fd"))

    before = open_spools()
    spool = RecordSpool(block_records=3)
    list(spool.keep([Record(id="1", source=Source(tool="t", format="f", file="x"))]))
    assert open_spools() == before + 1
    assert len(list(spool.replay())) == 1
    assert open_spools() == before
    other = RecordSpool(block_records=3)
    other.close()
    assert open_spools() == before


def test_a_spool_dropped_unreplayed_closes_its_file_quietly() -> None:
    """A Conversion made and never iterated drops its spool: no open file, no warning."""
    import warnings

    spool = RecordSpool(block_records=3)
    list(spool.keep([Record(id="1", source=Source(tool="t", format="f", file="x"))]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del spool
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("read_first", [0, 1, 3, 4, 7])
def test_blocks_hand_over_exactly_the_records_not_yet_read(read_first: int) -> None:
    """Conversion reads the first records one by one, then hands the rest to workers in
    blocks: together they are every record once, in order, the first block cut where the
    reading stopped."""
    source = Source(tool="t", format="f", file="x")
    records = [Record(id=str(n), source=source, data={"n": n}) for n in range(7)]
    spool = RecordSpool(block_records=3)
    assert list(spool.keep(records)) == records
    replay = spool.replay()
    head = [next(replay) for _ in range(read_first)]
    blocks = list(replay.blocks())
    rest = [record for block in blocks for record in unpack_block(block)]
    assert head + rest == records
    sizes = [len(list(unpack_block(block))) for block in blocks]
    assert sizes == {0: [3, 3, 1], 1: [2, 3, 1], 3: [3, 1], 4: [2, 1], 7: []}[read_first]
