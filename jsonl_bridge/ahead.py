"""Converting text tasks while the first pass is still reading the export.

A mapping that lists the export's labels (`schema.labels`) needs every record read before
the first example can be rendered, and that first pass runs in one process while the other
cores wait. Labels mostly all show up early, so once the first blocks are read the labels
seen so far are taken as the export's, and worker processes convert the blocks the spool
writes while the reading goes on (reading them from the spool file, which they share). If
the first pass ends without a new field, label or multiple choice (`SchemaScan.changed`),
the schema is the one the workers used, so their examples are the ones the conversion would
make: they are kept (in a temporary file, in block order) and the conversion goes on after
them. Otherwise they are dropped and the conversion runs as it would have. The output is the
same either way; only the time differs.
"""

from __future__ import annotations

import pickle
import tempfile
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO, Any

from jsonl_bridge._schema import SchemaScan
from jsonl_bridge.records import ExportSchema
from jsonl_bridge.workers import fork_context, submit, worker_pool


class AheadParts:
    """What the workers converted ahead: the parts of the first `blocks` blocks, in order."""

    def __init__(self, file: IO[bytes], blocks: int):
        self._file = file
        weakref.finalize(self, file.close)  # when the conversion is never iterated
        self.blocks = blocks

    def __iter__(self) -> Iterator[Any]:
        file = self._file
        file.seek(0)
        for _ in range(self.blocks):
            yield pickle.load(file)
        file.close()


class Ahead:
    """Told each block the spool writes (`block`), converts it ahead when it may (module
    docstring); `finish` after the first pass says what can be kept."""

    def __init__(
        self,
        scan: SchemaScan,
        start: Callable[[ExportSchema], Callable[[bytes], Any]],
        read_at: Callable[[int, int], bytes],
        workers: int,
        after: int,
    ):
        self._scan = scan
        self._start = start
        """The conversion of a block under a schema (the one taken part-way)."""
        self._read_at = read_at
        self._workers = workers
        self._after = after
        """Blocks read before the labels seen so far are taken as the export's."""
        self._held: deque[tuple[int, int]] = deque()
        """Where the blocks not yet given to a worker are in the spool."""
        self._pending: deque[Future[Any]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        # closed by finish(), or by the AheadParts it returns
        self._parts = tempfile.TemporaryFile(prefix="jsonl_bridge-ahead-")  # noqa: SIM115
        self._blocks = 0
        self._done = 0
        self._valid = True

    def block(self, at: int, length: int) -> None:
        """The spool wrote a block there."""
        if not self._valid:
            return
        self._blocks += 1
        self._held.append((at, length))
        if self._pool is None:
            if self._blocks >= self._after:
                self._begin()
        elif self._scan.changed:
            self._drop()
        else:
            self._collect(wait=False)

    def finish(self) -> AheadParts | None:
        """After the first pass: the parts converted ahead (the blocks given to a worker
        by then), or None when there are none to keep (a label came late, a worker failed,
        too few blocks). The conversion does the blocks after them."""
        if self._pool is None or self._scan.changed:
            self._drop()
        self._held.clear()
        if self._valid:
            self._collect(wait=True)
        self._close_pool()
        if not self._valid or not self._done:
            self._parts.close()
            return None
        return AheadParts(self._parts, self._done)

    def _begin(self) -> None:
        context = fork_context()
        if context is None:
            self._drop()
            return
        try:
            convert = self._start(self._scan.schema())
        except Exception:  # the mapping refuses these labels: the conversion will say so
            self._drop()
            return
        self._scan.changed = False
        read_at = self._read_at

        def work(where: tuple[int, int]) -> Any:
            return convert(read_at(*where))

        self._pool = worker_pool(work, self._workers, context)
        self._submit()

    def _submit(self) -> None:
        assert self._pool is not None
        while self._held and len(self._pending) < 2 * self._workers:
            self._pending.append(submit(self._pool, self._held.popleft()))

    def _collect(self, wait: bool) -> None:
        """Parts done, in order, to the file; more blocks to the workers."""
        self._submit()
        while self._valid and self._pending and (wait or self._pending[0].done()):
            try:
                part = self._pending.popleft().result()
            except Exception:  # the usual conversion meets the same error and reports it
                self._drop()
                return
            pickle.dump(part, self._parts, protocol=pickle.HIGHEST_PROTOCOL)
            self._done += 1
            self._submit()

    def _drop(self) -> None:
        self._valid = False
        self._held.clear()
        self._pending.clear()
        self._close_pool()

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
