"""Text tasks converted in worker processes: the same examples, rejects, counts and warnings
as in one process, whatever the source of the records.

`SERIAL_HEAD` and `CHUNK_TASKS` are made tiny so that the small real fixtures (each project's
MANIFEST.md) spread over several chunks; the workers are forked, so these tests also check
that the chunks really ran in other processes.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import jsonl_bridge as jb
from jsonl_bridge import pipeline, workers

LS = Path(__file__).parent / "fixtures" / "label-studio"
DOCCANO = Path(__file__).parent / "fixtures" / "doccano"

CASES: dict[str, tuple[Path, str, dict[str, Any]]] = {
    # labels from a first pass: the records are replayed from the spool, still packed
    "ls-email-first-pass": (
        LS / "email-classification" / "export.json",
        "email-classification",
        {},
    ),
    # labels from the labeling config: no first pass, records packed as they are read
    "ls-email-config": (
        LS / "email-classification" / "export.json",
        "email-classification",
        {"options": {"label_config": str(LS / "email-classification" / "config.xml")}},
    ),
    "ls-ner-min": (LS / "ner-spans" / "export_min.json", "structured-extraction", {}),
    "ls-summarization": (LS / "summarization" / "export.json", "summarization", {}),
    "ls-dialogue": (LS / "dialogue" / "export.json", "dialogue", {}),
    "doccano-per-user": (
        DOCCANO / "document-classification" / "exports" / "JSONL__individual__all.zip",
        "email-classification",
        {},
    ),
}


def _outcome(tmp_path: Path, name: str, processes: int, records: bool = False) -> dict[str, Any]:
    source, mapping, kwargs = CASES[name]
    given: Path | list[jb.Record] = source
    if records:
        given = list(jb.read(source, **kwargs))
        kwargs = {}
    out = tmp_path / f"{name}-{processes}.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conversion = jb.convert(given, mapping, workers=processes, **kwargs)
        report = jb.write_jsonl(conversion, out)
    counts = report.to_json_dict()
    del counts["outputs"]
    return {
        "lines": out.read_bytes(),
        "rejects": [r.to_json_dict() for r in conversion.rejects],
        "report": counts,
        "warned": [str(w.message) for w in caught],
    }


@pytest.fixture
def chunk_pids(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Tiny chunks, and the process id each converted chunk came from."""
    monkeypatch.setattr(pipeline, "SERIAL_HEAD", 1)
    monkeypatch.setattr(pipeline, "CHUNK_TASKS", 2)  # also the spool's block
    pids: list[int] = []
    real = workers.ordered_map

    def spying(work: Callable[[list[Any]], Any], chunks: Iterable[list[Any]], n: int) -> Any:
        for pid, part in real(lambda chunk: (os.getpid(), work(chunk)), chunks, n):
            pids.append(pid)
            yield part

    monkeypatch.setattr(pipeline, "ordered_map", spying)
    return pids


@pytest.mark.parametrize("name", sorted(CASES))
def test_workers_give_what_one_process_gives(
    tmp_path: Path, chunk_pids: list[int], name: str
) -> None:
    alone = _outcome(tmp_path, name, 1)
    assert chunk_pids == []  # one process never forks
    shared = _outcome(tmp_path, name, 2)
    assert shared == alone
    assert alone["lines"].count(b"\n") == alone["report"]["examples"] > 0
    assert chunk_pids and os.getpid() not in chunk_pids  # the chunks ran in workers


def test_records_passed_in_are_converted_in_workers_too(
    tmp_path: Path, chunk_pids: list[int]
) -> None:
    alone = _outcome(tmp_path, "ls-email-first-pass", 1, records=True)
    shared = _outcome(tmp_path, "ls-email-first-pass", 2, records=True)
    assert shared == alone
    assert alone["rejects"]  # the fixture has disagreements (MANIFEST.md)
    assert chunk_pids and os.getpid() not in chunk_pids


