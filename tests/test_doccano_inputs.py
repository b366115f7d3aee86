"""Doccano adapter: input forms, options, the project types the fixtures lack, and bad input.

Small exports are written here in doccano's own row shapes (fixture README, "Export
structures"); the expected values are read off those rows by hand.
"""

from __future__ import annotations

import json
import re
import types
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest

from jsonl_bridge.adapters._doccano_input import export_files
from jsonl_bridge.adapters.doccano import ADAPTER, _label_kind, read, sniff
from jsonl_bridge.errors import InputError, UsageError
from jsonl_bridge.records import Choice, MediaRef, Polygon, Source, Span, Text

pytestmark = pytest.mark.filterwarnings("ignore:.*a collaborative doccano export")
FIXTURES = Path(__file__).parent / "fixtures" / "doccano"
LABELING = FIXTURES / "sequence-labeling" / "exports"
CLASSIFICATION = FIXTURES / "document-classification" / "exports"
S4 = "😀🎉 Emoji first: invoice ZX-9 totals $12.00, due 2025-01-31."


def _lines(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def _row(ident: int, text: str, **labels: Any) -> dict[str, Any]:
    return {"id": ident, "text": text, **labels, "Comments": []}


# --- input forms ------------------------------------------------------------------------


def test_read_is_lazy() -> None:
    assert isinstance(read(CLASSIFICATION / "JSONL__individual__all.zip"), types.GeneratorType)


def test_the_unpacked_folder_reads_like_the_zip(tmp_path: Path) -> None:
    archive = CLASSIFICATION / "JSON__individual__all.zip"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(tmp_path)
    from_zip, from_folder = list(read(archive)), list(read(tmp_path))
    nowhere = Source(tool="", format="", file="")
    assert [msgspec.structs.replace(r, source=nowhere) for r in from_folder] == [
        msgspec.structs.replace(r, source=nowhere) for r in from_zip
    ]
    # e1 (MANIFEST): admin left it unlabeled, anna is the first user who labeled it
    assert from_folder[0].source.file == str(tmp_path / "anna.json")
    assert from_zip[0].source.file == f"{archive}!anna.json"


def test_a_bare_user_file_is_that_users_and_all_is_nobodys(tmp_path: Path) -> None:
    row = _row(7, "Book a flight to Oslo.", label=["BOOK"])
    for name, annotator in (("anna.jsonl", "anna"), ("all.jsonl", None)):
        (tmp_path / name).write_text(_lines(row), encoding="utf-8")
        (record,) = read(tmp_path / name)
        assert [a.annotator for a in record.annotations] == [annotator]
        assert record.source == Source(
            tool="doccano", format="jsonl", file=str(tmp_path / name), line=1
        )


def test_per_user_files_become_one_record_with_one_annotation_per_labeling_user(
    tmp_path: Path,
) -> None:
    export = _zip(
        tmp_path / "export.zip",
        {
            "ben.jsonl": _lines(_row(3, "a", label=["X"]), _row(9, "b", label=[])),
            "anna.jsonl": _lines(_row(3, "a", label=["Y"]), _row(9, "b", label=["X"])),
            "carl.jsonl": _lines(_row(9, "b", label=["X"])),  # approved-only: a subset
        },
    )
    records = list(read(export))
    assert [(r.id, [(a.annotator, a.regions) for a in r.annotations]) for r in records] == [
        (
            "3",
            [
                ("anna", [Choice(field="label", labels=["Y"], target="text")]),
                ("ben", [Choice(field="label", labels=["X"], target="text")]),
            ],
        ),
        (
            "9",
            [
                ("anna", [Choice(field="label", labels=["X"], target="text")]),
                ("carl", [Choice(field="label", labels=["X"], target="text")]),
            ],
        ),
    ]


def test_per_user_files_out_of_id_order_are_refused_with_file_and_line(tmp_path: Path) -> None:
    export = _zip(
        tmp_path / "export.zip",
        {
            "anna.jsonl": _lines(_row(5, "a", label=[]), _row(4, "b", label=[])),
            "ben.jsonl": _lines(_row(4, "b", label=[])),
        },
    )
    with pytest.raises(InputError, match=r"anna\.jsonl:2: example id 4 after 5"):
        list(read(export))


# --- offsets ---------------------------------------------------------------------------------


def test_utf16_offsets_from_the_browser_are_the_default(tmp_path: Path) -> None:
    browser = _row(28, S4, label=[[26, 30, "INVOICE_ID"], [38, 44, "AMOUNT"]])
    (tmp_path / "anna.jsonl").write_text(_lines(browser), encoding="utf-8")
    (record,) = read(tmp_path / "anna.jsonl")
    spans = record.annotations[0].regions
    assert [(s.start, s.end, s.text) for s in spans if isinstance(s, Span)] == [
        (24, 28, "ZX-9"),
        (36, 42, "$12.00"),
    ]


def test_the_api_written_fixture_needs_offsets_codepoints() -> None:
    export = LABELING / "JSONL__individual__no-relations__all.zip"
    s4 = {r.id: r for r in read(export, {"offsets": "codepoints"})}["28"]
    assert next(r.text for r in s4.annotations[0].regions if isinstance(r, Span)) == "ZX-9"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(read(export))  # the default, UTF-16, shifts s4's spans by its two emoji
    told = [str(w.message) for w in caught if "offsets" in str(w.message)]
    # s4 is line 4 of anna.jsonl (admin left it unlabeled); [24, 28] in UTF-16 units is
    # S4[22:26] = "e ZX" (cuts "invoice"), in code points "ZX-9" (README fact 6)
    assert len(told) == 1
    assert told[0].startswith(f"{export}!anna.jsonl:4: label [24, 28] reads as 'e ZX'")
    assert "as 'ZX-9' in codepoints" in told[0]
    assert told[0].endswith("try `--option offsets=codepoints`")


def test_the_right_offsets_option_gives_no_offsets_warning(tmp_path: Path) -> None:
    export = LABELING / "JSONL__individual__no-relations__all.zip"
    browser = _row(28, S4, label=[[26, 30, "INVOICE_ID"], [38, 44, "AMOUNT"]])
    (tmp_path / "anna.jsonl").write_text(_lines(browser), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(read(export, {"offsets": "codepoints"}))
        list(read(tmp_path / "anna.jsonl"))


def test_codepoints_on_a_browser_export_names_offsets_utf16(tmp_path: Path) -> None:
    browser = _row(28, S4, label=[[26, 30, "INVOICE_ID"]])  # "ZX-9" in UTF-16 units
    (tmp_path / "anna.jsonl").write_text(_lines(browser), encoding="utf-8")
    with pytest.warns(UserWarning, match=r"'-9 t' in codepoints offsets but as 'ZX-9' in utf16"):
        (record,) = read(tmp_path / "anna.jsonl", {"offsets": "codepoints"})
    assert [s.text for s in record.annotations[0].regions if isinstance(s, Span)] == ["-9 t"]


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ([40, 99, "AMOUNT"], r"label\[1\]: span \[40, 99\] is not inside the text \(61 UTF-16"),
        ([1, 4, "AMOUNT"], r"label\[1\]: offset 1 falls inside a surrogate pair"),
        (["1", 4, "AMOUNT"], r"label\[1\]: offsets must be integers"),
        ([1, 4], r"label\[1\]: expected \[start, end, label\]"),
    ],
)
def test_a_bad_span_is_a_problem_naming_file_line_and_field(
    tmp_path: Path, span: list[Any], message: str
) -> None:
    rows = [_row(1, "fine", label=[]), _row(2, S4, label=[[26, 30, "INVOICE_ID"], span])]
    (tmp_path / "ben.jsonl").write_text(_lines(*rows), encoding="utf-8")
    first, second = read(tmp_path / "ben.jsonl")
    assert first.problems == []
    assert len(second.problems) == 1
    assert second.problems[0].startswith(f"{tmp_path / 'ben.jsonl'}:2: ")
    assert re.search(message, second.problems[0])


