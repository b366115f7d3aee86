"""What a conversion produced: counts by outcome, and the tasks it rejected."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jsonl_bridge.records import Source


@dataclass(frozen=True)
class Reject:
    """A task that did not become an example, and why: one line of the rejects file."""

    id: str
    source: Source
    reason: str
    detail: str
    annotators: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source.brief(),
            "reason": self.reason,
            "detail": self.detail,
            "annotators": self.annotators,
        }


@dataclass
class Report:
    """Counts by outcome; `bytes_written` and `outputs` are filled in by the writer."""

    tasks_read: int = 0
    examples: int = 0
    unannotated: int = 0
    skipped_empty: int = 0
    """Tasks whose chosen annotation has no result, left out by `skip_empty`."""
    rejected: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    bytes_written: int = 0
    outputs: dict[str, int] = field(default_factory=dict)
    images_embedded: int = 0
    images_reencoded: int = 0
    """Embedded images that were converted, resized or re-encoded (the rest passed through)."""
    image_bytes: int = 0
    """Image bytes embedded (before base64)."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "tasks_read": self.tasks_read,
            "examples": self.examples,
            "unannotated": self.unannotated,
            "skipped_empty": self.skipped_empty,
            "rejected": dict(sorted(self.rejected.items())),
            "warnings": self.warnings,
            "bytes_written": self.bytes_written,
            "outputs": self.outputs,
            "images_embedded": self.images_embedded,
            "images_reencoded": self.images_reencoded,
            "image_bytes": self.image_bytes,
        }
