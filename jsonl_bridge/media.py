"""The images of one task: resolved and embedded once, whatever uses them.

Selection renders every annotator's answer of a task, boxes in the `qwen` convention need the
size of the image as sent, and the chosen example needs its data URL: all of them ask this
cache, which holds the current task's images only (memory stays bounded by one task).
"""

from __future__ import annotations

import warnings
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING

from jsonl_bridge.chat import EmbeddedImageURL, ImagePart, Message, Part
from jsonl_bridge.errors import BridgeError, ImageInvalidError, ImageNotFoundError
from jsonl_bridge.mapping import ImagesSpec
from jsonl_bridge.records import MediaRef, Record
from jsonl_bridge.workers import fork_context

if TYPE_CHECKING:
    from jsonl_bridge.embed import EmbeddedImage
    from jsonl_bridge.resolve import ImageResolver


@dataclass
class ImageStats:
    """What embedding did over a run, for the summary."""

    embedded: int = 0
    reencoded: int = 0
    bytes: int = 0


class TaskImages:
    """Resolve and embed the images of one record, each at most once."""

    def __init__(self, record: Record, media: Media):
        self.record = record
        self._media = media
        self._done: dict[str, EmbeddedImage] = {}

    def embedded(self, uri: str) -> EmbeddedImage:
        """The image as sent; ImageError subclasses (rejects) when it cannot be."""
        if uri not in self._done:
            image = self._media.embed(uri)
            self._check_size(uri, image)
            self._done[uri] = image
        return self._done[uri]

    @property
    def sent(self) -> list[EmbeddedImage]:
        """The images embedded for this task so far."""
        return list(self._done.values())

    def sent_size(self, key: str) -> tuple[int, int]:
        """(width, height) of the image a region's target names, as sent after any resize."""
        ref = next((m for m in self.record.media if m.key == key), None)
        if ref is None:
            raise ImageNotFoundError(f"no image {key!r} in task {self.record.id}")
        image = self.embedded(ref.uri)
        return image.width, image.height

    def embed_parts(self, messages: list[Message]) -> list[Message]:
        """The messages with every image reference replaced by its data URL."""
        out = []
        for message in messages:
            if isinstance(message.content, str):
                out.append(message)
                continue
            parts: list[Part] = [
                ImagePart(image_url=EmbeddedImageURL(url=self._url(part.image_url.url)))
                if isinstance(part, ImagePart)
                else part
                for part in message.content
            ]
            out.append(Message(role=message.role, content=parts))
        return out

    def _url(self, uri: str) -> str:
        image = self.embedded(uri)
        stats = self._media.stats
        stats.embedded += 1
        stats.reencoded += image.reencoded
        stats.bytes += image.nbytes
        return image.url

    def _check_size(self, uri: str, image: EmbeddedImage) -> None:
        """Regions are measured on the image the annotator saw; a file of another size (a
        resized copy, another picture, or a stored orientation the tool did not show) would
        put pixel boxes in the wrong places, so it is refused, not guessed at."""
        ref = _ref_of(self.record, uri)
        if ref is None or not ref.width or not ref.height:
            return
        width, height = image.displayed
        if abs(width - ref.width) > 1 or abs(height - ref.height) > 1:
            raise ImageInvalidError(
                f"image {uri!r}: annotated on {ref.width}x{ref.height} pixels, but the file "
                f"shows {width}x{height} (after its EXIF orientation): not the image the "
                f"annotations were drawn on (task {self.record.id})"
            )


