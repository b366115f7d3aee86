"""Label Studio adapter against real Label Studio 1.23 exports (tests/fixtures/label-studio).

Expectations come from each project's manifest.json (the answer key written when the fixtures
were made: users, annotation ids, ground truth, cancellations, raw results and the pixel
geometry the fixture author chose), never from this adapter's own output.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from jsonl_bridge.adapters import label_studio
from jsonl_bridge.adapters.label_studio import ADAPTER, LabelStudioOptions, read, schema, sniff
from jsonl_bridge.errors import InputError, UsageError
from jsonl_bridge.records import Box, Polygon, Record, Relation, Span, Text
from jsonl_bridge.registry import get_adapter

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
TEXT_PROJECTS = ["email-classification", "summarization", "dialogue", "ner-spans"]
IMAGE_PROJECTS = ["qc-defects", "cad-code"]
PROJECTS = TEXT_PROJECTS + IMAGE_PROJECTS
FILES = {
    "json": "export.json",
    "json_min": "export_min.json",
    "csv": "export.csv",
    "tsv": "export.tsv",
}
FLAT = ["json_min", "csv", "tsv"]


def manifest(project: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / project / "manifest.json").read_text("utf-8"))
    return loaded


def records(project: str, fmt: str, *, config: bool = True, **options: Any) -> list[Record]:
    if config:
        options["label_config"] = FIXTURES / project / "config.xml"
    return list(read(FIXTURES / project / FILES[fmt], options))


def expected_regions(
    raw_results: list[dict[str, Any]], *, relations: bool
) -> list[tuple[Any, ...]]:
    """The manifest's raw results in the canonical form `canon` gives our regions."""
    found: list[tuple[Any, ...]] = []
    for result in raw_results:
        value, field, kind = result.get("value", {}), result.get("from_name"), result["type"]
        if kind == "choices":
            found.append(("choice", field, tuple(value["choices"])))
        elif kind == "labels":
            found += [
                ("span", field, value["start"], value["end"], value["text"], label)
                for label in value["labels"]
            ]
        elif kind == "textarea":
            found += [("text", field, text) for text in value["text"]]
        elif kind == "rectanglelabels":
            px = result["_px"]
            geometry = (px["x"], px["y"], px["w"], px["h"], px["rotation_deg"])
            found.append(("box", field, px["label"], *map(float, geometry)))
        elif kind == "polygonlabels":
            px = result["_px"]
            points = tuple((float(x), float(y)) for x, y in px["points"])
            found.append(("polygon", field, px["label"], points))
        elif kind == "relation" and relations:
            found.append(("relation", result["from_id"], result["to_id"], tuple(result["labels"])))
    return sorted(found, key=repr)


def canon(record_regions: list[Any]) -> list[tuple[Any, ...]]:
    """Our regions, comparable to `expected_regions` (pixels rounded to 1e-6)."""
    found: list[tuple[Any, ...]] = []
    for region in record_regions:
        if region.type == "choice":
            found.append(("choice", region.field, tuple(region.labels)))
        elif region.type == "span":
            found.append(
                ("span", region.field, region.start, region.end, region.text, region.label)
            )
        elif region.type == "text":
            found.append(("text", region.field, region.value))
        elif region.type == "box":
            geometry = (region.x, region.y, region.w, region.h, region.rotation)
            found.append(("box", region.field, region.label, *(round(v, 6) for v in geometry)))
        elif region.type == "polygon":
            points = tuple((round(x, 6), round(y, 6)) for x, y in region.points)
            found.append(("polygon", region.field, region.label, points))
        elif region.type == "relation":
            found.append(("relation", region.from_id, region.to_id, tuple(region.labels)))
        else:
            raise AssertionError(f"unexpected region {region!r}")
    return sorted(found, key=repr)


# --- registration ------------------------------------------------------------------------------


def test_module_lives_in_the_package_namespace() -> None:
    assert label_studio.__name__.startswith("jsonl_bridge.")
    assert get_adapter("label-studio") is ADAPTER
    assert ADAPTER.name == "label-studio"
    assert ADAPTER.options_model is LabelStudioOptions


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="label_config"):
        ADAPTER.parse_options({"label_cfg": "x.xml"})


def test_fields_option_accepts_a_comma_separated_string() -> None:
    assert LabelStudioOptions.model_validate({"fields": "summary, reply"}).fields == [
        "summary",
        "reply",
    ]


