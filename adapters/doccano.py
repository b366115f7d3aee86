"""Doccano 1.8 exports → Records: JSONL, JSON, CSV and fastText, for every project type.

Export code (which keys each project type writes): doccano's
backend/data_export/pipeline/factories.py. Quirks handled here (see
tests/fixtures/doccano/README.md, real doccano 1.8.4 output):

- Input: the zip as downloaded, its unpacked folder, or one bare file (see _doccano_input).
  Per-user files `<username>.<ext>` list every example; they are joined by example id into
  one Record per example with one Annotation per user who labeled it (see _doccano_join for
  the cost); a lone `all.<ext>` is the collaborative file (one merged annotation, no user).
- Rows: `id`, the data key (`text` or `filename`), every imported meta key at the top level,
  the label keys of the project type, `Comments` (see _doccano_regions for the regions).
- Offsets are stored as the client sent them: UTF-16 code units from the browser UI (the
  default, `offsets=utf16`), code points from Python API clients (`offsets=codepoints`).
- Classification categories and seq2seq/captioning/speech texts are both lists of strings
  under `label`. `label_kind=choice|text` says which; `auto` (the default) reads them as texts
  when any of the first labels looks like prose (four words or more, a line break, or longer
  than 60 characters), else as categories. fastText is always classification.
- Images: the export names the original upload only (`filename`); boxes and polygons are in
  pixels of that image, whose size the export does not give: it is read from the image when
  a box needs it, found under --images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from jsonl_bridge.errors import InputError
from jsonl_bridge.records import Record
from jsonl_bridge.registry import Adapter

from ._doccano_input import ExportFile, export_files
from ._doccano_join import example_groups
from ._doccano_offsets import OffsetUnit
from ._doccano_records import build_record
from ._doccano_regions import LabelKind, Settings
from ._doccano_rows import rows
from ._doccano_sniff import looks_like_doccano

_SCAN_ROWS = 5000
_SCAN_LABELED = 100
"""`label_kind=auto` looks at the labels of at most this many labeled rows (of so many rows)."""
_PROSE_WORDS = 4
_PROSE_CHARS = 60


class DoccanoOptions(BaseModel):
    """`--option` keys of the doccano adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offsets: OffsetUnit = "utf16"
    """What span offsets count: UTF-16 code units (doccano's browser UI) or code points."""
    label_kind: Literal["auto", "choice", "text"] = "auto"
    """Whether `label` strings are categories (choice) or free texts (seq2seq, captions)."""


def read(source: Path, options: Any = None) -> Iterator[Record]:
    """Stream one Record per example; InputError when the export cannot be read."""
    opts = _options(options)
    files = export_files(Path(source))
    settings = Settings(opts.offsets, _label_kind(files, opts.label_kind))
    count = 0
    for group in example_groups(files):
        count += 1
        yield build_record(group, settings)
    if not count:
        raise InputError(
            "the export holds no examples (every file is empty: an approved-only export in "
            "which nobody confirmed an example?)",
            where=str(source),
        )


def _options(options: Any) -> DoccanoOptions:
    return cast(DoccanoOptions, ADAPTER.parse_options(options))


def _label_kind(files: list[ExportFile], requested: str) -> LabelKind:
    """The kind of the `label` strings (see the module docstring), from a bounded look."""
    if requested != "auto":
        return cast(LabelKind, requested)
    if files[0].format == "fasttext":
        return "choice"
    scanned = labeled = 0
    for file in files:
        for row in rows(file, warn=False):
            labels = row.values.get("label")
            if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
                return "choice"  # no `label` strings (spans, boxes...): nothing to decide
            if any(_reads_as_prose(value) for value in labels):
                return "text"
            scanned, labeled = scanned + 1, labeled + bool(labels)
            if scanned >= _SCAN_ROWS or labeled >= _SCAN_LABELED:
                return "choice"
    return "choice"


def _reads_as_prose(value: str) -> bool:
    return len(value.split()) >= _PROSE_WORDS or "\n" in value or len(value) > _PROSE_CHARS


def sniff(path: Path) -> bool:
    """Cheap: the files of the input (zip members, folder entries) by extension, then the
    first row or header of the first few, by their keys."""
    try:
        files = export_files(Path(path))
    except InputError:
        return False
    return any(looks_like_doccano(file) for file in files[:8])


ADAPTER = Adapter(
    name="doccano",
    read=read,
    sniff=sniff,
    summary="doccano 1.8 JSONL, JSON, CSV and fastText exports (zip, unpacked folder or file)",
    options_model=DoccanoOptions,
)
