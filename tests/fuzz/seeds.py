"""The file names each fuzz target tries and the real exports it starts from (the fixtures)."""

from __future__ import annotations

import zipfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_EMAIL = FIXTURES / "label-studio" / "email-classification"
_DOCCANO = FIXTURES / "doccano" / "document-classification" / "exports"
_CVAT = FIXTURES / "cvat"

NAMES: dict[str, tuple[str, ...]] = {
    # Label Studio tells JSON, JSON_MIN, CSV and TSV apart by content: two names suffice
    "label-studio": ("export.json", "export.csv"),
    "doccano": ("all.jsonl", "all.json", "all.csv", "all.txt", "export.zip"),
    "cvat": ("annotations.xml", "export.zip"),
}


def _member(archive: Path, name: str) -> bytes:
    with zipfile.ZipFile(archive) as opened:
        return opened.read(name)


def seeds(adapter: str) -> list[tuple[str, bytes]]:
    """(file name, content) of the real exports the target's corpus starts from."""
    if adapter == "label-studio":
        return [
            ("export.json", (_EMAIL / "export.json").read_bytes()),
            ("export.json", (_EMAIL / "export_min.json").read_bytes()),
            ("export.csv", (_EMAIL / "export.csv").read_bytes()),
            ("export.csv", (_EMAIL / "export.tsv").read_bytes()),
        ]
    if adapter == "doccano":
        return [
            ("all.jsonl", _member(_DOCCANO / "JSONL__collaborative__all.zip", "all.jsonl")),
            ("all.json", _member(_DOCCANO / "JSON__collaborative__approved-only.zip", "all.json")),
            ("all.csv", _member(_DOCCANO / "CSV__collaborative__all.zip", "all.csv")),
            ("all.txt", _member(_DOCCANO / "fastText__collaborative__all.zip", "all.txt")),
            ("export.zip", (_DOCCANO / "JSONL__individual__all.zip").read_bytes()),
        ]
    return [
        (
            "annotations.xml",
            (_CVAT / "public/cvat-docs/images_example_annotations.xml").read_bytes(),
        ),
        (
            "annotations.xml",
            (_CVAT / "public/cvat-docs/video_example_annotations.xml").read_bytes(),
        ),
        (
            "annotations.xml",
            (_CVAT / "datumaro_1.13_exports/metal_parts_cvat_images/default.xml").read_bytes(),
        ),
    ]
