"""What an export holds, in one pass: the data behind `bridge inspect`.

Mapping authors need to know the field names, their kinds and labels, and who annotated what
before they write a mapping; this answers that without rendering anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jsonl_bridge.records import Record, labels_of


@dataclass
class FieldStats:
    kinds: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    regions: int = 0


@dataclass
class ExportSummary:
    """Counts over tasks, annotations and fields, as `bridge inspect` shows them."""

    tasks: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    annotations: int = 0
    unannotated_tasks: int = 0
    cancelled: int = 0
    ground_truth: int = 0
    predictions: int = 0
    prediction_ids_only: int = 0
    invalid_tasks: int = 0
    annotators: Counter[str] = field(default_factory=Counter)
    fields: dict[str, FieldStats] = field(default_factory=dict)
    data_keys: Counter[str] = field(default_factory=Counter)

    def add(self, record: Record) -> None:
        self.tasks += 1
        self.formats[record.source.format] += 1
        self.data_keys.update(record.data.keys())
        self.invalid_tasks += bool(record.problems)
        self.prediction_ids_only += len(record.meta.get("prediction_ids", ()))
        done = [a for a in record.annotations if a.kind == "annotation" and not a.cancelled]
        self.unannotated_tasks += not done
        for annotation in record.annotations:
            if annotation.kind == "prediction":
                self.predictions += 1
            else:
                self.annotations += 1
                self.cancelled += annotation.cancelled
                self.ground_truth += annotation.ground_truth
                self.annotators[annotation.annotator or "?"] += 1
            for region in annotation.regions:
                stats = self.fields.setdefault(region.field, FieldStats())
                stats.kinds[region.type] += 1
                stats.regions += 1
                stats.labels.update(labels_of(region))

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "formats": dict(self.formats),
            "annotations": self.annotations,
            "unannotated_tasks": self.unannotated_tasks,
            "cancelled_annotations": self.cancelled,
            "ground_truth_annotations": self.ground_truth,
            "predictions": self.predictions,
            "prediction_ids_only": self.prediction_ids_only,
            "invalid_tasks": self.invalid_tasks,
            "annotators": dict(sorted(self.annotators.items())),
            "data_keys": sorted(self.data_keys),
            "fields": {
                name: {
                    "kinds": sorted(stats.kinds),
                    "regions": stats.regions,
                    "labels": dict(sorted(stats.labels.items())),
                }
                for name, stats in self.fields.items()
            },
        }


def summarize(records: Iterable[Record]) -> ExportSummary:
    """One streaming pass over the records."""
    summary = ExportSummary()
    for record in records:
        summary.add(record)
    return summary
