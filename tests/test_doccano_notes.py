"""Doccano: what is said once about a whole export (CSV '#', collaborative merges, fastText
repeats), where a record points, and which files are media.

Expectations come from the fixtures' answer keys (ground_truth.json) or from rows written
here in doccano's shapes and worked out by hand.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge.adapters._doccano_rows import split_joined
from jsonl_bridge.adapters.doccano import read
from jsonl_bridge.records import Choice, Record

FIXTURES = Path(__file__).parent / "fixtures" / "doccano"


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def _read(source: Path, options: dict[str, str] | None = None) -> tuple[list[Record], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = list(read(source, options))
    return records, [str(w.message) for w in caught]


def _truth(project: str) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(
        (FIXTURES / project / "ground_truth.json").read_text(encoding="utf-8")
    )
    return truth


# --- the CSV '#' ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "items"),
    [
        ("", []),
        ("SALES_INQUIRY#SUPPORT_REQUEST", ["SALES_INQUIRY", "SUPPORT_REQUEST"]),
        ("C#", ["C#"]),
        ("C##Python", ["C#", "Python"]),
        ("#C", ["#C"]),
        ("#", ["#"]),
    ],
)
def test_a_joined_cell_never_gives_an_empty_label(cell: str, items: list[str]) -> None:
    assert split_joined(cell) == items


@given(st.text(alphabet="ab#", max_size=30))
def test_split_joined_keeps_every_character_and_no_empty_item(cell: str) -> None:
    items = split_joined(cell)
    assert "#".join(items) == cell
    assert all(items)


def test_multi_label_cells_of_categories_are_not_warned_about() -> None:
    # e4: admin gave SALES_INQUIRY and SUPPORT_REQUEST, joined as one cell; no label has '#'
    export = FIXTURES / "document-classification" / "exports" / "CSV__individual__all.zip"
    records, told = _read(export)
    e4 = next(r for r in records if r.id == "20")
    admin = next(a for a in e4.annotations if a.annotator == "admin")
    assert admin.regions == [
        Choice(field="label", labels=["SALES_INQUIRY", "SUPPORT_REQUEST"], target="text")
    ]
    assert [m for m in told if "'#'" in m] == []


def test_an_ambiguous_cell_is_warned_about_once_per_export(tmp_path: Path) -> None:
    header = "id,text,label,Comments\n"
    export = _zip(
        tmp_path / "export.zip",
        {
            "anna.csv": header + "1,Which language?,C##Python,\n2,And now?,C#,\n",
            "ben.csv": header + "1,Which language?,C#,\n2,And now?,#C,\n",
        },
    )
    records, told = _read(export)
    assert [(r.id, [a.regions[0].labels for a in r.annotations]) for r in records] == [  # type: ignore[union-attr]
        ("1", [["C#", "Python"], ["C#"]]),
        ("2", [["C#"], ["#C"]]),
    ]
    hashes = [m for m in told if "'#'" in m]
    assert len(hashes) == 1
    assert hashes[0].startswith(f"{export}!anna.csv:2: ")
    assert "label 'C##Python' is read as ['C#', 'Python']" in hashes[0]


# --- collaborative exports ---------------------------------------------------------------------


def test_a_collaborative_export_says_once_that_its_annotators_were_merged() -> None:
    export = FIXTURES / "document-classification" / "exports" / "JSONL__collaborative__all.zip"
    records, told = _read(export)
    merged = [m for m in told if "collaborative" in m]
    assert len(merged) == 1 and "one file per user" in merged[0]
    # e5 (id 21): anna GENERAL_FEEDBACK, ben SUPPORT_REQUEST, merged and sorted (README fact 3)
    e5 = next(r for r in records if r.id == "21")
    assert [(a.annotator, a.regions) for a in e5.annotations] == [
        (
            None,
            [Choice(field="label", labels=["GENERAL_FEEDBACK", "SUPPORT_REQUEST"], target="text")],
        )
    ]
    individual = FIXTURES / "document-classification" / "exports" / "JSONL__individual__all.zip"
    assert [m for m in _read(individual)[1] if "collaborative" in m] == []


# --- where a record points ----------------------------------------------------------------------


def test_a_record_points_at_the_first_user_who_labeled_it() -> None:
    export = FIXTURES / "sequence-labeling" / "exports" / "JSONL__individual__no-relations__all.zip"
    truth = _truth("sequence-labeling")
    ordered = sorted(truth["examples"], key=lambda e: e["example_id"])
    expected = {}
    for line, example in enumerate(ordered, start=1):  # every user file lists every example
        users = sorted(u for u, answer in example["by_user"].items() if answer["spans"])
        expected[str(example["example_id"])] = (f"{export}!{(users or ['admin'])[0]}.jsonl", line)
    records, _ = _read(export, {"offsets": "codepoints"})
    assert {r.id: (r.source.file, r.source.line) for r in records} == expected
    assert expected["25"][0].endswith("!anna.jsonl")  # s1: admin left it unlabeled


# --- fastText repeats --------------------------------------------------------------------------


def test_fasttext_repeats_listed_unevenly_across_users_are_warned_about(tmp_path: Path) -> None:
    # approved-only: anna confirmed one copy of a repeated text, ben both
    export = _zip(
        tmp_path / "export.zip",
        {
            "anna.txt": "__label__A Same words \n__label__B Other words \n",
            "ben.txt": "__label__A Same words \n__label__C Same words \n",
        },
    )
    _, told = _read(export)
    assert len([m for m in told if "repeated" in m]) == 1
    every = FIXTURES / "document-classification" / "exports" / "fastText__individual__all.zip"
    assert [m for m in _read(every)[1] if "repeated" in m] == []


# --- media ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["call_01.wave", "call_01.weba", "CALL.WAV", "call.flac"])
def test_audio_is_known_by_its_extension_even_when_mimetypes_is_not(
    tmp_path: Path, name: str
) -> None:
    row = {
        "id": 1,
        "filename": name,
        "label": ["Hello, I need help with my order."],
        "Comments": [],
    }
    (tmp_path / "anna.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (record,) = read(tmp_path / "anna.jsonl")
    assert record.media == [] and record.data == {"filename": name}
