"""Doccano adapter against real doccano 1.8.4 exports (tests/fixtures/doccano, see COPIED.md).

Every expectation is computed from the fixtures' answer key, `ground_truth.json` (who labeled
what, who confirmed what, who commented), through the export rules the fixture README states
(per-user files, collaborative merge, approved-only, CSV `#` joining): never from the
adapter's output. Set JSONL_BRIDGE_DOCCANO_FIXTURES to a full copy of the fixtures (with all
68 zips) to run the same checks on every export.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from jsonl_bridge.adapters.doccano import read
from jsonl_bridge.records import Box, Choice, Record, Region, Relation, Span, Text
from jsonl_bridge.registry import detect_adapter

TESTS = Path(__file__).parent
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*doccano's CSV joins several labels"),
    pytest.mark.filterwarnings("ignore:.*a collaborative doccano export"),
]
FIXTURES = Path(os.environ.get("JSONL_BRIDGE_DOCCANO_FIXTURES", TESTS / "fixtures" / "doccano"))
ZIPS = sorted(FIXTURES.glob("*/exports/*.zip"))
CODEPOINT_PROJECTS = {"sequence-labeling"}
"""Fixtures written through the API with code-point offsets (README fact 6)."""

Answer = tuple[Any, ...]


def _variant(zip_path: Path) -> dict[str, Any]:
    """`<format>__<individual|collaborative>[__relations|__no-relations]__<all|approved-only>`"""
    parts = zip_path.stem.split("__")
    return {
        "project": zip_path.parent.parent.name,
        "format": parts[0],
        "collaborative": parts[1] == "collaborative",
        "relations": "relations" in parts,
        "approved_only": parts[-1] == "approved-only",
    }


def _options(project: str) -> dict[str, str]:
    return {"offsets": "codepoints"} if project in CODEPOINT_PROJECTS else {}


def _records(zip_path: Path) -> list[Record]:
    return list(read(zip_path, _options(_variant(zip_path)["project"])))


# --- the answer key, turned into what each user's file says --------------------------------


def _csv_split(values: list[str]) -> list[str]:
    """What doccano's CSV keeps of a list: sorted, joined with '#', and split by a reader."""
    return "#".join(sorted(values)).split("#") if values else []


def _user_answers(example: dict[str, Any], user: str, variant: dict[str, Any]) -> list[Answer]:
    """One user's labels on one example, normalised like `_regions`."""
    csv = variant["format"] == "CSV"
    if "labels_by_user" in example:
        labels = example["labels_by_user"][user]
        labels = _csv_split(labels) if csv else labels
        return [("choice", "label", label) for label in labels]
    if "texts_by_user" in example:
        texts = example["texts_by_user"][user]
        return [("text", "label", text) for text in (_csv_split(texts) if csv else texts)]
    if "boxes_by_user" in example:
        return [
            ("box", b["uuid"], b["x"], b["y"], b["width"], b["height"], b["label"])
            for b in example["boxes_by_user"][user]
        ]
    mine = example["by_user"][user]
    answers: list[Answer] = [("choice", "cats", label) for label in mine.get("cats", [])]
    dict_form = variant["relations"]
    field = "entities" if dict_form or "cats" in mine else "label"
    answers += [
        (
            "span",
            field,
            str(s["span_id"]) if dict_form else None,
            *(s["start_offset"], s["end_offset"], s["label"], s["text"]),
        )
        for s in mine["spans"]
    ]
    if dict_form:
        answers += [
            ("relation", str(r["from_id"]), str(r["to_id"]), r["type"]) for r in mine["relations"]
        ]
    return answers


