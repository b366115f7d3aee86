"""Agreement on doccano's per-user exports (issue 7's golden tests on doccano).

Expected values are computed here from ground_truth.json (each user's labels per example),
with this file's own coefficient arithmetic (Krippendorff's coincidence matrix, Cohen's
kappa), never from what jsonl_bridge printed. An empty answer is missing (docs/agreement.md):
doccano's per-user files list every example for every user.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import permutations
from pathlib import Path

import pytest
from typer.testing import CliRunner

import jsonl_bridge as jb
from jsonl_bridge.cli import app

DOCCANO = Path(__file__).parent / "fixtures" / "doccano"
CLASSIFICATION = DOCCANO / "document-classification"
PER_USER = [
    "JSONL__individual__all.zip",
    "JSON__individual__all.zip",
    "CSV__individual__all.zip",
    "fastText__individual__all.zip",
]

Answers = dict[str, tuple[str, ...]]
pytestmark = pytest.mark.filterwarnings("ignore:.*doccano's CSV joins several labels")


def _truth() -> dict[str, Answers]:
    """Example key → {user: sorted label set} for the users who labeled it."""
    truth = json.loads((CLASSIFICATION / "ground_truth.json").read_text("utf-8"))
    return {
        example["key"]: {
            user: tuple(sorted(labels))
            for user, labels in example["labels_by_user"].items()
            if labels
        }
        for example in truth["examples"]
    }


def _alpha_nominal(items: list[Answers]) -> float:
    """Krippendorff (2011): coincidences o_ck over pairable values, alpha = 1 - D_o / D_e."""
    o: Counter[tuple[tuple[str, ...], tuple[str, ...]]] = Counter()
    for answers in items:
        values = list(answers.values())
        for a, b in permutations(range(len(values)), 2):
            o[values[a], values[b]] += 1 / (len(values) - 1)
    totals: Counter[tuple[str, ...]] = Counter()
    for (c, _), count in o.items():
        totals[c] += count
    n = sum(totals.values())
    observed = sum(count for (c, k), count in o.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k) / (n - 1)
    return 1 - observed / expected


def _cohen(pairs: list[tuple[tuple[str, ...], tuple[str, ...]]]) -> float:
    agree = sum(a == b for a, b in pairs) / len(pairs)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[v] * second[v] for v in first) / len(pairs) ** 2
    return (agree - chance) / (1 - chance)


def _measured() -> list[Answers]:
    return [answers for answers in _truth().values() if len(answers) >= 2]


@pytest.mark.parametrize("export", PER_USER)
def test_classification_agreement_matches_the_answer_key(export: str) -> None:
    items = _measured()
    report = jb.agreement(jb.read(CLASSIFICATION / "exports" / export))
    field = report.to_json_dict(0.8)["fields"]["label"]
    assert field["n_items"] == len(items)
    assert field["annotators"] == ["admin", "anna", "ben"]
    assert field["metrics"]["krippendorff_alpha"] == pytest.approx(_alpha_nominal(items))
    pairwise = [
        sum(a == b for a, b in permutations(answers.values(), 2))
        / (len(answers) * (len(answers) - 1))
        for answers in items
    ]
    assert field["metrics"]["percent_agreement"] == pytest.approx(sum(pairwise) / len(items))
    anna_ben = [(a["anna"], a["ben"]) for a in items if "anna" in a and "ben" in a]
    pair = next(p for p in field["pairs"] if p["annotators"] == ["anna", "ben"])
    assert pair["n_items"] == len(anna_ben)
    assert pair["metrics"]["cohen_kappa"] == pytest.approx(_cohen(anna_ben))


def test_the_disagreements_file_names_each_users_answer(tmp_path: Path) -> None:
    """MANIFEST: users disagree on e4 (ids 20) and e5 (21); everyone else agrees."""
    out = tmp_path / "review.jsonl"
    export = CLASSIFICATION / "exports" / "JSONL__individual__all.zip"
    result = CliRunner().invoke(app, ["agree", str(export), "--disagreements", str(out)])
    assert result.exit_code == 1  # alpha is far below 0.8
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    truth = _truth()
    disagreeing = {key for key, answers in truth.items() if len(set(answers.values())) > 1}
    assert disagreeing == {"e4", "e5"}
    ids = {"e4": "20", "e5": "21"}
    assert sorted(row["id"] for row in rows) == sorted(ids.values())
    for key, example_id in ids.items():
        row = next(r for r in rows if r["id"] == example_id)
        got = {
            user: sorted(v) if isinstance(v, list) else [v] for user, v in row["answers"].items()
        }
        assert got == {user: list(labels) for user, labels in truth[key].items()}


BOXES = DOCCANO / "bounding-box"


def _iou(a: dict[str, float], b: dict[str, float]) -> float:
    """IoU of two doccano boxes (x, y, width, height); the same in any unit."""
    width = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    height = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    inter = max(width, 0) * max(height, 0)
    return inter / (a["width"] * a["height"] + b["width"] * b["height"] - inter)


def test_bounding_box_labeled_f1_matches_the_answer_key() -> None:
    """From ground_truth.json: b1 anna and ben both draw a SCRATCH (IoU 216/312); b2 anna's
    DENT and ben's SCRATCH cover the same spot (IoU 100/144) and anna's small SCRATCH meets
    nothing. Label-blind: 2 pairs of 5 boxes (F1 0.8, half with the same label); label-aware:
    1 pair, F1 2·1/5 = 0.4, which is the headline, so the export fails the 0.8 gate."""
    truth = json.loads((BOXES / "ground_truth.json").read_text("utf-8"))
    boxes = 0
    labeled_pairs = 0
    for example in truth["examples"]:
        by_user = {user: drawn for user, drawn in example["boxes_by_user"].items() if drawn}
        if len(by_user) < 2:
            continue
        (first, a), (second, b) = sorted(by_user.items())
        assert (first, second) == ("anna", "ben")
        boxes += len(a) + len(b)
        taken: set[int] = set()
        for box in a:  # at most one candidate per box here, so greedy order does not matter
            for j, other in enumerate(b):
                if j not in taken and other["label"] == box["label"] and _iou(box, other) >= 0.5:
                    taken.add(j)
                    labeled_pairs += 1
                    break
    assert (boxes, labeled_pairs) == (5, 1)
    report = jb.agreement(jb.read(BOXES / "exports" / "JSONL__individual__all.zip"))
    field = report.fields["bbox"]
    assert field.headline == "labeled_f1"
    assert field.metrics["labeled_f1"] == pytest.approx(2 * labeled_pairs / boxes)
    assert field.metrics["f1"] == pytest.approx(2 * 2 / boxes)
    assert field.metrics["label_agreement"] == pytest.approx(1 / 2)
    assert field.metrics["mean_iou"] == pytest.approx((216 / 312 + 100 / 144) / 2)
    assert not report.passed(0.8)
    assert report.passed(0.4)


@pytest.mark.filterwarnings("ignore:.*collaborative")  # the adapter's own warning
@pytest.mark.parametrize(
    "export",
    [
        BOXES / "exports" / "JSONL__collaborative__all.zip",
        CLASSIFICATION / "exports" / "JSONL__collaborative__all.zip",
    ],
)
def test_a_collaborative_export_says_why_nothing_is_measurable(export: Path) -> None:
    """Collaborative exports merge every user's labels into one nameless annotation
    (README fact 3), so no item has two annotators; the report says so and how to fix it."""
    report = jb.agreement(jb.read(export))
    assert report.fields == {}
    (reason,) = report.skipped.values()
    assert "carry no annotator name" in reason
    assert "doccano's collaborative export merges" in reason
    assert "collaborative annotation off" in reason
    result = CliRunner().invoke(app, ["agree", str(export)])
    assert result.exit_code == 1
    assert "carry no annotator name" in result.stdout
