"""The rows of one example (one per user file, or the collaborative one) → one Record.

Each user's row becomes one Annotation by that user (the name of their file), holding the
regions they drew; a row whose label lists are all empty is doccano's way of listing an
example the user never labeled, so it gives no annotation. The collaborative `all` file
gives one annotation without an annotator: doccano merged everyone's labels into it.
Comments, by whoever wrote them, go to `Record.meta["comments"]` so that a comment on an
example the user did not label is kept too.

The record's source is the row of the first user who labeled the example (every user's
file lists it), so that a reject or a disagreement points at a file that holds labels.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import Any

from jsonl_bridge.records import Annotation, MediaRef, Record, Source

from ._common import to_id
from ._doccano_regions import RowContent, Settings, read_row
from ._doccano_rows import Row

TOOL = "doccano"
AUDIO_EXTENSIONS = frozenset(
    [
        ".wav",
        ".wave",
        ".mp3",
        ".mpeg",
        ".mpga",
        ".ogg",
        ".oga",
        ".opus",
        ".aac",
        ".m4a",
        ".flac",
        ".webm",
        ".weba",
    ]
)
"""Doccano's speech projects take ogg, aac, mpeg and wav uploads (data_import catalog,
`AudioFile`); their usual extensions, also those `mimetypes` does not know."""


def build_record(group: list[Row], settings: Settings) -> Record:
    """One record from the rows every file holds for an example (see module docstring)."""
    head = read_row(group[0], settings)
    first: Row | None = None
    annotations: list[Annotation] = []
    problems: list[str] = []
    comments: list[dict[str, Any]] = []
    for row in group:  # one pass: this runs for every example of the export
        content = head if row is group[0] else read_row(row, settings)
        user = row.file.user
        if content.regions:
            first = first or row
            annotations.append(Annotation(annotator=user, regions=content.regions))
        problems += content.problems
        comments += (
            ({**c, "annotator": user} for c in content.comments) if user else content.comments
        )
    first = first or group[0]
    example_id = to_id(first.values.get("id"))
    if example_id is None:
        problems.append(f"{first.where()}: the row has no 'id'")
    source = Source(
        tool=TOOL,
        format=first.file.format,
        file=first.file.where,
        line=first.line,
        pointer=first.pointer,
    )
    return Record(  # keywords, unchecked: every value above was built with its type
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
    audio = kind.startswith("audio/") or PurePosixPath(name).suffix.lower() in AUDIO_EXTENSIONS
    return [] if audio else [MediaRef(key="filename", uri=name)]