# --- every project in every format -------------------------------------------------------------


@pytest.mark.parametrize("fmt", FILES)
@pytest.mark.parametrize("project", PROJECTS)
def test_every_task_is_read_in_file_order(project: str, fmt: str) -> None:
    tasks = manifest(project)["tasks"].values()
    got = records(project, fmt)
    assert [r.id for r in got] == [str(task["task_id"]) for task in tasks]
    assert all(r.problems == [] for r in got)
    assert {r.source.format for r in got} == {fmt}
    assert {r.source.tool for r in got} == {"label-studio"}


@pytest.mark.parametrize("project", PROJECTS)
def test_json_annotations_match_the_answer_key(project: str) -> None:
    for task, record in zip(
        manifest(project)["tasks"].values(), records(project, "json"), strict=True
    ):
        assert record.data == {k: v for k, v in task["data"].items() if k != "source_file"}
        humans = [a for a in record.annotations if a.kind == "annotation"]
        assert [a.id for a in humans] == [str(a["annotation_id"]) for a in task["annotations"]]
        for got, want in zip(humans, task["annotations"], strict=True):
            assert got.annotator == str(want["user_id"])
            assert got.ground_truth is want["ground_truth"]
            assert got.cancelled is want["was_cancelled"]
            assert got.lead_time == pytest.approx(want["lead_time"])
            assert canon(got.regions) == expected_regions(want["raw"], relations=True)


@pytest.mark.parametrize("fmt", FLAT)
@pytest.mark.parametrize("project", PROJECTS)
def test_flat_annotations_match_the_answer_key(project: str, fmt: str) -> None:
    """JSON_MIN/CSV/TSV: one row per non-cancelled annotation, no ground truth, no relations."""
    for task, record in zip(
        manifest(project)["tasks"].values(), records(project, fmt), strict=True
    ):
        want = {str(a["annotation_id"]): a for a in task["annotations"] if not a["was_cancelled"]}
        got = {a.id: a for a in record.annotations}
        assert set(got) == set(want)
        for annotation_id, annotation in got.items():
            assert annotation.annotator == str(want[annotation_id]["user_id"])
            assert annotation.ground_truth is False and annotation.cancelled is False
            assert annotation.lead_time == pytest.approx(want[annotation_id]["lead_time"])
            expected = expected_regions(want[annotation_id]["raw"], relations=False)
            assert canon(annotation.regions) == expected
            assert all(region.id is None for region in annotation.regions)


@pytest.mark.parametrize("fmt", FILES)
@pytest.mark.parametrize("project", PROJECTS)
def test_records_round_trip_through_json(project: str, fmt: str) -> None:
    for record in records(project, fmt):
        assert msgspec.json.decode(msgspec.json.encode(record), type=Record) == record


@pytest.mark.parametrize("fmt", FILES)
@pytest.mark.parametrize("project", PROJECTS)
def test_unannotated_task_is_a_record_without_annotations(project: str, fmt: str) -> None:
    tasks = manifest(project)["tasks"].values()
    unannotated = {str(t["task_id"]) for t in tasks if not t["annotations"]}
    assert len(unannotated) == 1  # README: every project has exactly one
    got = {r.id: r for r in records(project, fmt)}
    for task_id in unannotated:
        assert got[task_id].annotations == []


@pytest.mark.parametrize("fmt", FILES)
def test_flat_data_matches_json_data(fmt: str) -> None:
    """Task data survives flattening, including the Paragraphs list inside a CSV cell."""
    for task, record in zip(
        manifest("dialogue")["tasks"].values(), records("dialogue", fmt), strict=True
    ):
        assert record.data == task["data"]
        assert isinstance(record.data["dialogue"], list)


# --- traps the README lists --------------------------------------------------------------------


def test_cancelled_annotation_is_kept_in_json_and_absent_from_flat_exports() -> None:
    e4 = manifest("email-classification")["tasks"]["e4"]
    cancelled = next(a for a in e4["annotations"] if a["was_cancelled"])
    json_e4 = next(r for r in records("email-classification", "json") if r.id == "4")
    skipped = next(a for a in json_e4.annotations if a.id == str(cancelled["annotation_id"]))
    assert skipped.cancelled and skipped.regions == []
    assert skipped.annotator == str(cancelled["user_id"])
    for fmt in FLAT:
        flat_e4 = next(r for r in records("email-classification", fmt) if r.id == "4")
        assert str(cancelled["annotation_id"]) not in {a.id for a in flat_e4.annotations}


