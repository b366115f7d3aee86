"""Inter-annotator agreement on an export's records (`bridge agree`, DESIGN §10, §12).

The service's rule: have 2-3 annotators label a small sample, and refine the guidelines
before labeling the rest when agreement is below 0.8. Each field is measured by its kind:

- categorical (choices, taxonomy, whole-image tags): Krippendorff's α nominal (headline),
  percent agreement (Fleiss' P̄), Fleiss' κ, Cohen's κ;
- numeric (numbers, ratings): Krippendorff's α interval (headline), percent agreement;
- spans: pairwise F1 with exact matching (headline) and with overlap matching;
- regions (boxes, polygons, ellipses, masks): pairwise F1 of regions paired by IoU
  (headline), label agreement on the pairs, their mean IoU;
- text: normalised similarity (headline), exact-match rate.

docs/agreement.md gives the formulas, their sources and the matching rules. The module is
private because a submodule named `agreement` would replace the function
`jsonl_bridge.agreement` as soon as it was imported; use `jsonl_bridge.agreement`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jsonl_bridge._agreement_answers import collect
from jsonl_bridge._agreement_measures import measure
from jsonl_bridge._agreement_report import AgreementReport, FieldAgreement, report_text
from jsonl_bridge.errors import UsageError
from jsonl_bridge.records import Record

__all__ = ["AgreementReport", "FieldAgreement", "agreement", "report_text", "write_disagreements"]


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
        known = ", ".join(sorted(collected.names)) or "none"
        raise UsageError(f"--field {field!r}: no annotation has this field (fields: {known})")
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
            skipped[label] = "no item was answered by two annotators"
    return AgreementReport(
        fields, dict(sorted(skipped.items())), collected.tasks, collected.malformed
    )


def write_disagreements(report: AgreementReport, path: Path) -> int:
    """The items to re-review: one JSON line per item and field with every annotator's
    answer, written atomically (the rejects file's `id` and `source`, then `field`, `answers`)."""
    from jsonl_bridge.writer import atomic_file, dumps_line

    with atomic_file(path) as handle:
        for disagreement in report.disagreements:
            handle.write(dumps_line(disagreement.to_json_dict()))
    return len(report.disagreements)
