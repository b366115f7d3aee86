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