def test_ner_relations_only_in_json() -> None:
    tasks = manifest("ner-spans")["tasks"]
    n2_admin = tasks["n2"]["annotations"][0]
    want = [r for r in n2_admin["raw"] if r["type"] == "relation"]
    n2 = next(r for r in records("ner-spans", "json") if r.id == str(tasks["n2"]["task_id"]))
    admin = next(a for a in n2.annotations if a.id == str(n2_admin["annotation_id"]))
    relations = [r for r in admin.regions if isinstance(r, Relation)]
    assert [(r.from_id, r.to_id, r.labels) for r in relations] == [
        (w["from_id"], w["to_id"], w["labels"]) for w in want
    ]
    assert all(r.direction == "right" and r.field == "relations" for r in relations)
    span_ids = {r.id for r in admin.regions if isinstance(r, Span)}
    assert {r.from_id for r in relations} | {r.to_id for r in relations} <= span_ids
    for fmt in FLAT:
        flat = [
            reg for rec in records("ner-spans", fmt) for a in rec.annotations for reg in a.regions
        ]
        assert not any(isinstance(reg, Relation) for reg in flat)


def test_prediction_ids_are_listed_for_convert_to_warn() -> None:
    for project in ("email-classification", "ner-spans", "qc-defects"):
        for task, record in zip(
            manifest(project)["tasks"].values(), records(project, "json"), strict=True
        ):
            want = [p["prediction_id"] for p in task["predictions"]]
            assert record.meta.get("prediction_ids", []) == want
            assert not [a for a in record.annotations if a.kind == "prediction"]
        assert all("prediction_ids" not in r.meta for r in records(project, "json_min"))


def test_json_task_meta_is_compact() -> None:
    q1 = records("qc-defects", "json")[0]
    assert q1.meta == {"inner_id": 1, "file_upload": "6bc7734c-qc_part_01.png"}


@pytest.mark.parametrize("fmt", FILES)
def test_qc_boxes_are_pixels_of_the_displayed_image(fmt: str) -> None:
    tasks = manifest("qc-defects")["tasks"]
    got = {r.id: r for r in records("qc-defects", fmt)}
    checked = 0
    for task in tasks.values():
        record = got[str(task["task_id"])]
        for want in task["annotations"]:
            annotation = next(
                (a for a in record.annotations if a.id == str(want["annotation_id"])), None
            )
            if annotation is None:
                assert fmt != "json" and want["was_cancelled"]
                continue
            boxes = [r for r in annotation.regions if isinstance(r, Box)]
            raw_boxes = [r["_px"] for r in want["raw"] if r["type"] == "rectanglelabels"]
            assert len(boxes) == len(raw_boxes)
            for box, px in zip(boxes, raw_boxes, strict=True):
                assert (box.label, box.pivot, box.target) == (px["label"], "top_left", "image")
                got_geometry = [box.x, box.y, box.w, box.h, box.rotation]
                want_geometry = [px["x"], px["y"], px["w"], px["h"], px["rotation_deg"]]
                assert got_geometry == pytest.approx(want_geometry, abs=1e-6)
                checked += 1
    assert checked == 14


@pytest.mark.parametrize("fmt", FILES)
def test_rotated_dent_keeps_its_rotation(fmt: str) -> None:
    q2 = manifest("qc-defects")["tasks"]["q2"]
    want = next(r["_px"] for r in q2["annotations"][0]["raw"] if r["_px"]["rotation_deg"])
    record = next(r for r in records("qc-defects", fmt) if r.id == str(q2["task_id"]))
    admin = next(
        a for a in record.annotations if a.id == str(q2["annotations"][0]["annotation_id"])
    )
    dent = next(r for r in admin.regions if isinstance(r, Box) and r.rotation)
    assert dent.rotation == 45 == want["rotation_deg"]
    assert (dent.x, dent.y, dent.w, dent.h) == pytest.approx((310, 95, 70, 70), abs=1e-6)


@pytest.mark.parametrize("fmt", FILES)
def test_qc_media_carries_the_displayed_size(fmt: str) -> None:
    tasks = manifest("qc-defects")["tasks"]
    got = {r.id: r for r in records("qc-defects", fmt)}
    for task in tasks.values():
        record = got[str(task["task_id"])]
        assert [(m.key, m.uri) for m in record.media] == [("image", task["data"]["image"])]
        drawn = [r["_px"]["image_wh"] for a in task["annotations"] for r in a["raw"]]
        if drawn:
            assert (record.media[0].width, record.media[0].height) == tuple(drawn[0])
    # q3: the JPEG is stored 640x480 with EXIF orientation 6, annotated as displayed 480x640
    q3 = got[str(tasks["q3"]["task_id"])]
    assert (q3.media[0].width, q3.media[0].height) == (480, 640)