class Media:
    """Resolution and embedding for a whole run; `for_task` hands out the per-task cache.

    With `workers` > 1, images that need re-encoding are re-encoded in that many worker
    processes while earlier tasks render and are written (Pillow's resize and encode hold the
    GIL, so threads would not help): the pipeline hands each record to `prefetch` `lookahead`
    tasks before its turn. Output order is unchanged; memory holds the images of at most
    `lookahead` tasks.
    """

    def __init__(self, resolver: ImageResolver, spec: ImagesSpec, *, workers: int = 1):
        self._resolver = resolver
        self._spec = spec
        self._task: TaskImages | None = None
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._ahead: dict[str, Future[EmbeddedImage]] = {}
        self._prefetched: deque[tuple[Record, list[str]]] = deque()
        self.stats = ImageStats()

    @property
    def lookahead(self) -> int:
        """How many tasks ahead to prepare: enough to keep every worker busy (0: none)."""
        return 2 * self._workers if self._workers > 1 else 0

    def prefetch(self, record: Record, *, wanted: bool = True) -> None:
        """Start on `record`'s local images (`wanted`: it has annotations to write). Those
        that pass through are embedded here; the others go to a worker. A remote image is
        fetched only when its task uses it."""
        uris = []
        if wanted:
            for ref in record.media:
                if ref.uri not in self._ahead and not _is_remote(ref.uri):
                    self._ahead[ref.uri] = self._start(ref.uri)
                    uris.append(ref.uri)
        self._prefetched.append((record, uris))
        while len(self._prefetched) > self.lookahead + 1:  # tasks already done
            self._drop_first()

    def _start(self, uri: str) -> Future[EmbeddedImage]:
        from jsonl_bridge.embed import pass_through, reencode

        started: Future[EmbeddedImage] = Future()
        try:
            data = self._resolver.read(uri)
            image = pass_through(data, self._spec, name=uri)
        except BridgeError as exc:  # raised when the task uses the image, as without workers
            started.set_exception(exc)
            return started
        if image is not None:
            started.set_result(image)
            return started
        if self._workers > 1:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self._workers, mp_context=_process_context())
            try:
                return self._pool.submit(reencode, data, self._spec, uri)
            except BrokenProcessPool:
                self._without_workers()
        try:
            started.set_result(reencode(data, self._spec, uri))
        except BridgeError as exc:
            started.set_exception(exc)
        return started

    def for_task(self, record: Record) -> TaskImages:
        """The cache of `record`'s images (a new one when the task changes)."""
        if self._task is None or self._task.record is not record:
            self._forget_before(record)
            self._task = TaskImages(record, self)
        return self._task

    def _forget_before(self, record: Record) -> None:
        """Drop what was prepared for the tasks before `record` and never used (a rejected
        task's images): tasks come in order, so none of them will ask again."""
        if not any(done is record for done, _ in self._prefetched):
            return
        while self._prefetched[0][0] is not record:
            self._drop_first()

    def _drop_first(self) -> None:
        _, uris = self._prefetched.popleft()
        for uri in uris:
            left = self._ahead.pop(uri, None)
            if left is not None:
                left.cancel()

    def embed(self, uri: str) -> EmbeddedImage:
        """The image as sent: prepared ahead when `prefetch` started it, else now."""
        from jsonl_bridge.embed import embed_image

        ahead = self._ahead.pop(uri, None)
        if ahead is not None:
            try:
                return ahead.result()
            except BrokenProcessPool:
                self._without_workers()
        return embed_image(self._resolver.read(uri), self._spec, name=uri)

    def _without_workers(self) -> None:
        """The worker processes died or could not start (killed for memory, or a script
        that starts converting when imported, which a spawned worker does): go on in this
        process, as with `workers=1`, and say so once."""
        warnings.warn(
            f"image worker processes stopped ({self._workers} asked); re-encoding goes on in "
            "this process (in a script, put the conversion under `if __name__ == '__main__':`)",
            stacklevel=2,
        )
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._workers = 1
        for uri, future in list(self._ahead.items()):
            if not future.done() or isinstance(future.exception(), BrokenProcessPool):
                del self._ahead[uri]  # done again, in this process, when used

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._ahead.clear()
        self._prefetched.clear()
        self._resolver.close()


def _process_context() -> BaseContext:
    """fork where it is safe: workers start at once and the main script is not imported
    again. Else spawn (notebooks, whose kernels run threads; Windows, macOS defaults)."""
    return fork_context() or get_context("spawn")


def _is_remote(uri: str) -> bool:
    return uri[:8].lower().startswith(("http://", "https://"))


def _ref_of(record: Record, uri: str) -> MediaRef | None:
    return next((m for m in record.media if m.uri == uri), None)
