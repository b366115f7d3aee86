"""The images of one task: resolved and embedded once, whatever uses them.

Selection renders every annotator's answer of a task, boxes in the `qwen` convention need the
size of the image as sent, and the chosen example needs its data URL: all of them ask this
cache, which holds the current task's images only (memory stays bounded by one task).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jsonl_bridge.chat import ImagePart, ImageURL, Message, Part
from jsonl_bridge.errors import ImageInvalidError, ImageNotFoundError
from jsonl_bridge.mapping import ImagesSpec
from jsonl_bridge.records import MediaRef, Record

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
                ImagePart(image_url=ImageURL.embedded(self._url(part.image_url.url)))
                if isinstance(part, ImagePart)
                else part
                for part in message.content
            ]
            out.append(message.model_copy(update={"content": parts}))
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
    """Resolution and embedding for a whole run; `for_task` hands out the per-task cache."""

    def __init__(self, resolver: ImageResolver, spec: ImagesSpec):
        self._resolver = resolver
        self._spec = spec
        self._task: TaskImages | None = None
        self.stats = ImageStats()

    def for_task(self, record: Record) -> TaskImages:
        """The cache of `record`'s images (a new one when the task changes)."""
        if self._task is None or self._task.record is not record:
            self._task = TaskImages(record, self)
        return self._task

    def embed(self, uri: str) -> EmbeddedImage:
        from jsonl_bridge.embed import embed_image

        return embed_image(self._resolver.read(uri), self._spec, name=uri)

    def close(self) -> None:
        self._resolver.close()


def _ref_of(record: Record, uri: str) -> MediaRef | None:
    return next((m for m in record.media if m.uri == uri), None)