@pytest.mark.parametrize("fmt", FILES)
def test_image_projects_read_without_a_config(fmt: str) -> None:
    for project in IMAGE_PROJECTS:
        got = records(project, fmt, config=False)
        assert got and all(r.problems == [] for r in got)
        assert all([m.key for m in r.media] == ["image"] for r in got)


@pytest.mark.parametrize("fmt", FILES)
def test_cad_code_keeps_tabs_backslashes_and_quotes(fmt: str) -> None:
    cad_05 = manifest("cad-code")["tasks"]["cad_05"]
    want = cad_05["annotations"][0]["raw"][0]["value"]["text"]
    record = next(r for r in records("cad-code", fmt) if r.id == str(cad_05["task_id"]))
    assert [r.value for r in record.annotations[0].regions if isinstance(r, Text)] == want
    assert "\t" in want[0] and "\\" in want[0]


@pytest.mark.parametrize("fmt", FILES)
def test_textarea_entries_are_one_text_each(fmt: str) -> None:
    s2 = manifest("summarization")["tasks"]["s2"]
    want = s2["annotations"][0]["raw"][0]["value"]["text"]
    record = next(r for r in records("summarization", fmt) if r.id == str(s2["task_id"]))
    assert [r.value for r in record.annotations[0].regions] == want
    assert len(want) == 2


@pytest.mark.parametrize("fmt", FLAT)
def test_dialogue_flat_exports_lose_the_ground_truth(fmt: str) -> None:
    """d1 has two different replies; only JSON says which one is the ground truth."""
    d1 = manifest("dialogue")["tasks"]["d1"]
    assert [a["ground_truth"] for a in d1["annotations"]] == [True, False]
    json_d1 = next(r for r in records("dialogue", "json") if r.id == str(d1["task_id"]))
    assert [a.ground_truth for a in json_d1.annotations] == [True, False]
    flat_d1 = next(r for r in records("dialogue", fmt) if r.id == str(d1["task_id"]))
    assert len(flat_d1.annotations) == 2
    assert not any(a.ground_truth for a in flat_d1.annotations)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_line_is_the_physical_line_a_task_starts_on(fmt: str) -> None:
    """s3's summary spans two physical lines, so s4 starts one line later than its row number."""
    path = FIXTURES / "summarization" / FILES[fmt]
    separator = "\t" if fmt == "tsv" else ","
    lines = path.read_bytes().decode("utf-8").split("\n")  # s3's cell holds a bare LF
    starts: dict[str, int] = {}
    for task in manifest("summarization")["tasks"].values():
        ids = [str(a["annotation_id"]) for a in task["annotations"]] or ['""']
        prefix = f"{ids[0]}{separator}"
        line = next(i for i, text in enumerate(lines, start=1) if text.startswith(prefix))
        starts[str(task["task_id"])] = line
    got = {r.id: r.source.line for r in records("summarization", fmt)}
    assert got == starts
    assert got["15"] == 6  # header, s1, s2, s3 (two lines), then s4


def test_json_and_json_min_pointers() -> None:
    assert [r.source.pointer for r in records("email-classification", "json")] == [
        f"/[{i}]" for i in range(6)
    ]
    # JSON_MIN rows: e1 x3, e2 x3, e3 x3, e4 x2 (one cancelled), e5 x2, e6 x1
    assert [r.source.pointer for r in records("email-classification", "json_min")] == [
        "/[0]",
        "/[3]",
        "/[6]",
        "/[9]",
        "/[11]",
        "/[13]",
    ]
    assert all(r.source.line is None for r in records("email-classification", "json_min"))


# --- reading flat exports without a label config -----------------------------------------------


@pytest.mark.parametrize("fmt", FLAT)
def test_without_config_result_shapes_are_answers_and_strings_are_data(fmt: str) -> None:
    ner = records("ner-spans", fmt, config=False)
    assert sum(len(a.regions) for r in ner for a in r.annotations) > 0
    assert all("label" not in r.data for r in ner)
    email = records("email-classification", fmt, config=False)
    assert all(a.regions == [] for r in email for a in r.annotations)
    assert email[0].data["category"] in {"billing"}  # a plain string stays task data


