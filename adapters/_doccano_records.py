"""The rows of one example (one per user file, or the collaborative one) → one Record.

Each user's row becomes one Annotation by that user (the name of their file), holding the
regions they drew; a row whose label lists are all empty is doccano's way of listing an
example the user never labeled, so it gives no annotation. The collaborative `all` file
gives one annotation without an annotator: doccano merged everyone's labels into it.
Comments, by whoever wrote them, go to `Record.meta["comments"]` so that a comment on an
example the user did not label is kept too.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from jsonl_bridge.records import Annotation, MediaRef, Record, Source

from ._common import to_id
from ._doccano_regions import RowContent, Settings, read_row
from ._doccano_rows import Row

TOOL = "doccano"


def build_record(group: list[Row], settings: Settings) -> Record:
    """One record from the rows every file holds for an example (see module docstring)."""
    contents = [read_row(row, settings) for row in group]
    first, head = group[0], contents[0]
    problems = [problem for content in contents for problem in content.problems]
    example_id = to_id(first.values.get("id"))
    if example_id is None:
        problems.append(f"{first.where()}: the row has no 'id'")
    annotations = [
        Annotation(annotator=row.file.user, regions=content.regions)
        for row, content in zip(group, contents, strict=True)
        if content.regions
    ]
    comments = [
        {**comment, "annotator": row.file.user} if row.file.user else comment
        for row, content in zip(group, contents, strict=True)
        for comment in content.comments
    ]
    source = Source(
        tool=TOOL,
        format=first.file.format,
        file=first.file.where,
        line=first.line,
        pointer=first.pointer,
    )
    return Record(
        id=example_id or first.where(),
        source=source,
        data=head.data,
        media=_media(head),
        annotations=annotations,
        meta={"comments": comments} if comments else {},
        problems=problems,
    )


def _media(content: RowContent) -> list[MediaRef]:
    """The image of an image project. The export has only its upload name, resolved later
    under --images; audio files (speech-to-text) are data, not images."""
    if content.data_key != "filename":
        return []
    name: Any = content.data["filename"]
    kind = mimetypes.guess_type(name)[0] or ""
    return [] if kind.startswith("audio/") else [MediaRef(key="filename", uri=name)]
