"""Inter-annotator agreement on an export's records (`bridge agree`, DESIGN §10, §12).

The service's rule: have 2-3 annotators label a small sample, and refine the guidelines
before labeling the rest when agreement is below 0.8. Each field is measured by its kind:

- categorical (choices, taxonomy, whole-image tags): Krippendorff's α nominal (headline),
  percent agreement (Fleiss' P̄), Fleiss' κ, Cohen's κ;
- numeric (numbers, ratings): Krippendorff's α interval (headline), percent agreement;
- spans: pairwise F1 with exact matching (headline) and with overlap matching;
- regions (boxes, polygons, ellipses, masks): pairwise F1 of regions paired by IoU with
  the same label (headline), the same F1 whatever the labels, label agreement on those
  pairs, their mean IoU;
- text: normalised similarity (headline), exact-match rate.

docs/agreement.md gives the formulas, their sources and the matching rules. The module is
private because a submodule named `agreement` would replace the function
`jsonl_bridge.agreement` as soon as it was imported; use `jsonl_bridge.agreement`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from jsonl_bridge._agreement_answers import Collected, collect
from jsonl_bridge._agreement_measures import measure
from jsonl_bridge._agreement_report import AgreementReport, FieldAgreement, report_text
from jsonl_bridge.errors import UsageError
from jsonl_bridge.records import Record

__all__ = [
    "AgreementReport",
    "FieldAgreement",
    "agreement",
    "check_threshold",
    "report_text",
    "write_disagreements",
]


def agreement(
    records: Iterable[Record], field: str | None = None, *, iou_threshold: float = 0.5
) -> AgreementReport:
    """Agreement per field (or in `field` only) between the annotators of `records`.

    Cancelled annotations and predictions never count; an item counts for a field when two
    or more annotators answered it there. Regions pair up when their IoU ≥ `iou_threshold`.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise UsageError(f"IoU threshold {iou_threshold}: must be above 0 and at most 1")
    collected = collect(records, field)
    if field is not None and field not in collected.names:
        raise UsageError(_unknown_field(field, collected.names))
    kinds_of: dict[str, list[str]] = {}
    for name, kind in collected.seen:
        kinds_of.setdefault(name, []).append(kind)
    fields: dict[str, FieldAgreement] = {}
    skipped = dict(collected.unmeasured)
    for name, kind in sorted(collected.seen):
        label = name if len(kinds_of[name]) == 1 else f"{name}:{kind}"
        items = collected.items.get((name, kind), [])
        if items:
            fields[label] = measure(label, kind, items, iou_threshold)
        else:
            skipped[label] = _why_no_item(collected, (name, kind))
    return AgreementReport(
        fields, dict(sorted(skipped.items())), collected.tasks, collected.malformed
    )


def check_threshold(threshold: float) -> None:
    """Refuse a pass mark no headline can reach or every headline passes: they are all at
    most 1, so `--threshold 80` (a percentage) would fail every export forever."""
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold {threshold:g}: must be between 0 and 1 (e.g. 0.8)")


def _unknown_field(field: str, names: set[str]) -> str:
    known = ", ".join(sorted(names)) or "none"
    close = difflib.get_close_matches(field, sorted(names), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"--field {field!r}: no annotation has this field (fields: {known}){hint}"


def _why_no_item(collected: Collected, key: tuple[str, str]) -> str:
    """Why a field has no item with two annotators; when its answers carry no annotator
    name, that is the reason (annotators merged by the tool), with how to export instead."""
    reason = "no item was answered by two annotators"
    unnamed = collected.unnamed.get(key, 0)
    if not unnamed:
        return reason
    tasks = "1 task" if unnamed == 1 else f"{unnamed} tasks"
    reason += f": the annotations of {tasks} carry no annotator name"
    if "doccano" in collected.tools:
        reason += (
            " (doccano's collaborative export merges every annotator's labels into one"
            " annotation; turn collaborative annotation off and export again for one file"
            " per user)"
        )
    return reason


def write_disagreements(report: AgreementReport, path: Path) -> int:
    """The items to re-review: one JSON line per item and field with every annotator's
    answer, written atomically (the rejects file's `id` and `source`, then `field`, `answers`)."""
    from jsonl_bridge.writer import atomic_file, dumps_line

    with atomic_file(path) as handle:
        for disagreement in report.disagreements:
            handle.write(dumps_line(disagreement.to_json_dict()))
    return len(report.disagreements)