@pytest.mark.parametrize("fmt", FLAT)
def test_fields_option_reads_plain_string_columns_as_text(fmt: str) -> None:
    got = records("summarization", fmt, config=False, fields=["summary"])
    for task, record in zip(manifest("summarization")["tasks"].values(), got, strict=True):
        want = [t for a in task["annotations"] for r in a["raw"] for t in r["value"]["text"]]
        assert [r.value for a in record.annotations for r in a.regions] == want
        assert "summary" not in record.data


# --- schema ------------------------------------------------------------------------------------


def test_schema_follows_the_label_config() -> None:
    def fields(project: str) -> dict[str, tuple[Any, ...]]:
        options = {"label_config": FIXTURES / project / "config.xml"}
        found = schema(FIXTURES / project / "export.json", options)
        assert found is not None
        return {name: (f.kind, f.labels, f.target, f.multiple) for name, f in found.fields.items()}

    labels = ["billing", "technical_support", "sales", "spam", "other"]
    assert fields("email-classification") == {"category": ("choice", labels, "text", False)}
    defects = ["scratch", "dent", "paint_chip"]
    assert fields("qc-defects") == {
        "defect": ("box", defects, "image", False),
        "defect_poly": ("polygon", defects, "image", False),
    }
    assert fields("ner-spans") == {
        "label": ("span", ["PERSON", "ORG", "LOC", "DATE"], "text", False),
        "relations": ("relation", ["works_for", "located_in"], None, True),
    }
    assert fields("dialogue") == {"reply": ("text", [], "dialogue", False)}
    assert fields("cad-code") == {"code": ("text", [], "image", False)}
    assert schema(FIXTURES / "qc-defects" / "export.json", {}) is None


def test_region_target_is_the_data_key_the_config_points_at(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    config.write_text(
        '<View><Text name="doc" value="$body"/>'
        '<Choices name="category" toName="doc"><Choice value="a"/></Choices></View>'
    )
    export = _write_json(tmp_path, [_task(1, {"body": "x"}, [_choice("category", "doc", "a")])])
    (region,) = next(read(export, {"label_config": config})).annotations[0].regions
    assert region.target == "body"
    (region,) = next(read(export, {})).annotations[0].regions
    assert region.target == "doc"  # no config: to_name as given


# --- sniffing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FILES)
@pytest.mark.parametrize("project", PROJECTS)
def test_sniff_recognises_every_export(project: str, fmt: str) -> None:
    assert sniff(FIXTURES / project / FILES[fmt])


def test_sniff_rejects_other_tools_and_junk(tmp_path: Path) -> None:
    doccano_jsonl = tmp_path / "all.jsonl"
    doccano_jsonl.write_text('{"id": 1, "text": "hi", "label": ["A"], "Comments": []}\n')
    doccano_json = tmp_path / "all.json"
    doccano_json.write_text('[{"id": 1, "text": "hi", "label": ["A"], "Comments": []}]')
    doccano_csv = tmp_path / "admin.csv"
    doccano_csv.write_text("id,text,label,Comments\n1,hi,A,\n")
    cvat = tmp_path / "annotations.xml"
    cvat.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
        '<image id="0" name="a.png" width="4" height="4"/></annotations>\n'
    )
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    binary = tmp_path / "x.zip"
    binary.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    for path in (doccano_jsonl, doccano_json, doccano_csv, cvat, empty, binary, tmp_path):
        assert not sniff(path), path


def test_sniff_reads_only_the_head(tmp_path: Path) -> None:
    """A first task longer than the sniffed head is still recognised from its annotations."""
    long_task = _task(1, {"text": "x" * 50_000}, [_choice("c", "text", "a")])
    long_task = {"id": 1, "annotations": long_task["annotations"], "data": long_task["data"]}
    assert sniff(_write_json(tmp_path, [long_task]))
    # JSON_MIN rows start with the task data: a long text hides `id`/`annotator` from 8 KB
    row = {"text": "y" * 20_000, "id": 1, "label": "a", "annotator": 1, "annotation_id": 2}
    assert sniff(_write_json(tmp_path, [row]))
    assert not sniff(_write_json(tmp_path, [{"text": "y" * 20_000, "id": 1, "label": "a"}]))
    # a real summarization document can be megabytes long: still JSON_MIN, still read
    huge = {"text": "z" * 3_000_000, "id": 7, "summary": "s", "annotator": 1, "annotation_id": 2}
    path = _write_json(tmp_path, [huge])
    assert sniff(path)
    assert get_adapter("label-studio") is ADAPTER
    assert [r.id for r in read(path)] == ["7"]


