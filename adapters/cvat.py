"""CVAT exports → Records: "CVAT for images 1.1" and "CVAT for video 1.1" XML.

Input: the export zip (`annotations.xml`, plus `images/` when images were saved), the unpacked
folder, or the bare XML; the XML is found by its `<annotations>` root, not its name (datumaro
writes `default.xml`). The XML is streamed (see _cvat_xml: no DTD, entities or external
references; one `<image>`/`<track>` in memory at a time). Format notes, with the traps:
tests/fixtures/cvat/FORMAT.md.

Records:
- images: one Record per `<image>`; id = `data.image` = `media[0].uri` = the image name exactly
  as in the XML, i.e. its path under the export's `images/` (a project export saves
  `images/<subset>/<name>` and can repeat a name across subsets: there all three are
  `subset/name`), plus `subset`/`task_id` in `data` when given; media width and height from
  the XML; `meta = {"frame": <image id>}`. No shapes → one empty annotation (a negative
  example). `media_roots` names the export's `images/` (zip, folder, or beside the XML).
- video: one Record per frame (see _cvat_records): id `frame_000123`, image
  `frame_000123.PNG`, size from `<original_size>`, tracks spread over the frames with
  interpolated shapes kept and `outside` ones dropped.
- Each record has exactly one Annotation: annotator = the `<assignee>` user name of the task
  or job (a project's per-task one, by `task_id`) or None; the owner is in `Annotation.meta`.
  CVAT keeps no other authorship in its XML.

Fields: CVAT has no controls (Label Studio's from_name), so a region's `field` is the CVAT
element it came from, in the plural (`boxes`, `polygons`, `polylines`, `points`, `ellipses`,
`masks`, `cuboids`, `skeletons`, `tags`) and `label` is the CVAT label. Each field then holds
one region type, so `{kind: box}` and `{kind: tag}` selectors bind exactly one field and
`fields.tags` holds the whole-image labels apart from the shapes; `regions | boxes('gemini')`
(qc-defects) takes every shape with an area whatever its field. Label names as fields were
rejected: the XML does not say which kind a label is drawn as (type `any`), so selectors could
not bind, and a shape label and a tag label would share a name space. `schema()` lists those
fields with the labels the meta allows for each.

Attributes: `region.attributes` holds `occluded`, `source`, `z_order`, `group_id` (tracks:
`track_id`, `keyframe`) and every `<attribute>` child by name (`region.attributes.severity`),
as text; checkbox attributes (per the meta's `input_type`) as booleans. Undeclared labels are
kept as written (CVAT's own example uses one): `labels.allowed`/`unknown` decide.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from jsonl_bridge.errors import InputError
from jsonl_bridge.records import ExportSchema, FieldSchema, Record
from jsonl_bridge.registry import Adapter, NoOptions

from ._common import warn_repeated_ids
from ._cvat_input import Document, documents, image_roots, sniff_head
from ._cvat_meta import Meta, export_schema, parse_meta
from ._cvat_records import RecordBuilder
from ._cvat_xml import top_level

if TYPE_CHECKING:
    from jsonl_bridge.resolve import ImageRoot

VERSION = "1.1"


def read(source: Path, options: Any = None) -> Iterator[Record]:
    """Stream one Record per image (or video frame), document by document, in file order."""
    ADAPTER.parse_options(options)
    records = (record for doc in documents(Path(source)) for record in _read_document(doc))
    yield from warn_repeated_ids(records, str(source))


def _read_document(document: Document) -> Iterator[Record]:
    meta, version = Meta(), None
    builder: RecordBuilder | None = None
    images = tracks = 0
    for element in top_level(document.open, document.where):
        tag = element.tag
        if tag == "image":
            images += 1
            builder = builder or RecordBuilder(meta, document.where, version)
            yield builder.image(element, images)
        elif tag == "track":
            tracks += 1
            builder = builder or RecordBuilder(meta, document.where, version)
            builder.add_track(element, tracks)
        elif tag == "meta":
            meta = parse_meta(element)
        elif tag == "version":
            version = (element.text or "").strip() or None
    if tracks or (not images and meta.mode == "interpolation" and meta.frames()):
        builder = builder or RecordBuilder(meta, document.where, version)
        yield from builder.frames()
    elif not images:
        raise InputError(
            "the export holds no <image> and no <track> (an empty or cut-short export)",
            where=document.where,
        )


def sniff(path: Path) -> bool:
    """Cheap: the start of the file (or of each *.xml at the top of a folder or in a zip)
    has an `<annotations>` root whose `<version>` is 1.1."""
    head = sniff_head(Path(path))
    return head is not None and head.version == VERSION


def schema(source: Path, options: Any = None) -> ExportSchema | None:
    """The labels `<meta>` declares, per field (see the module docstring); None when the
    export declares no labels. Reads each document only up to the end of its `<meta>`."""
    ADAPTER.parse_options(options)
    merged: dict[str, FieldSchema] = {}
    unplaced: list[str] = []
    for document in documents(Path(source)):
        elements = top_level(document.open, document.where)
        with closing(elements):
            for element in elements:
                if element.tag == "meta":
                    found = export_schema(parse_meta(element))
                    if found is not None:
                        _merge(merged, found)
                        unplaced += found.unplaced
                    break
                if element.tag in ("image", "track"):
                    break
    if not merged:
        return None
    return ExportSchema(fields=merged, unplaced=list(dict.fromkeys(unplaced)))


def _merge(merged: dict[str, FieldSchema], found: ExportSchema) -> None:
    """Add one document's fields; a field two documents share gets both label lists."""
    for name, field in found.fields.items():
        known = merged.get(name)
        labels = list(dict.fromkeys(known.labels + field.labels)) if known else field.labels
        merged[name] = msgspec.structs.replace(field, labels=labels)


def media_roots(source: Path, options: Any = None) -> list[ImageRoot]:
    """The export's own `images/` folder (in the zip, the folder, or beside the bare XML),
    searched before `--images`: image references are paths relative to it."""
    return list(image_roots(Path(source)))


ADAPTER = Adapter(
    name="cvat",
    read=read,
    sniff=sniff,
    summary="CVAT for images 1.1 and CVAT for video 1.1 XML (bare, unpacked folder or export zip)",
    options_model=NoOptions,
    schema=schema,
    media_roots=media_roots,
)
