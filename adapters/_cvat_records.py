"""CVAT `<image>` and `<track>` elements → Records.

Images ("CVAT for images"): one Record per `<image>`, as soon as it is parsed. Its id and its
image reference (`media`, `data.image`) are the image name exactly as written, which is also
where the export zip keeps the file under `images/`; a project export adds `subset="…"`, saves
the file as `images/<subset>/<name>` and may repeat a name in several subsets, so there both
are `subset/name`. Width and height are the XML's; an image without shapes is a record with
one empty annotation (a negative example).

Video ("CVAT for video"): tracks are grouped by frame, so frames are yielded only at the end
of the document (memory holds the regions, never the XML). A frame's shapes come from every
track alive there: interpolated shapes (`keyframe="0"`) included, `outside="1"` ones dropped.
Frames are numbered as in the file (`start_frame + k × step`); the frames of the task (from
`<size>` or `<stop_frame>`) are all yielded, annotated or not, unless a track's frame falls
outside that range (then the meta is not trusted and only annotated frames are). A frame's
id is CVAT's file stem `frame_000123`, its image `frame_000123.PNG` (CVAT's naming, upper-case
extension); its size is `<original_size>`.

A document mixing both (CVAT never writes one) yields its image records as they come, then
the frames of its tracks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

from jsonl_bridge.errors import InputError
from jsonl_bridge.records import Annotation, MediaRef, Record, Region, Source

from ._cvat_meta import Meta, People
from ._cvat_shapes import TRUE, ShapeError, UnknownElement, flags, read_shape

TOOL = "cvat"
MEDIA_KEY = "image"

MAX_FRAMES = 10_000_000
"""A video's frame count from its meta is trusted up to this (over 90 hours at 30 fps): a
damaged or hostile `<size>` must not make a small XML yield billions of empty frames."""

FrameKey = tuple[str | None, int]
"""(task_id of a project export's track, or None; frame number)."""


class RecordBuilder:
    """Turns the elements of one document into Records; knows the document's meta."""

    def __init__(self, meta: Meta, file: str, version: str | None):
        self.meta = meta
        self.file = file
        self.version = version or "1.1"
        self._image_format = f"cvat-images-{self.version}"
        self._annotations = {
            task_id: _annotation_defaults(people) for task_id, people in meta.task_people.items()
        }
        self._default = _annotation_defaults(meta.people)
        self._frames: dict[FrameKey, tuple[list[Region], list[str]]] = {}
        self._track_subsets: dict[str, str] = {}
        self._unknown_seen: set[str] = set()

    # --- images ------------------------------------------------------------------------------

    def image(self, element: Element, position: int) -> Record:
        """One `<image>` (the `position`-th, 1-based) as a Record."""
        a = element.attrib
        pointer = f"/annotations/image[{position}]"
        problems: list[str] = []
        name = a.get("name")
        if not name:
            problems.append(f"{pointer}: <image> has no name")
            name = pointer
        subset, task_id = a.get("subset"), a.get("task_id")
        uri = f"{subset}/{name}" if subset else name  # a project zip: images/<subset>/<name>
        data: dict[str, Any] = {"image": uri}
        if subset is not None:
            data["subset"] = subset
        if task_id is not None:
            data["task_id"] = task_id
        width = _size(a, "width", pointer, problems)
        height = _size(a, "height", pointer, problems)
        regions = self._image_regions(element, pointer, problems)
        # Built with keywords, without msgspec's type check: every value has its type already
        # (text from the XML, sizes checked by _size, regions built by _cvat_shapes).
        return Record(
            id=uri,
            source=Source(tool=TOOL, format=self._image_format, file=self.file, pointer=pointer),
            data=data,
            media=[MediaRef(key=MEDIA_KEY, uri=uri, width=width, height=height)],
            annotations=[self._annotation(task_id, regions)],
            meta=_frame_meta(a.get("id")),
            problems=problems,
        )

    def _image_regions(self, element: Element, pointer: str, problems: list[str]) -> list[Region]:
        checkboxes = self.meta.checkboxes
        regions: list[Region] = []
        for child in element:
            if child.get("outside") in TRUE and child.tag != "tag":
                continue  # datumaro writes outside/keyframe on image shapes too
            try:
                region = read_shape(child, child.get("label", ""), checkboxes)
            except ShapeError as exc:
                self._left_out(exc, problems, pointer, element, child)
                continue
            if region is not None:
                regions.append(region)
        return regions

    def _left_out(
        self, exc: ShapeError, problems: list[str], pointer: str, parent: Element, child: Element
    ) -> None:
        """A shape `read_shape` refused: a ShapeError goes into `problems` (naming the child's
        place under `pointer`, worked out only then), an unknown element into one warning."""
        if isinstance(exc, UnknownElement):
            self._unknown(child.tag)
        else:
            problems.append(f"{pointer}/{_step(parent, child)}: {exc}")

    def _unknown(self, tag: str) -> None:
        """Warn once per element name: a newer CVAT may add shape kinds; the images go on
        with the shapes this reader knows (as Label Studio's unknown result types do)."""
        if tag not in self._unknown_seen:
            self._unknown_seen.add(tag)
            warnings.warn(
                f"{self.file}: <{tag}> is not a CVAT 1.1 element this reader knows (a newer "
                "CVAT's?): left out wherever it appears",
                stacklevel=2,
            )

    def _annotation(self, task_id: str | None, regions: list[Region]) -> Annotation:
        annotator, meta = self._annotations.get(task_id or "", self._default)
        return Annotation(annotator=annotator, regions=regions, meta=dict(meta))

    # --- tracks ------------------------------------------------------------------------------

    def add_track(self, element: Element, position: int) -> None:
        """Spread one `<track>` (the `position`-th) over the frames it is visible on."""
        a = element.attrib
        pointer = f"/annotations/track[{position}]"
        label = a.get("label", "")
        track_id = a.get("id")
        task_id, subset = a.get("task_id"), a.get("subset")
        if task_id is not None and subset is not None:
            self._track_subsets[task_id] = subset
        try:
            shared = flags(a)  # the track's source and group_id hold for all its shapes
            del shared["occluded"]
            shared.pop("z_order", None)
            if track_id is not None:
                shared["track_id"] = int(track_id) if track_id.isdecimal() else track_id
            broken = None
        except ShapeError as exc:
            shared, broken = {}, f"{pointer}: {exc}"
        checkboxes = self.meta.checkboxes
        for child in element:
            if child.tag == "attribute" or child.get("outside") in TRUE:
                continue
            frame = _frame(child, element, pointer, self.file)
            regions, problems = self._frames.setdefault((task_id, frame), ([], []))
            if broken:
                problems.append(broken)
            try:
                region = read_shape(child, label, checkboxes, shared, track_id)
            except ShapeError as exc:
                self._left_out(exc, problems, pointer, element, child)
                continue
            if region is not None:
                regions.append(region)

    def frames(self) -> Iterator[Record]:
        """Every frame of the video document, in frame order (after the last track)."""
        seen = self._frames
        if any(task_id is not None for task_id, _ in seen):
            keys: list[FrameKey] = sorted(seen, key=lambda k: (k[0] or "", k[1]))
            yield from (self._frame(key) for key in keys)
            return
        span = self.meta.frames()
        if span is not None and len(span) > MAX_FRAMES:
            warnings.warn(
                f"{self.file}: the meta says the video has {len(span):,} frames, more than "
                f"{MAX_FRAMES:,}: not trusted, only the annotated frames are read",
                stacklevel=2,
            )
            span = None
        if span is not None and all(frame in span for _, frame in seen):
            yield from (self._frame((None, frame)) for frame in span)
        else:
            yield from (self._frame(key) for key in sorted(seen, key=lambda k: k[1]))

    def _frame(self, key: FrameKey) -> Record:
        task_id, frame = key
        regions, problems = self._frames.pop(key, ([], []))
        stem = f"frame_{frame:06d}"
        subset = self._track_subsets.get(task_id) if task_id else None
        uri = f"{subset}/{stem}.PNG" if subset else f"{stem}.PNG"
        data: dict[str, Any] = {"image": uri}
        if subset is not None:
            data["subset"] = subset
        if task_id is not None:
            data["task_id"] = task_id
        width, height = self.meta.original_size or (None, None)
        return Record(
            id=f"{task_id}/{stem}" if task_id else stem,
            source=Source(
                tool=TOOL,
                format=f"cvat-video-{self.version}",
                file=self.file,
                pointer=f'/annotations/track/*[@frame="{frame}"]',
            ),
            data=data,
            media=[MediaRef(key=MEDIA_KEY, uri=uri, width=width, height=height)],
            annotations=[self._annotation(task_id, regions)],
            meta={"frame": frame},
            problems=problems,
        )


def _annotation_defaults(people: People) -> tuple[str | None, dict[str, Any]]:
    return people.assignee, ({"owner": people.owner} if people.owner else {})


def _size(a: dict[str, str], key: str, pointer: str, problems: list[str]) -> int | None:
    value = a.get(key)
    try:
        number = float(value) if value is not None else None
    except ValueError:
        number = None
    if number is None or not number.is_integer() or number <= 0:
        problems.append(f"{pointer}: <image> {key}={value!r} is not a size in pixels")
        return None
    return int(number)


def _frame_meta(image_id: str | None) -> dict[str, Any]:
    if image_id is not None and image_id.isdecimal():
        return {"frame": int(image_id)}
    return {}


def _frame(child: Element, track: Element, pointer: str, file: str) -> int:
    value = child.get("frame")
    if value is not None and value.strip().isdecimal():
        return int(value)
    raise InputError(
        f"{pointer}/{_step(track, child)}: a track shape needs a frame number, got {value!r}",
        where=file,
    )


def _step(parent: Element, child: Element) -> str:
    """XPath step of `child`: `box[2]` (counted among the siblings of its tag)."""
    count = 0
    for sibling in parent:
        if sibling is child:
            break
        count += sibling.tag == child.tag
    return f"{child.tag}[{count + 1}]"