def _double(chunk: list[int]) -> list[int]:
    return [2 * n for n in chunk]


def test_ordered_map_keeps_chunk_order_across_workers() -> None:
    chunks = [[n, n + 1] for n in range(0, 40, 2)]
    pids = list(workers.ordered_map(lambda chunk: os.getpid(), chunks, 2))
    assert len(pids) == 20 and os.getpid() not in pids
    assert list(workers.ordered_map(_double, chunks, 2)) == [_double(c) for c in chunks]


def test_ordered_map_stays_in_this_process_while_another_thread_runs() -> None:
    """Forking a process that runs threads (a notebook kernel) can deadlock the child."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        pids = list(workers.ordered_map(lambda chunk: os.getpid(), [[1], [2]], 2))
    finally:
        stop.set()
        other.join()
    assert pids == [os.getpid(), os.getpid()]


def test_a_chunk_that_fails_in_a_worker_raises_here_as_it_would_alone() -> None:
    def work(chunk: list[int]) -> int:
        if chunk == [3]:
            raise ValueError(f"bad chunk {chunk} in {'this' if os.getpid() == parent else 'a'}")
        return chunk[0]

    parent = os.getpid()
    results = workers.ordered_map(work, [[1], [2], [3], [4]], 2)
    assert [next(results), next(results)] == [1, 2]
    with pytest.raises(ValueError, match=r"bad chunk \[3\] in this"):
        next(results)


def test_workers_killed_midway_leave_the_rest_to_this_process() -> None:
    def work(chunk: list[int]) -> tuple[int, int]:
        if chunk == [2] and os.getpid() != parent:
            os._exit(1)  # as the kernel's out-of-memory killer would
        return chunk[0], os.getpid()

    parent = os.getpid()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = list(workers.ordered_map(work, [[n] for n in range(8)], 2))
    assert [n for n, _ in done] == list(range(8))
    assert (2, parent) in done  # done again here
    assert any("conversion worker processes stopped" in str(w.message) for w in caught)


def test_a_conversion_left_midway_stops_its_workers(tmp_path: Path, chunk_pids: list[int]) -> None:
    import multiprocessing

    source, mapping, _ = CASES["ls-email-first-pass"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        examples: Iterator[jb.Example] = iter(jb.convert(source, mapping, workers=2))
        next(examples)
        next(examples)
        assert multiprocessing.active_children()
        examples.close()  # type: ignore[attr-defined]
    assert multiprocessing.active_children() == []


def test_the_terminal_progress_runs_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich's refresh thread would keep `bridge convert` in a terminal from forking workers."""
    import sys

    from jsonl_bridge import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    threads = [threading.active_count() for _ in cli._progress(iter(range(3)), "examples")]
    assert threads == [1, 1, 1]