def test_a_relation_to_a_missing_entity_is_a_problem(tmp_path: Path) -> None:
    row = _row(
        1,
        "INV-1 costs 5 EUR",
        entities=[{"id": 10, "label": "ID", "start_offset": 0, "end_offset": 5}],
        relations=[{"id": 2, "from_id": 10, "to_id": 11, "type": "HAS"}],
    )
    (tmp_path / "anna.jsonl").write_text(_lines(row), encoding="utf-8")
    (record,) = read(tmp_path / "anna.jsonl")
    assert record.problems == [
        f"{tmp_path / 'anna.jsonl'}:1: relations (id 2): no entity with id 11 in this row"
    ]


# --- project types the fixtures do not have ---------------------------------------------------


def test_segmentation_polygons_are_flat_point_lists(tmp_path: Path) -> None:
    good = {"uuid": "u1", "points": [10, 10, 50, 12, 50, 16, 10, 14], "label": "SCRATCH"}
    odd = {"uuid": "u2", "points": [1, 2, 3, 4, 5], "label": "DENT"}
    row = {"id": 49, "filename": "surface_01.png", "segmentation": [good, odd], "Comments": []}
    (tmp_path / "anna.jsonl").write_text(_lines(row), encoding="utf-8")
    (record,) = read(tmp_path / "anna.jsonl")
    assert record.media == [MediaRef(key="filename", uri="surface_01.png")]
    assert record.annotations[0].regions == [
        Polygon(
            field="segmentation",
            id="u1",
            target="filename",
            label="SCRATCH",
            points=[(10, 10), (50, 12), (50, 16), (10, 14)],
        )
    ]
    assert record.problems == [
        f"{tmp_path / 'anna.jsonl'}:1: segmentation[1]: points must be a flat list of at least "
        "3 x, y number pairs"
    ]


