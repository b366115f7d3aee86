"""Measuring one field: its metrics by kind, the annotator pairs, the disagreeing items.

Categorical and numeric fields use the coefficients of `_agreement_coefficients`; spans,
regions and text sum the pairwise tallies of `_agreement_matching` over every pair of
annotators of every item (pooled), and the same sums per pair give the pair table.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any

from jsonl_bridge._agreement_answers import Item
from jsonl_bridge._agreement_coefficients import (
    Level,
    Undefined,
    category_counts,
    cohen_kappa,
    coincidences,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from jsonl_bridge._agreement_matching import (
    Tally,
    add,
    compare_regions,
    compare_spans,
    compare_texts,
)
from jsonl_bridge._agreement_report import (
    Confusion,
    Disagreement,
    FieldAgreement,
    Metrics,
    PairAgreement,
)

HEADLINES: dict[str, str] = {
    "categorical": "krippendorff_alpha",
    "numeric": "krippendorff_alpha",
    "spans": "f1",
    "regions": "labeled_f1",
    "text": "similarity",
}
"""Kind → the metric the threshold applies to."""


def measure(name: str, kind: str, items: list[Item], iou_threshold: float) -> FieldAgreement:
    """Agreement in one field of one kind over its items (each with two or more answers)."""
    annotators = sorted({rater for item in items for rater in item.answers}, key=_natural)
    metrics: Metrics = {}
    undefined: dict[str, str] = {}
    confusion = None
    if kind in ("categorical", "numeric"):
        confusion = _coefficients(kind, items, annotators, metrics, undefined)
        pair_metrics: Callable[[list[Item]], tuple[Metrics, dict[str, str]]] = (
            _categorical_pair if kind == "categorical" else _numeric_pair
        )
        differ: Callable[[Item], bool] = _values_differ
    else:
        compare = _comparer(kind, iou_threshold)
        total: Tally = {}
        for item in items:
            for a, b in combinations(item.answers.values(), 2):
                add(total, compare(a, b))
        metrics, undefined = _from_tally(kind, total)
        pair_metrics = _tally_pair(kind, compare)
        differ = _pairs_differ(kind, compare)
    return FieldAgreement(
        name=name,
        kind=kind,
        headline=HEADLINES[kind],
        metrics=metrics,
        undefined=undefined,
        n_items=len(items),
        annotators=annotators,
        pairs=_pairs(kind, items, annotators, pair_metrics),
        disagreements=[_disagreement(name, kind, i) for i in items if differ(i)],
        confusion=confusion,
    )


def _natural(name: str) -> tuple[int, int | str]:
    """Numeric ids (Label Studio's users) in numeric order, then names alphabetically."""
    return (0, int(name)) if name.isdigit() else (1, name)


def _record(
    metrics: Metrics, undefined: dict[str, str], name: str, compute: Callable[[], float]
) -> None:
    """metrics[name] = compute(), or None with the reason when it is undefined."""
    try:
        metrics[name] = compute()
    except Undefined as exc:
        metrics[name] = None
        undefined[name] = str(exc)


def _coefficients(
    kind: str, items: list[Item], annotators: list[str], metrics: Metrics, undefined: dict[str, str]
) -> Confusion | None:
    units = [list(item.answers.values()) for item in items]
    values = sorted({value for unit in units for value in unit})
    counts = category_counts(units, values)
    level: Level = "nominal" if kind == "categorical" else "interval"
    _record(metrics, undefined, "krippendorff_alpha", lambda: krippendorff_alpha(units, level))
    _record(metrics, undefined, "percent_agreement", lambda: percent_agreement(counts))
    if kind == "numeric":
        return None
    _record(metrics, undefined, "fleiss_kappa", lambda: fleiss_kappa(counts))
    if len(annotators) == 2:
        _record(metrics, undefined, "cohen_kappa", lambda: _cohen(items, values))
    else:
        metrics["cohen_kappa"] = None
        undefined["cohen_kappa"] = (
            f"{len(annotators)} annotators: Cohen's κ compares two (see the pairs)"
        )
    matrix = coincidences(counts)
    return Confusion([_label(v) for v in values], [[float(x) for x in row] for row in matrix])


def _cohen(items: list[Item], values: list[Any]) -> float:
    """Cohen's κ of the two annotators of `items` (each item has both)."""
    import numpy as np

    first, second = sorted(items[0].answers, key=_natural)
    return cohen_kappa(np.array(_cross_table(items, first, second, values), dtype=float))


def _cross_table(items: list[Item], first: str, second: str, values: list[Any]) -> list[list[int]]:
    """How often `first` said values[i] while `second` said values[j], on items both answered."""
    index = {value: i for i, value in enumerate(values)}
    table = [[0] * len(values) for _ in values]
    for item in items:
        table[index[item.answers[first]]][index[item.answers[second]]] += 1
    return table


def _pair_confusion(items: list[Item], first: str, second: str) -> Confusion:
    """The A × B confusion table of one pair, over the values the pair gave."""
    values = sorted({value for item in items for value in item.answers.values()})
    return Confusion([_label(v) for v in values], _cross_table(items, first, second, values))


def _categorical_pair(items: list[Item]) -> tuple[Metrics, dict[str, str]]:
    values = sorted({value for item in items for value in item.answers.values()})
    metrics: Metrics = {}
    undefined: dict[str, str] = {}
    same = sum(len(set(item.answers.values())) == 1 for item in items)
    metrics["percent_agreement"] = same / len(items)
    _record(metrics, undefined, "cohen_kappa", lambda: _cohen(items, values))
    return metrics, undefined


def _numeric_pair(items: list[Item]) -> tuple[Metrics, dict[str, str]]:
    metrics: Metrics = {}
    undefined: dict[str, str] = {}
    units = [list(item.answers.values()) for item in items]
    _record(metrics, undefined, "krippendorff_alpha", lambda: krippendorff_alpha(units, "interval"))
    metrics["percent_agreement"] = sum(len(set(u)) == 1 for u in units) / len(units)
    return metrics, undefined


def _values_differ(item: Item) -> bool:
    return len(set(item.answers.values())) > 1


Compare = Callable[[Any, Any], Tally]


def _comparer(kind: str, iou_threshold: float) -> Compare:
    if kind == "spans":
        return compare_spans
    if kind == "regions":
        return lambda a, b: compare_regions(a, b, iou_threshold)
    return compare_texts


def _from_tally(kind: str, tally: Tally) -> tuple[Metrics, dict[str, str]]:
    """Pooled metrics of a kind from its summed tallies."""
    if kind == "spans":
        return {
            "f1": 2 * tally["matched"] / tally["spans"],
            "f1_overlap": 2 * tally["matched_overlap"] / tally["spans"],
        }, {}
    if kind == "text":
        return {
            "similarity": tally["similarity_sum"] / tally["pairs"],
            "exact_match": tally["exact"] / tally["pairs"],
        }, {}
    metrics: Metrics = {
        "labeled_f1": 2 * tally["matched_labeled"] / tally["regions"],
        "f1": 2 * tally["matched"] / tally["regions"],
    }
    if tally["matched"]:
        metrics["label_agreement"] = tally["same_label"] / tally["matched"]
        metrics["mean_iou"] = tally["iou_sum"] / tally["matched"]
        return metrics, {}
    reason = "no two regions of different annotators overlap enough to pair up"
    metrics.update(label_agreement=None, mean_iou=None)
    return metrics, {"label_agreement": reason, "mean_iou": reason}


def _tally_pair(
    kind: str, compare: Compare
) -> Callable[[list[Item]], tuple[Metrics, dict[str, str]]]:
    def pair_metrics(items: list[Item]) -> tuple[Metrics, dict[str, str]]:
        total: Tally = {}
        for item in items:
            first, second = item.answers.values()
            add(total, compare(first, second))
        return _from_tally(kind, total)

    return pair_metrics


def _pairs_differ(kind: str, compare: Compare) -> Callable[[Item], bool]:
    """An item disagrees when some pair of its annotators does not match completely."""

    def perfect(t: Tally) -> bool:
        if kind == "spans":
            return 2 * t["matched"] == t["spans"]
        if kind == "regions":
            return 2 * t["matched_labeled"] == t["regions"]
        return t["exact"] == 1

    def differ(item: Item) -> bool:
        answers = list(item.answers.values())
        return not all(perfect(compare(a, b)) for a, b in combinations(answers, 2))

    return differ


def _pairs(
    kind: str,
    items: list[Item],
    annotators: list[str],
    metrics_of: Callable[[list[Item]], tuple[Metrics, dict[str, str]]],
) -> list[PairAgreement]:
    """Every pair of annotators that share at least one item, on the items they share;
    for a categorical field, with what one said against what the other said."""
    pairs = []
    for a, b in combinations(annotators, 2):
        shared = [
            Item(i.id, i.source, {a: i.answers[a], b: i.answers[b]})
            for i in items
            if a in i.answers and b in i.answers
        ]
        if shared:
            metrics, undefined = metrics_of(shared)
            table = _pair_confusion(shared, a, b) if kind == "categorical" else None
            pairs.append(PairAgreement((a, b), len(shared), metrics, undefined, table))
    return pairs


def _disagreement(field: str, kind: str, item: Item) -> Disagreement:
    answers = {
        rater: _shown(kind, answer)
        for rater, answer in sorted(item.answers.items(), key=lambda kv: _natural(kv[0]))
    }
    return Disagreement(item.id, item.source, field, answers)


def _shown(kind: str, answer: Any) -> Any:
    """An answer as JSON for re-review: a label (a list when several), a number, the text,
    spans with their text, regions with their pixel envelope."""
    if kind == "categorical":
        return answer[0] if len(answer) == 1 else list(answer)
    if kind == "spans":
        return [s._asdict() for s in answer]
    if kind == "regions":
        return [{"label": r.label, "box": list(r.rect)} for r in answer]
    return answer


def _label(value: tuple[str, ...]) -> str:
    """A categorical value for tables: its label, or its labels joined with ' + '."""
    return " + ".join(value)