# --- streaming and errors ----------------------------------------------------------------------


def test_json_is_streamed_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = [_task(i, {"text": "t" * 500}, [_choice("c", "text", "a")]) for i in range(10_000)]
    path = _write_json(tmp_path, tasks)
    size = path.stat().st_size
    opened: list[Any] = []
    real_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        stream = real_open(self, *args, **kwargs)
        opened.append(stream)
        return stream

    monkeypatch.setattr(Path, "open", spy)
    stream = read(path, {})
    first = next(stream)
    assert first.id == "0"
    assert opened[-1].tell() < size / 10  # yielded long before the end of the file
    stream.close()


def test_truncated_json_yields_what_it_can_then_fails_naming_the_file(tmp_path: Path) -> None:
    tasks = [_task(i, {"text": "t" * 200}, [_choice("c", "text", "a")]) for i in range(2_000)]
    path = _write_json(tmp_path, tasks)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    stream = read(path, {})
    assert next(stream).id == "0"  # lazy: the tail has not been read yet
    with pytest.raises(InputError) as caught:
        list(stream)
    assert str(path) in str(caught.value)
    assert "truncated" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"   \r\n", "empty file"),
        (b"[]", "no tasks"),
        (b'{"id": 1}', "JSON object"),
        (b'[{"id": 1, "data": {}, "annotations": []}', "truncated"),
        (b'[{"id": 1, "data": {}, "annotations": []}] trailing', "invalid JSON"),
        (b'[{"id": 1, "text": "doccano"}]', "not a Label Studio export"),
        (b"[1, 2]", "not a Label Studio export"),
        (b"id,text,label\r\n1,a,b\r\n", "not a Label Studio CSV export"),
        (b"PK\x03\x04\xff\xfe\x00junk", "not UTF-8"),
    ],
)
def test_unreadable_exports_raise_input_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        list(read(path, {}))
    assert str(path) in str(caught.value)
    assert caught.value.exit_code == 3


def test_missing_file_and_directory_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read(tmp_path / "missing.json", {}))
    with pytest.raises(InputError, match="directory"):
        list(read(tmp_path, {}))


def test_truncated_csv_inside_a_quoted_cell_is_refused(tmp_path: Path) -> None:
    raw = (FIXTURES / "cad-code" / "export.csv").read_bytes()
    cut = raw.index(b"union() {")  # inside cad_05's multi-line code cell
    path = tmp_path / "export.csv"
    path.write_bytes(raw[:cut])
    with pytest.raises(InputError, match="truncated") as caught:
        list(read(path, {}))
    assert str(path) in str(caught.value)


def test_csv_with_a_header_only_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes((FIXTURES / "ner-spans" / "export.csv").read_bytes().split(b"\r\n")[0])
    with pytest.raises(InputError, match="no rows"):
        list(read(path, {}))


def test_bad_tasks_become_problems_and_streaming_goes_on(tmp_path: Path) -> None:
    good = _task(1, {"text": "a"}, [_choice("c", "text", "x")])
    no_id = {"data": {"text": "b"}, "annotations": []}
    bad_list = {"id": 3, "data": {"text": "c"}, "annotations": {"not": "a list"}}
    unknown = _task(4, {"text": "d"}, [_choice("c", "text", "x"), {"type": "foo", "value": {}}])
    unknown["annotations"][0]["result"][1].update(from_name="c", to_name="text")
    path = _write_json(tmp_path, [good, no_id, bad_list, unknown, "junk", good])
    with pytest.warns(UserWarning, match="'foo'"):  # a newer version's type: warned, skipped
        got = list(read(path, {}))
    assert [r.problems for r in got] == [
        [],
        ["/[1]: task has no 'id'"],
        ["/[2]/annotations: expected a list, got dict"],
        [],
        ["/[4]: a task must be an object"],
        [],
    ]
    assert got[3].annotations[0].regions[0].type == "choice"  # the readable result is kept


