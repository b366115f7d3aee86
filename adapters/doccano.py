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
  when any of the first labels of any file looks like prose (four words or more, a line
  break, longer than 60 characters, or a sentence: a space and a final `.`, `!` or `?`), else
  as categories. Up to 100 labeled rows of each file are looked at (unlabeled rows do not
  count: a user who labeled nothing must not use up the look). fastText is always
  classification.
- A collaborative export (`all.<ext>`) has every user's labels merged into one list: who
  said what, and whether they agreed, is lost. It is read (one annotation, no annotator), and
  a warning says that selection and agreement need the per-user export.
- Images: the export names the original upload only (`filename`); boxes and polygons are in
  pixels of that image, whose size the export does not give: it is read from the image when
  a box needs it, found under --images.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from jsonl_bridge.errors import InputError
from jsonl_bridge.records import Record
from jsonl_bridge.registry import Adapter

from ._common import warn_repeated_ids
from ._doccano_fast import jsonl_records
from ._doccano_input import ExportFile, export_files
from ._doccano_join import example_groups
from ._doccano_notes import Notices
from ._doccano_offsets import OffsetUnit
from ._doccano_records import build_record
from ._doccano_regions import LabelKind, Settings
from ._doccano_rows import rows
from ._doccano_sniff import looks_like_doccano

_SCAN_LABELED = 100
"""`label_kind=auto` looks at the labels of at most this many labeled rows of each file."""
_PROSE_WORDS = 4
_PROSE_CHARS = 60
_SENTENCE_ENDS = (".", "!", "?")


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
    notices = Notices()
    settings = Settings(opts.offsets, _label_kind(files, opts.label_kind), notices)
    if files[0].user is None:
        _warn_collaborative(files[0], notices)
    count = 0
    for record in warn_repeated_ids(_records(files, settings, notices), str(source)):
        count += 1
        yield record
    if not count:
        raise InputError(
            "the export holds no examples (every file is empty: an approved-only export in "
            "which nobody confirmed an example?)",
            where=str(source),
        )


def _records(files: list[ExportFile], settings: Settings, notices: Notices) -> Iterator[Record]:
    """One JSONL file needs no join: its rows go through the fast loop (see _doccano_fast)."""
    if len(files) == 1 and files[0].format == "jsonl":
        return jsonl_records(files[0], settings)
    read_rows = partial(rows, notices=notices, texts=settings.label_kind == "text")
    groups = example_groups(files, read_rows, notices)
    return (build_record(group, settings) for group in groups)


def _options(options: Any) -> DoccanoOptions:
    return cast(DoccanoOptions, ADAPTER.parse_options(options))


def _label_kind(files: list[ExportFile], requested: str) -> LabelKind:
    """The kind of the `label` strings (see the module docstring), from a bounded look."""
    if requested != "auto":
        return cast(LabelKind, requested)
    if files[0].format == "fasttext":
        return "choice"
    for file in files:
        kind = _file_label_kind(file)
        if kind is not None:
            return kind
    return "choice"


def _file_label_kind(file: ExportFile) -> LabelKind | None:
    """`text` or `choice` when the file's labels decide it, None when it labels nothing."""
    labeled = 0
    with closing(rows(file)) as file_rows:
        for row in file_rows:
            labels = row.values.get("label")
            if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
                return "choice"  # no `label` strings (spans, boxes...): nothing to decide
            if any(_reads_as_prose(value) for value in labels):
                return "text"
            labeled += bool(labels)
            if labeled >= _SCAN_LABELED:
                break
    return "choice" if labeled else None


def _reads_as_prose(value: str) -> bool:
    if len(value.split()) >= _PROSE_WORDS or "\n" in value or len(value) > _PROSE_CHARS:
        return True
    return " " in value and value.endswith(_SENTENCE_ENDS)


def _warn_collaborative(file: ExportFile, notices: Notices) -> None:
    notices.once(
        "collaborative",
        f"{file.where}: a collaborative doccano export: doccano merged every user's labels "
        "into one list per example, so who labeled what, and whether they agreed, is lost; "
        "each example gets one annotation with no annotator (select and agree cannot tell "
        "users apart). Export with collaborative annotation off to get one file per user",
    )


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
