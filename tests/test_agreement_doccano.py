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