def test_a_result_whose_type_is_not_text_is_a_problem(tmp_path: Path) -> None:
    """`"type": [...]` is unhashable: it must become a problem, not a TypeError."""
    odd = _task(1, {"text": "a"}, [{"type": ["rectangle"], "value": {}, "from_name": "c"}])
    path = _write_json(tmp_path, [odd])
    (record,) = read(path, {})
    assert record.problems == ["/[0]/annotations/0/result/0: result has no 'type'"]


def test_json_min_row_without_id_is_a_problem(tmp_path: Path) -> None:
    rows = [
        {"text": "a", "id": 1, "annotator": 1, "annotation_id": 1, "c": "x"},
        {"text": "b", "annotator": 2, "annotation_id": 2, "c": "y"},
    ]
    path = _write_json(tmp_path, rows)
    got = list(read(path, {"fields": ["c"]}))
    assert [r.problems for r in got] == [[], ["/[1]: row has no 'id'"]]


def test_malformed_or_unsafe_label_config_is_a_usage_error(tmp_path: Path) -> None:
    export = FIXTURES / "email-classification" / "export_min.json"
    broken = tmp_path / "broken.xml"
    broken.write_text("<View><Choices name='c' toName='t'></View>")
    entity = tmp_path / "entity.xml"
    entity.write_text('<!DOCTYPE v [<!ENTITY e "x">]><View><Text name="t" value="$t"/></View>')
    not_view = tmp_path / "other.xml"
    not_view.write_text("<annotations/>")
    for config in (broken, entity, not_view, tmp_path / "missing.xml"):
        with pytest.raises(UsageError) as caught:
            list(read(export, {"label_config": config}))
        assert str(config) in str(caught.value)
        with pytest.raises(UsageError):
            schema(export, {"label_config": config})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (":choices", "a column name is missing"),
        ("annotator", "'annotator' is not an answer column"),
        ("id:choices", "'id' is not an answer column"),
        ("category:choice", "unknown result type 'choice'"),
    ],
)
def test_fields_option_refuses_what_cannot_be_an_answer_column(spec: str, message: str) -> None:
    export = FIXTURES / "email-classification" / "export.csv"
    with pytest.raises(UsageError, match=message):
        list(read(export, {"fields": spec}))


# --- result types beyond the fixtures ----------------------------------------------------------


def test_completed_by_object_and_full_predictions(tmp_path: Path) -> None:
    task = _task(7, {"text": "a"}, [_choice("c", "text", "x")])
    task["annotations"][0]["completed_by"] = {"id": 5, "email": "eve@example.com"}
    task["predictions"] = [
        {"id": 9, "model_version": "m1", "score": 0.5, "result": [_choice("c", "text", "y")]}
    ]
    record = next(read(_write_json(tmp_path, [task]), {}))
    human, model = record.annotations
    assert (human.annotator, human.meta) == ("5", {"email": "eve@example.com"})
    assert (model.kind, model.id, model.annotator) == ("prediction", "9", "m1")
    assert model.meta == {"model_version": "m1", "score": 0.5}
    assert model.regions[0].labels == ["y"]
    assert "prediction_ids" not in record.meta


