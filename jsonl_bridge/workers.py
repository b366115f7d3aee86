"""Chunks of work done in forked worker processes, results handed back in order.

Converting a text task (selection, rendering, the gate) costs about three times reading it,
so on a machine with several cores a long text run converts in `workers` processes while
this one reads the export and writes the examples (docs/performance.md). Workers are forked,
never spawned: a fork inherits the compiled mapping as it is (Jinja templates cannot be
pickled) and starts at once. Where forking is not safe (another thread is running, as in a
notebook kernel; Windows, macOS defaults) the work is done in this process, with the same
results: callers must not depend on where a chunk ran.
"""

from __future__ import annotations

import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_IN_WORKER: Callable[[Any], Any] | None = None
"""In a worker process: what each chunk is given to (set when the worker starts)."""


def fork_context() -> BaseContext | None:
    """fork where it is safe: a POSIX process with no other thread (the CLI, most scripts)."""
    if "fork" in get_all_start_methods() and threading.active_count() == 1:
        return get_context("fork")
    return None


def ordered_map(work: Callable[[T], R], chunks: Iterable[T], workers: int) -> Iterator[R]:
    """`work(chunk)` for each chunk, in chunk order, in `workers` forked processes.

    At most two chunks a worker are in flight, so memory stays bounded whatever the input's
    size. A chunk whose worker failed is done again here: an error that belongs to the data
    is raised as this process would raise it, and a pool that broke (a worker killed for
    memory) is given up with a warning, the rest done here.
    """
    chunks = iter(chunks)
    first = next(chunks, None)
    context = fork_context() if workers > 1 else None
    if first is None or context is None:
        if first is not None:
            yield work(first)
        yield from map(work, chunks)
        return
    pool = _Pool(work, workers, context)  # not before there is work: a short run never forks
    pending: deque[tuple[T, Future[R] | None]] = deque()
    try:
        for chunk in chain([first], chunks):
            pending.append((chunk, pool.submit(chunk)))
            while len(pending) > 2 * workers:
                yield pool.result(*pending.popleft())
        while pending:
            yield pool.result(*pending.popleft())
    finally:
        pool.close()


class _Pool(Generic[T, R]):
    """The worker processes of one `ordered_map`, until they are done or break."""

    def __init__(self, work: Callable[[T], R], workers: int, context: BaseContext):
        self._work = work
        self._workers = workers
        self._executor: ProcessPoolExecutor | None = worker_pool(work, workers, context)

    def submit(self, chunk: T) -> Future[R] | None:
        """The chunk's future in a worker; None once the workers broke."""
        if self._executor is None:
            return None
        try:
            return submit(self._executor, chunk)
        except BrokenProcessPool:
            self._give_up()
            return None

    def result(self, chunk: T, future: Future[R] | None) -> R:
        if future is not None:
            try:
                return future.result()
            except BrokenProcessPool:
                self._give_up()
            except Exception:  # done again below, where the real error is raised
                pass
        return self._work(chunk)

    def _give_up(self) -> None:
        if self._executor is None:
            return
        warnings.warn(
            f"conversion worker processes stopped ({self._workers} asked); the conversion "
            "goes on in this process",
            stacklevel=4,
        )
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def worker_pool(work: Callable[[T], R], workers: int, context: BaseContext) -> ProcessPoolExecutor:
    """`workers` forked processes, each running `work` on the chunks `submit` gives it."""
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(work,)
    )


def submit(executor: ProcessPoolExecutor, chunk: T) -> Future[Any]:
    """`work(chunk)` in a process of a `worker_pool`."""
    return executor.submit(_in_worker, chunk)


def _start_worker(work: Callable[[Any], Any]) -> None:
    global _IN_WORKER
    _IN_WORKER = work


def _in_worker(chunk: Any) -> Any:
    assert _IN_WORKER is not None, "a chunk reached a process that was not started as a worker"
    return _IN_WORKER(chunk)