def test_a_run_shorter_than_the_serial_head_starts_no_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pool(*args: object) -> None:
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(workers, "_Pool", no_pool)
    assert list(workers.ordered_map(_double, [], 2)) == []
    source, mapping, _ = CASES["ls-email-first-pass"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion = jb.convert(source, mapping, workers=2)
        assert len(list(conversion)) == conversion.report.examples > 0


def _email_records(copies: int, late_label: str | None = None) -> list[jb.Record]:
    """The e-mail fixture's six tasks (every label by the fourth, MANIFEST.md) `copies`
    times, with ids of their own; the last annotated task's answers changed to
    `late_label`."""
    import msgspec

    source, _, _ = CASES["ls-email-first-pass"]
    tasks = list(jb.read(source))
    records = [
        msgspec.structs.replace(task, id=f"{n}-{task.id}") for n in range(copies) for task in tasks
    ]
    if late_label is not None:
        at = max(n for n, record in enumerate(records) if record.annotations)
        assert at >= len(records) - 2
        last = records[at]
        answers = [
            msgspec.structs.replace(
                a, regions=[msgspec.structs.replace(r, labels=[late_label]) for r in a.regions]
            )
            for a in last.annotations
        ]
        records[at] = msgspec.structs.replace(last, annotations=answers)
    return records


def _converted(records: list[jb.Record], processes: int, out: Path) -> dict[str, Any]:
    conversion = jb.convert(records, "email-classification", workers=processes)
    report = jb.write_jsonl(conversion, out)
    return {
        "lines": out.read_bytes(),
        "rejects": [r.to_json_dict() for r in conversion.rejects],
        "report": {k: v for k, v in report.to_json_dict().items() if k != "outputs"},
    }


@pytest.mark.parametrize(("late_label", "kept"), [(None, True), ("refund", False)])
def test_blocks_converted_during_the_first_pass_are_kept_only_when_the_labels_held(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_pids: list[int],
    late_label: str | None,
    kept: bool,
) -> None:
    """The first pass's labels are taken after six tasks (three blocks of two) and workers
    convert the blocks meanwhile (jsonl_bridge/ahead.py). Every label is seen by then, unless
    the last task brings a new one: then what was converted ahead is dropped, and the system
    message lists the late label all the same."""
    from jsonl_bridge import ahead

    monkeypatch.setattr(pipeline, "SERIAL_HEAD", 6)
    finished: list[int | None] = []
    real_finish = ahead.Ahead.finish

    def finish(self: ahead.Ahead) -> ahead.AheadParts | None:
        parts = real_finish(self)
        finished.append(parts.blocks if parts is not None else None)
        return parts

    monkeypatch.setattr(ahead.Ahead, "finish", finish)
    records = _email_records(3, late_label)
    alone = _converted(records, 1, tmp_path / "alone.jsonl")
    assert finished == []  # one process: nothing ahead
    shared = _converted(records, 2, tmp_path / "shared.jsonl")
    assert shared == alone
    assert len(finished) == 1
    assert (finished[0] is not None and finished[0] >= 1) == kept
    system = alone["lines"].split(b"\n")[0].split(b'"content": "')[1].split(b'"')[0].decode()
    labels = ["billing", "other", "sales", "spam", "technical_support"] + (
        [late_label] if late_label else []
    )
    assert system.count(", ") == len(labels) - 1
    assert all(label in system for label in labels)
    assert alone["lines"].count(b"\n") == alone["report"]["examples"] > 0


@pytest.mark.parametrize("failing", [None, "0-5"])
def test_ahead_keeps_every_block_in_order_unless_one_fails(failing: str | None) -> None:
    """Workers read the blocks from the spool file they share with this process; parts
    come back in block order, every block given to a worker by the end of the first pass
    (at least the three read before the labels were taken). A block whose conversion fails
    drops everything converted ahead: the conversion after the first pass meets the error
    and reports it as usual."""
    from jsonl_bridge._schema import SchemaScan
    from jsonl_bridge.ahead import Ahead
    from jsonl_bridge.spool import RecordSpool, unpack_block

    records = _email_records(2)
    parent = os.getpid()

    def start(schema: jb.ExportSchema) -> Callable[[bytes], tuple[int, list[str]]]:
        def convert(block: bytes) -> tuple[int, list[str]]:
            ids = [record.id for record in unpack_block(block)]
            if failing in ids:
                raise ValueError("a bad block")
            return os.getpid(), ids

        return convert

    spool, scan = RecordSpool(2), SchemaScan()
    ahead = Ahead(scan, start, spool.read_at, 2, after=3)  # every label by then
    for record in spool.keep(records, ahead.block):
        scan.add(record)
    parts = ahead.finish()
    spool.close()
    if failing:
        assert parts is None
        return
    assert parts is not None and 3 <= parts.blocks <= 6
    done = list(parts)
    kept = records[: 2 * parts.blocks]
    assert [i for _, ids in done for i in ids] == [record.id for record in kept]
    assert parent not in {pid for pid, _ in done}