def test_other_result_types(tmp_path: Path) -> None:
    size = {"original_width": 200, "original_height": 100}
    ellipse = {"x": 50, "y": 50, "radiusX": 10, "radiusY": 20, "rotation": 30}
    square = {"x": 10, "y": 10, "width": 50, "height": 50, "rotation": 0}
    hypertext = {"globalOffsets": {"start": 3, "end": 6}, "text": "abc", "hypertextlabels": ["X"]}
    empty_200x100 = [0, 1, 56, 128, 57, 27, 255, 255, 255, 0, 231, 15, 224, 0]  # 80,000 zeros
    brush = {"format": "rle", "rle": empty_200x100, "brushlabels": ["m"]}
    results = [
        _result("number", "n", "t", {"number": 178}),
        _result("rating", "r", "t", {"rating": 4}),
        _result("taxonomy", "tx", "t", {"taxonomy": [["A", "B"]]}),
        _result("datetime", "d", "t", {"datetime": "2024-01-02"}),
        _result("hypertextlabels", "h", "t", hypertext),
        _result(
            "keypointlabels", "k", "img", {"x": 50, "y": 50, "keypointlabels": ["eye"]}, **size
        ),
        _result("ellipselabels", "e", "img", {**ellipse, "ellipselabels": ["o"]}, **size),
        _result("brushlabels", "b", "img", brush, **size),
        _result("rectangle", "box", "img", square, id="r1", **size),
        _result("labels", "lab", "img", {**square, "labels": ["car"]}, id="r1", **size),
        _result("choices", "whole", "img", {"choices": ["ok"]}, score=0.9, **size),
        _result("rectanglelabels", "nosize", "img", {**square, "rectanglelabels": ["z"]}),
    ]
    record = next(
        read(_write_json(tmp_path, [_task(1, {"t": "abcdef", "img": "a.png"}, results)]), {})
    )
    regions = {r.field: r for r in record.annotations[0].regions}
    assert regions["n"].value == 178 and regions["r"].value == 4
    assert regions["tx"].paths == [["A", "B"]]
    assert regions["d"].value == "2024-01-02"
    assert (regions["h"].start, regions["h"].end, regions["h"].label) == (3, 6, "X")
    assert regions["k"].points == [(100.0, 50.0)]
    assert (regions["e"].cx, regions["e"].cy, regions["e"].rx, regions["e"].ry) == (100, 50, 20, 20)
    assert regions["e"].rotation == 30
    assert (regions["b"].rle, regions["b"].encoding, regions["b"].width) == (
        empty_200x100,
        "ls-rle",
        200,
    )
    assert regions["b"].bbox is None  # nothing painted
    assert "box" not in regions  # the bare rectangle is the same region as the labelled one
    assert (regions["lab"].type, regions["lab"].label, regions["lab"].x, regions["lab"].w) == (
        "box",
        "car",
        20,
        100,
    )
    assert regions["whole"].labels == ["ok"] and regions["whole"].attributes == {"score": 0.9}
    assert record.problems == [
        "/[0]/annotations/0/result/11: rectangle value has no original_width/original_height: "
        "cannot convert percent to pixels"
    ]
    assert [(m.key, m.width, m.height) for m in record.media] == [("img", 200, 100)]


def test_one_span_per_label(tmp_path: Path) -> None:
    span = {"start": 0, "end": 3, "text": "abc", "labels": ["A", "B"]}
    result = {"id": "s", "type": "labels", "from_name": "l", "to_name": "t", "value": span}
    record = next(read(_write_json(tmp_path, [_task(1, {"t": "abc"}, [result])]), {}))
    assert [(r.id, r.label) for r in record.annotations[0].regions] == [("s", "A"), ("s", "B")]


def test_flat_export_plain_string_for_a_multi_annotator_csv(tmp_path: Path) -> None:
    """CSV annotator ids are quoted strings ("3"); JSON_MIN has ints: both become "3"."""
    csv_first = records("email-classification", "csv")[0]
    min_first = records("email-classification", "json_min")[0]
    assert [a.annotator for a in csv_first.annotations] == ["3", "2", "1"]
    assert [a.annotator for a in min_first.annotations] == ["3", "2", "1"]
    assert csv_first.annotations == min_first.annotations


def test_polygons_in_pixels() -> None:
    q4 = manifest("qc-defects")["tasks"]["q4"]
    want = next(
        r["_px"]["points"] for r in q4["annotations"][0]["raw"] if r["type"] == "polygonlabels"
    )
    for fmt in FILES:
        record = next(r for r in records("qc-defects", fmt) if r.id == str(q4["task_id"]))
        (polygon,) = [r for r in record.annotations[0].regions if isinstance(r, Polygon)]
        assert [list(p) for p in polygon.points] == [pytest.approx(p, abs=1e-6) for p in want]


# --- helpers -----------------------------------------------------------------------------------


def _result(kind: str, field: str, to: str, value: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": kind, "from_name": field, "to_name": to, "value": value, **extra}


def _choice(from_name: str, to_name: str, label: str) -> dict[str, Any]:
    value = {"choices": [label]}
    return {
        "id": "r",
        "type": "choices",
        "from_name": from_name,
        "to_name": to_name,
        "value": value,
    }


def _task(task_id: int, data: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    annotation = {"id": task_id * 10, "completed_by": 1, "result": results, "was_cancelled": False}
    return {"id": task_id, "annotations": [annotation], "predictions": [], "data": data}


def _write_json(tmp_path: Path, items: list[Any]) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_csv_helper_sanity() -> None:
    """The fixture CSVs are what the README says: CRLF rows, sorted header, JSON cells."""
    raw = (FIXTURES / "ner-spans" / "export.csv").read_bytes()
    assert raw.count(b"\r\n") >= 7
    header = next(csv.reader([raw.split(b"\r\n")[0].decode()]))
    assert header == sorted(header)