def test_captions_are_texts_on_an_image_and_transcripts_have_no_image(tmp_path: Path) -> None:
    caption = "A scratched steel panel on a workbench."
    rows = [
        {"id": 1, "filename": "panel.png", "label": [caption], "Comments": []},
        {"id": 2, "filename": "call_01.wav", "label": ["Hello, I need help."], "Comments": []},
    ]
    (tmp_path / "anna.jsonl").write_text(_lines(*rows), encoding="utf-8")
    image, audio = read(tmp_path / "anna.jsonl")
    assert image.annotations[0].regions == [Text(field="label", value=caption, target="filename")]
    assert [m.uri for m in image.media] == ["panel.png"]
    assert audio.media == [] and audio.data == {"filename": "call_01.wav"}


def test_label_kind_auto_tells_categories_from_texts_and_can_be_overridden(
    tmp_path: Path,
) -> None:
    (tmp_path / "anna.jsonl").write_text(
        _lines(_row(1, "x", label=["Not spam"]), _row(2, "y", label=["SPAM"])), encoding="utf-8"
    )
    kinds = {type(r.annotations[0].regions[0]) for r in read(tmp_path / "anna.jsonl")}
    assert kinds == {Choice}
    texts = read(tmp_path / "anna.jsonl", {"label_kind": "text"})
    assert {type(r.annotations[0].regions[0]) for r in texts} == {Text}
    seq2seq = FIXTURES / "seq2seq" / "exports" / "JSONL__collaborative__all.zip"
    assert {type(g) for r in read(seq2seq) for a in r.annotations for g in a.regions} == {Text}
    forced = read(seq2seq, {"label_kind": "choice"})
    assert {type(g) for r in forced for a in r.annotations for g in a.regions} == {Choice}


def test_label_kind_auto_is_not_misled_by_a_user_who_labeled_nothing(tmp_path: Path) -> None:
    # the reviewer's repro: admin sorts first and labeled none of 5001 examples
    summaries = ["Checkout froze; support slow.", "Refund approved after two weeks."]
    admin = [_row(i, f"text {i}", label=[]) for i in range(1, 5002)]
    anna = [
        _row(i, f"text {i}", label=[summaries[i % 2]] if i > 4990 else []) for i in range(1, 5002)
    ]
    export = _zip(
        tmp_path / "s2s.zip", {"admin.jsonl": _lines(*admin), "anna.jsonl": _lines(*anna)}
    )
    labeled = [r for r in read(export) if r.annotations]
    assert len(labeled) == 11  # ids 4991..5001
    assert {type(g) for r in labeled for g in r.annotations[0].regions} == {Text}


@pytest.mark.parametrize(
    ("caption", "kind"),
    [("A scratched panel.", Text), ("Rust spots!", Text), ("Not spam", Choice), ("DENT", Choice)],
)
def test_a_short_sentence_reads_as_a_text_and_a_short_name_as_a_category(
    tmp_path: Path, caption: str, kind: type
) -> None:
    row = {"id": 1, "filename": "panel.png", "label": [caption], "Comments": []}
    (tmp_path / "anna.jsonl").write_text(_lines(row), encoding="utf-8")
    (record,) = read(tmp_path / "anna.jsonl")
    assert [type(g) for g in record.annotations[0].regions] == [kind]


def test_the_label_kind_look_ahead_closes_what_it_opens(tmp_path: Path) -> None:
    (tmp_path / "anna.jsonl").write_text(
        _lines(*(_row(i, "x", label=["SPAM"]) for i in range(1, 300))), encoding="utf-8"
    )
    (file,) = export_files(tmp_path / "anna.jsonl")
    opened: list[Any] = []

    def tracked() -> Any:
        stream = (tmp_path / "anna.jsonl").open("rb")
        opened.append(stream)  # kept alive here: only an explicit close closes it
        return stream

    assert _label_kind([replace(file, open=tracked)], "auto") == "choice"
    assert len(opened) == 1 and opened[0].closed


def test_unknown_or_invalid_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="options it takes: offsets, label_kind"):
        ADAPTER.parse_options({"offset": "utf16"})
    with pytest.raises(UsageError, match="offsets"):
        ADAPTER.parse_options({"offsets": "utf8"})


# --- comments and the CSV '#' -------------------------------------------------------------


def test_comment_objects_keep_their_id_and_author() -> None:
    export = LABELING / "JSONL__individual__relations__all.zip"
    s4 = {r.id: r for r in read(export, {"offsets": "codepoints"})}["28"]
    assert s4.meta["comments"] == [
        {
            "text": "Offsets here are Python code points; the two emoji are 1 code point each.",
            "id": "3",
            "annotator": "anna",
        }
    ]


