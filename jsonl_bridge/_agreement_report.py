"""What `agreement` found: per field the metrics, the annotator pairs, the disagreeing items.

The JSON shape is a contract (DESIGN §12); the text form is for people and follows it.
A field passes when its headline metric is defined and at least the threshold: an
undefined headline (no variation, a single item) cannot show agreement, so it fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonl_bridge.records import Source

Metrics = dict[str, float | None]


@dataclass(frozen=True)
class Confusion:
    """A labels × labels table of counts. A field's is Krippendorff's coincidence matrix:
    how often value `labels[i]` met `labels[j]` in an item (each ordered pair of an item's m
    values counts 1/(m − 1)), symmetric. A pair's is the A × B table: how often the first
    annotator said `labels[i]` while the second said `labels[j]`."""

    labels: list[str]
    matrix: Sequence[Sequence[float]]

    def to_json_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "matrix": self.matrix}


@dataclass(frozen=True)
class PairAgreement:
    """Two annotators, on the items both answered; for a categorical field, `confusion` is
    their A × B table (rows: what `annotators[0]` said, columns: `annotators[1]`)."""

    annotators: tuple[str, str]
    n_items: int
    metrics: Metrics
    undefined: dict[str, str] = field(default_factory=dict)
    confusion: Confusion | None = None

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "annotators": list(self.annotators),
            "n_items": self.n_items,
            "metrics": self.metrics,
            "undefined": self.undefined,
        }
        if self.confusion is not None:
            out["confusion"] = self.confusion.to_json_dict()
        return out


@dataclass(frozen=True)
class Disagreement:
    """One item where annotators gave different answers in one field: a line to re-review."""

    id: str
    source: Source
    field: str
    answers: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        source = self.source.brief()
        return {"id": self.id, "source": source, "field": self.field, "answers": self.answers}


@dataclass(frozen=True)
class FieldAgreement:
    """Agreement in one field. `metrics` holds every metric by name, None when undefined
    (with the reason in `undefined`); `headline` names the one the threshold applies to."""

    name: str
    kind: str
    headline: str
    metrics: Metrics
    undefined: dict[str, str]
    n_items: int
    annotators: list[str]
    pairs: list[PairAgreement]
    disagreements: list[Disagreement]
    confusion: Confusion | None = None

    @property
    def value(self) -> float | None:
        """The headline metric's value."""
        return self.metrics.get(self.headline)

    def passed(self, threshold: float) -> bool:
        return self.value is not None and self.value >= threshold

    def to_json_dict(self, threshold: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "headline": self.headline,
            "metrics": self.metrics,
            "undefined": self.undefined,
            "n_items": self.n_items,
            "n_annotators": len(self.annotators),
            "annotators": self.annotators,
            "pass": self.passed(threshold),
            "pairs": [pair.to_json_dict() for pair in self.pairs],
            "disagreements": len(self.disagreements),
        }
        if self.confusion is not None:
            out["confusion"] = self.confusion.to_json_dict()
        return out


@dataclass(frozen=True)
class AgreementReport:
    """Agreement per measured field, and the fields that could not be measured, with why."""

    fields: dict[str, FieldAgreement]
    skipped: dict[str, str]
    tasks: int
    malformed_tasks: int = 0

    def passed(self, threshold: float = 0.8) -> bool:
        """True when at least one field was measured and every field's headline reaches
        the threshold (the service's rule: refine the guidelines below 0.8)."""
        return bool(self.fields) and all(f.passed(threshold) for f in self.fields.values())

    @property
    def disagreements(self) -> list[Disagreement]:
        return [d for f in self.fields.values() for d in f.disagreements]

    def to_json_dict(self, threshold: float = 0.8) -> dict[str, Any]:
        return {
            "threshold": threshold,
            "pass": self.passed(threshold),
            "tasks": self.tasks,
            "malformed_tasks": self.malformed_tasks,
            "fields": {name: f.to_json_dict(threshold) for name, f in self.fields.items()},
            "skipped": self.skipped,
        }


def report_text(report: AgreementReport, threshold: float) -> str:
    """The report for people: one block per field, then the verdict."""
    lines = [f"tasks read: {report.tasks}"]
    if report.malformed_tasks:
        lines.append(f"malformed tasks left out: {report.malformed_tasks}")
    for agreement in report.fields.values():
        lines += _field_text(agreement, threshold)
    for name, reason in report.skipped.items():
        lines.append(f"not measured: {name}: {reason}")
    if not report.fields:
        lines.append("nothing to measure: no field has an item answered by two annotators")
    verdict = "pass" if report.passed(threshold) else "FAIL"
    lines.append(f"agreement: {verdict} (threshold {threshold:g})")
    return "\n".join(lines)


def _field_text(f: FieldAgreement, threshold: float) -> list[str]:
    verdict = "pass" if f.passed(threshold) else "FAIL"
    lines = [
        f"{f.name} ({f.kind}): {_count(f.n_items, 'item')}, "
        f"{_count(len(f.annotators), 'annotator')} "
        f"({', '.join(f.annotators)})",
        f"  {f.headline}: {_number(f.value)}  {verdict}",
    ]
    for name, value in f.metrics.items():
        if name != f.headline:
            lines.append(f"  {name}: {_number(value)}")
    lines += [f"  ({name}: {reason})" for name, reason in f.undefined.items()]
    if f.pairs:
        lines.append("  pairs:")
    for pair in f.pairs:
        figures = ", ".join(f"{k} {_number(v)}" for k, v in pair.metrics.items())
        lines.append(
            f"    {' × '.join(pair.annotators)}: {_count(pair.n_items, 'item')}, {figures}"
        )
        if pair.confusion is not None:
            first, second = pair.annotators
            title = f"rows: what {first} said, columns: what {second} said"
            lines += _table_text(title, pair.confusion, "      ")
    if f.confusion is not None:
        title = "coincidences (value × value, pairs within an item):"
        lines += _table_text(title, f.confusion, "  ")
    if f.disagreements:
        ids = ", ".join(d.id for d in f.disagreements[:20])
        more = " ..." if len(f.disagreements) > 20 else ""
        lines.append(f"  disagreements: {_count(len(f.disagreements), 'item')} ({ids}{more})")
    return lines


def _table_text(title: str, confusion: Confusion, indent: str) -> list[str]:
    """A labelled table under its title, its rows two spaces further in."""
    width = max(len(label) for label in confusion.labels)
    cells = [max(len(label), 5) for label in confusion.labels]
    head = " ".join(label.rjust(cell) for label, cell in zip(confusion.labels, cells, strict=True))
    rows = indent + "  "
    lines = [f"{indent}{title}", f"{rows}{' ' * width} {head}"]
    for label, row in zip(confusion.labels, confusion.matrix, strict=True):
        counts = " ".join(
            f"{round(value, 2):g}".rjust(cell) for value, cell in zip(row, cells, strict=True)
        )
        lines.append(f"{rows}{label.ljust(width)} {counts}")
    return lines


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"