def _expected(zip_path: Path) -> list[dict[str, Any]]:
    variant = _variant(zip_path)
    truth = json.loads((zip_path.parent.parent / "ground_truth.json").read_text("utf-8"))
    users = sorted(truth["users"])
    confirmed = {user: set(keys) for user, keys in truth["confirmed"].items()}
    expected = []
    for example in sorted(truth["examples"], key=lambda e: e["example_id"]):
        key = example["key"]
        # approved-only: a user's file lists what that user confirmed (README fact 4)
        listed = [u for u in users if not variant["approved_only"] or key in confirmed[u]]
        if variant["approved_only"] and not listed:
            continue
        voters = users if variant["collaborative"] else listed
        answers = {u: sorted(_user_answers(example, u, variant), key=repr) for u in voters}
        comments = [
            (c["user"], c["text"])
            for c in truth["comments"]
            if c["example"] == key and c["user"] in voters
        ]
        if variant["collaborative"]:
            merged = sorted((a for u in voters for a in answers[u]), key=repr)
            annotations = {None: merged} if merged else {}
            comments = [(None, text) for _, text in comments]
        else:
            annotations = {u: a for u, a in answers.items() if a}
        expected.append(
            {
                "id": str(example["example_id"]),
                "data": _data(example, variant),
                "annotations": annotations,
                "comments": sorted(comments, key=repr),
            }
        )
    return expected


def _data(example: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    if "upload_name" in example:
        return {"filename": example["upload_name"]}
    if variant["format"] == "fastText":
        return {"text": example["text"]}  # fastText keeps no meta
    return {"text": example["text"], **example["meta"]}


# --- the records, normalised the same way ---------------------------------------------------


def _regions(regions: list[Region]) -> list[Answer]:
    out: list[Answer] = []
    for r in regions:
        if isinstance(r, Choice):
            out += [("choice", r.field, label) for label in r.labels]
        elif isinstance(r, Text):
            out.append(("text", r.field, r.value))
        elif isinstance(r, Span):
            out.append(("span", r.field, r.id, r.start, r.end, r.label, r.text))
        elif isinstance(r, Relation):
            out.append(("relation", r.from_id, r.to_id, *r.labels))
        elif isinstance(r, Box):
            out.append(("box", r.id, r.x, r.y, r.w, r.h, r.label))
        else:
            raise AssertionError(f"unexpected region {r!r}")
    return sorted(out, key=repr)


def _actual(record: Record) -> dict[str, Any]:
    comments = [(c.get("annotator"), c["text"]) for c in record.meta.get("comments", [])]
    return {
        "id": record.id,
        "data": record.data,
        "annotations": {a.annotator: _regions(a.regions) for a in record.annotations},
        "comments": sorted(comments, key=repr),
    }


@pytest.mark.parametrize("zip_path", ZIPS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_every_export_matches_the_answer_key(zip_path: Path) -> None:
    records = _records(zip_path)
    assert [r.problems for r in records] == [[] for _ in records]
    actual = [_actual(r) for r in records]
    expected = _expected(zip_path)
    if _variant(zip_path)["format"] == "fastText":
        # fastText has no example ids: they are derived from the text
        assert len({r.id for r in records}) == len(records)
        assert all(r.id.startswith("text-") for r in records)
        for row in (*actual, *expected):
            row.pop("id")
        # nor an order across per-user files: an example comes when first met
        actual.sort(key=lambda row: row["data"]["text"])
        expected.sort(key=lambda row: row["data"]["text"])
    assert actual == expected


@pytest.mark.parametrize("zip_path", ZIPS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_every_export_is_recognised_without_from(zip_path: Path) -> None:
    assert detect_adapter(zip_path).name == "doccano"


def test_the_fixture_subset_covers_every_format_and_variant() -> None:
    variants = [_variant(z) for z in ZIPS]
    assert {v["format"] for v in variants} == {"JSONL", "JSON", "CSV", "fastText"}
    assert {v["project"] for v in variants} == {
        "document-classification",
        "seq2seq",
        "sequence-labeling",
        "intent-slot",
        "image-classification",
        "bounding-box",
    }
    for key in ("collaborative", "approved_only"):
        assert {v[key] for v in variants} == {True, False}
    labeling = [v for v in variants if v["project"] == "sequence-labeling"]
    assert {v["relations"] for v in labeling} == {True, False}