def _hash_warnings(source: Path) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(read(source))
    return [str(w.message) for w in caught if "joins several labels" in str(w.message)]


def test_csv_warns_that_hash_joined_texts_are_ambiguous() -> None:
    export = FIXTURES / "seq2seq" / "exports" / "CSV__collaborative__all.zip"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = list(read(export))
    messages = [str(w.message) for w in caught if "joins several labels" in str(w.message)]
    # q1 (id 31, the first row) holds anna's and ben's summaries joined with '#'
    assert len(messages) == 1 and "all.csv:2: " in messages[0] and "export JSONL" in messages[0]
    q3 = next(r for r in records if r.id == "33")
    # "Order #5521 arrived damaged; ..." cannot survive the CSV (fixture README fact 9)
    assert "Order " in [t.value for t in q3.annotations[0].regions if isinstance(t, Text)]


# --- whole inputs that are refused --------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../evil.jsonl": "{}\n"}, "would escape the archive"),
        ({"anna.jsonl": "\n", "ben.jsonl": "\n"}, "holds no examples"),
        ({"anna.jsonl": "\n", "ben.csv": "id,text\n"}, "mixed export formats"),
        ({"README.md": "hi"}, "no doccano export file"),
        ({"anna.jsonl": '{"id": 1, "text": "cut'}, r"anna\.jsonl:1: invalid JSON \(truncated\?"),
        ({"anna.json": '[{"id": 1, "text": "a"}, {"id": 2'}, r"truncated JSON after item \[0\]"),
        ({"anna.json": '{"id": 1}'}, "not a doccano JSON export"),
        ({"anna.jsonl": "[1, 2]\n"}, r"anna\.jsonl:1: a JSONL line must be an object"),
        ({"anna.csv": 'id,text,label\n1,"open'}, r"anna\.csv:\d+: malformed CSV"),
        ({"anna.jsonl": b'{"id": 1, "text": "caf\xe9"}\n'}, r"anna\.jsonl:1: not UTF-8 text"),
        ({"anna.csv": b"id,text,label\n1,ok,X\n2,caf\xe9,X\n"}, r"anna\.csv:3: not UTF-8 text"),
    ],
)
def test_a_broken_export_is_refused_as_a_whole(
    tmp_path: Path, members: dict[str, str | bytes], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        list(read(_zip(tmp_path / "export.zip", members)))


def test_a_damaged_zip_member_is_an_input_error(tmp_path: Path) -> None:
    row = _lines(_row(1, "a text long enough to find in the archive", label=["X"]))
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("anna.jsonl", row)
    data = export.read_bytes()
    export.write_bytes(data.replace(b"long enough", b"LONG ENOUGH"))  # the CRC no longer fits
    with pytest.raises(InputError, match=r"anna\.jsonl: cannot read \(a damaged file or zip"):
        list(read(export))


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read(tmp_path / "nothing.zip"))


# --- sniffing ----------------------------------------------------------------------------------


def test_sniff_accepts_each_bare_format_and_refuses_other_tools(tmp_path: Path) -> None:
    with zipfile.ZipFile(CLASSIFICATION / "CSV__individual__all.zip") as archive:
        archive.extract("anna.csv", tmp_path)
    with zipfile.ZipFile(CLASSIFICATION / "fastText__individual__all.zip") as archive:
        archive.extract("anna.txt", tmp_path)
    (tmp_path / "anna.jsonl").write_text(_lines(_row(1, "a", label=["X"])), encoding="utf-8")
    (tmp_path / "anna.json").write_text(json.dumps([_row(1, "a", label=["X"])]), "utf-8")
    for name in ("anna.csv", "anna.txt", "anna.jsonl", "anna.json"):
        assert sniff(tmp_path / name), name
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("just some notes\n", encoding="utf-8")
    (tmp_path / "ls.json").write_text(
        json.dumps([{"id": 1, "data": {"text": "a"}, "annotations": []}]), encoding="utf-8"
    )
    (tmp_path / "ls_min.json").write_text(
        json.dumps([{"id": 1, "text": "a", "label": "X", "annotator": 1, "annotation_id": 2}]),
        encoding="utf-8",
    )
    for name in ("empty.jsonl", "notes.txt", "ls.json", "ls_min.json"):
        assert not sniff(tmp_path / name), name


def test_sniff_refuses_the_other_tools_fixtures() -> None:
    others = [
        p
        for tool in ("label-studio", "cvat")
        for p in (FIXTURES.parent / tool).rglob("*")
        if p.suffix in (".json", ".csv", ".tsv", ".xml", ".zip", ".jsonl", ".txt")
    ]
    assert others
    assert [p for p in others if sniff(p)] == []
