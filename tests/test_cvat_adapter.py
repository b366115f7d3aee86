"""CVAT adapter against real and datumaro-written CVAT XML (tests/fixtures/cvat, see COPIED.md).

Expectations come from the fixtures' answer keys — datumaro_1.13_exports/MANIFEST.md and
extra_answer_key.json, FORMAT.md, public/SOURCES.md — or from values read off the XML by hand
(written here as literals), never from this adapter's own output. Mask envelopes are checked
against a bitmap painted by the reference loop FORMAT.md §8 gives.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonl_bridge.adapters import _archive, _common, _cvat_xml
from jsonl_bridge.adapters._cvat_rle import RleError, mask_extent, parse_runs
from jsonl_bridge.adapters.cvat import ADAPTER, read, schema, sniff
from jsonl_bridge.errors import InputError, UsageError
from jsonl_bridge.geometry import rotated_corners
from jsonl_bridge.records import (
    Box,
    Ellipse,
    Mask,
    Points,
    Polygon,
    Polyline,
    Record,
    Region,
    Tag,
)
from jsonl_bridge.registry import detect_adapter, get_adapter
from jsonl_bridge.templates import ImageSizes, boxes

FIXTURES = Path(__file__).parent / "fixtures" / "cvat"
DATUMARO = FIXTURES / "datumaro_1.13_exports"
IMAGES_DIR = DATUMARO / "metal_parts_cvat_images"
VIDEO_XML = DATUMARO / "metal_parts_cvat_video" / "default.xml"
PUBLIC = FIXTURES / "public"
DOCS_IMAGES = PUBLIC / "cvat-docs" / "images_example_annotations.xml"
DOCS_VIDEO = PUBLIC / "cvat-docs" / "video_example_annotations.xml"
CGRAS = PUBLIC / "cgras_settler_counter" / "annotations.xml"
CVETA2 = PUBLIC / "cveta2" / "annotations.xml"
DATUMARO_ASSETS = PUBLIC / "datumaro" / "tests" / "assets" / "cvat_dataset"
EXPORT_TASK = DATUMARO_ASSETS / "for_images" / "export_task" / "train.xml"
EXPORT_PROJECT = DATUMARO_ASSETS / "for_images" / "export_project"
FOR_VIDEO = DATUMARO_ASSETS / "for_video" / "annotations.xml"
LS_JSON = Path(__file__).parent / "fixtures" / "label-studio" / "qc-defects" / "export.json"
LS_CONFIG = Path(__file__).parent / "fixtures" / "label-studio" / "qc-defects" / "config.xml"

ALL_XML = [
    IMAGES_DIR / "default.xml",
    VIDEO_XML,
    DOCS_IMAGES,
    DOCS_VIDEO,
    CGRAS,
    CVETA2,
    EXPORT_TASK,
    EXPORT_PROJECT / "annotations.xml",
    FOR_VIDEO,
]


def records(source: Path) -> list[Record]:
    return list(read(source))


def by_id(source: Path) -> dict[str, Record]:
    found = records(source)
    ids = [record.id for record in found]
    assert len(ids) == len(set(ids)), f"duplicate record ids: {ids}"
    return {record.id: record for record in found}


def regions_of(record: Record) -> list[Region]:
    assert len(record.annotations) == 1, "a CVAT record has exactly one annotation"
    return record.annotations[0].regions


def corners(box: Box) -> tuple[float, float, float, float]:
    """xtl, ytl, xbr, ybr of the unrotated box (the form MANIFEST.md writes)."""
    return (box.x, box.y, box.x + box.w, box.y + box.h)


def paint(runs: list[int], width: int, height: int) -> list[list[int]]:
    """FORMAT.md §8's reference decoding loop, over the crop."""
    mask = [[0] * width for _ in range(height)]
    offset, value = 0, 0
    for run in runs:
        for _ in range(run):
            y, x = divmod(offset, width)
            mask[y][x] = value
            offset += 1
        value ^= 1
    return mask


def painted_bbox(mask: list[list[int]]) -> tuple[int, int, int, int] | None:
    """Pixel-edge envelope (x2 = last painted column + 1) of a painted bitmap."""
    cells = [(x, y) for y, row in enumerate(mask) for x, v in enumerate(row) if v]
    if not cells:
        return None
    xs, ys = [x for x, _ in cells], [y for _, y in cells]
    return min(xs), min(ys), max(xs) + 1, max(ys) + 1


def encode(mask: list[list[int]]) -> list[int]:
    """Reference CVAT encoder: row-major runs alternating from background (0)."""
    runs, current, count = [], 0, 0
    for value in (v for row in mask for v in row):
        if value == current:
            count += 1
        else:
            runs.append(count)
            current, count = value, 1
    runs.append(count)
    return runs


def write(tmp_path: Path, text: str, name: str = "annotations.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def document(body: str, meta: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  <meta>{meta}</meta>\n{body}\n</annotations>\n"
    )


# --- registry --------------------------------------------------------------------------------


def test_registered_as_builtin_cvat() -> None:
    adapter = get_adapter("cvat")
    assert adapter is ADAPTER
    assert adapter.name == "cvat"
    assert adapter.schema is not None


def test_takes_no_options() -> None:
    with pytest.raises(UsageError, match="options it takes: none"):
        list(read(CGRAS, {"label_config": "x"}))


# --- datumaro 1.13 "CVAT for images" export: MANIFEST.md's image set ------------------------


def test_images_export_has_every_image_in_order_with_its_size() -> None:
    found = records(IMAGES_DIR / "default.xml")
    assert [r.id for r in found] == [f"part_000{n}.jpg" for n in range(1, 6)]
    for position, record in enumerate(found, start=1):
        assert record.source.tool == "cvat"
        assert record.source.format == "cvat-images-1.1"
        assert record.source.pointer == f"/annotations/image[{position}]"
        assert record.data == {"image": record.id}
        assert [(m.key, m.uri, m.width, m.height) for m in record.media] == [
            ("image", record.id, 640, 480)
        ]
        assert record.problems == []


def test_part_0001_two_boxes_and_a_tag() -> None:
    record = by_id(IMAGES_DIR / "default.xml")["part_0001.jpg"]
    scratch, dent, tag = regions_of(record)
    assert isinstance(scratch, Box) and isinstance(dent, Box) and isinstance(tag, Tag)
    assert (scratch.field, scratch.label, corners(scratch)) == (
        "boxes",
        "scratch",
        (115, 145, 235, 195),
    )
    assert scratch.attributes["severity"] == "high"
    assert scratch.attributes["occluded"] is False
    assert scratch.attributes["z_order"] == 0
    assert (dent.label, corners(dent)) == ("dent", (400, 260, 470, 320))
    assert dent.attributes["severity"] == "low"
    assert dent.attributes["occluded"] is True
    assert dent.attributes["z_order"] == 1
    assert (tag.field, tag.label, tag.attributes) == (
        "tags",
        "defective",
        {"inspector": "A. Rossi"},
    )


def test_part_0002_polygon_polyline_points_tag() -> None:
    record = by_id(IMAGES_DIR / "default.xml")["part_0002.jpg"]
    polygon, polyline, points, tag = regions_of(record)
    assert isinstance(polygon, Polygon) and polygon.field == "polygons"
    assert polygon.label == "paint_chip" and polygon.attributes["severity"] == "medium"
    assert polygon.points == [
        (300, 200),
        (340, 190),
        (365, 215),
        (355, 250),
        (315, 255),
        (295, 230),
    ]
    assert isinstance(polyline, Polyline) and polyline.field == "polylines"
    assert polyline.label == "scratch" and polyline.attributes["severity"] == "low"
    assert polyline.points == [(100, 350), (160, 330), (230, 335), (300, 310)]
    assert isinstance(points, Points) and points.field == "points"
    assert points.label == "reference_point"
    assert points.points == [(80, 80), (560, 80), (80, 400)]
    assert isinstance(tag, Tag) and tag.label == "defective"
    assert tag.attributes == {"inspector": "B. Chen"}


def test_part_0003_rotated_box_matches_the_answer_key_corners() -> None:
    key = json.loads((DATUMARO / "extra_answer_key.json").read_text("utf-8"))["part_0003"]
    box = regions_of(by_id(IMAGES_DIR / "default.xml")["part_0003.jpg"])[0]
    assert isinstance(box, Box) and box.label == "scratch"
    assert corners(box) == (240, 230, 400, 250)  # unrotated: centre 320,240, 160 x 20
    assert (box.rotation, box.pivot) == (30, "center")
    assert box.attributes["severity"] == "high"
    got = rotated_corners(box.x, box.y, box.w, box.h, box.rotation, box.pivot)
    expected = key["rotated_box_corners"]  # clockwise from the top-left corner, like ours
    assert [pytest.approx(list(c), abs=0.01) for c in got] == expected


def test_part_0003_full_frame_mask_gets_the_tight_envelope_of_the_key() -> None:
    key = json.loads((DATUMARO / "extra_answer_key.json").read_text("utf-8"))["part_0003"]
    mask = regions_of(by_id(IMAGES_DIR / "default.xml")["part_0003.jpg"])[1]
    assert isinstance(mask, Mask) and mask.field == "masks" and mask.label == "dent"
    assert mask.encoding == "cvat-rle"
    assert (mask.left, mask.top, mask.width, mask.height) == (0, 0, 640, 480)  # datumaro: full
    x, y, w, h = key["mask_bbox_xywh"]  # 470, 100, 61, 41
    assert mask.bbox == (x, y, x + w, y + h)
    bitmap = paint(mask.rle, mask.width, mask.height)
    assert sum(map(sum, bitmap)) == key["mask_pixels"] == 1881
    assert mask.attributes["severity"] == "medium"


def test_part_0003_weld_seam_and_tag() -> None:
    _, _, seam, tag = regions_of(by_id(IMAGES_DIR / "default.xml")["part_0003.jpg"])
    assert isinstance(seam, Polyline) and seam.label == "weld_seam"
    assert seam.points == [(60, 440), (320, 440), (580, 440)]
    assert isinstance(tag, Tag) and tag.label == "defective"


def test_tag_only_and_empty_images_are_records_with_one_annotation() -> None:
    found = by_id(IMAGES_DIR / "default.xml")
    (tag,) = regions_of(found["part_0004.jpg"])
    assert isinstance(tag, Tag) and (tag.label, tag.attributes) == ("ok", {"inspector": "B. Chen"})
    empty = found["part_0005.jpg"]
    assert len(empty.annotations) == 1 and empty.annotations[0].regions == []
    assert empty.annotations[0].kind == "annotation"


def test_qc_defects_boxes_over_every_shape_with_an_area() -> None:
    """`regions | boxes('xyxy')` (what qc-defects renders) on part_0003: the rotated box's
    envelope from the key's corners, the mask's key bbox; the weld seam's line too."""
    record = by_id(IMAGES_DIR / "default.xml")["part_0003.jpg"]
    dumped = [msgspec.to_builtins(r) for r in regions_of(record)]
    sizes = ImageSizes({"image": (640, 480)})
    rendered = json.loads(boxes(dumped, "xyxy", sizes))
    assert rendered == [
        {"bbox": [246, 191, 394, 289], "label": "scratch"},  # 245.72..394.28, 191.34..288.66
        {"bbox": [470, 100, 531, 141], "label": "dent"},
        {"bbox": [60, 440, 580, 440], "label": "weld_seam"},
    ]


# --- datumaro 1.13 "CVAT for video" export: MANIFEST.md's video table ------------------------


def test_video_tracks_become_per_frame_regions() -> None:
    found = records(VIDEO_XML)
    assert [r.id for r in found] == [f"frame_00000{n}" for n in range(5)]
    expected = {  # frame → [(label, xtl, ytl, xbr, ybr, keyframe, occluded)]
        0: [("scratch", 100, 190, 180, 235, True, False)],
        1: [("scratch", 130, 190, 210, 235, False, False)],
        2: [
            ("scratch", 160, 190, 240, 235, False, False),
            ("dent", 400, 300, 450, 340, True, False),
        ],
        3: [
            ("scratch", 190, 190, 270, 235, True, False),
            ("dent", 430, 300, 480, 340, False, True),
        ],
        4: [("dent", 460, 300, 510, 340, False, False)],  # the scratch is outside: dropped
    }
    for frame, record in enumerate(found):
        assert record.source.format == "cvat-video-1.1"
        assert record.meta == {"frame": frame}
        assert [(m.uri, m.width, m.height) for m in record.media] == [
            (f"frame_00000{frame}.PNG", 640, 480)
        ]
        got = []
        for region in regions_of(record):
            assert isinstance(region, Box) and region.field == "boxes"
            got.append(
                (
                    region.label,
                    *corners(region),
                    region.attributes["keyframe"],
                    region.attributes["occluded"],
                )
            )
        assert got == expected[frame], frame


def test_video_regions_keep_their_track_id() -> None:
    frame_3 = records(VIDEO_XML)[3]
    assert [(r.id, r.attributes["track_id"]) for r in regions_of(frame_3)] == [("0", 0), ("1", 1)]


# --- CVAT's documented examples (public/cvat-docs) -------------------------------------------


def test_docs_images_example_reads_every_element() -> None:
    (record,) = records(DOCS_IMAGES)
    assert record.id == "filename000.jpg"
    assert (record.media[0].width, record.media[0].height) == (1600, 1200)
    found = regions_of(record)
    assert [(r.type, r.field, getattr(r, "label", None)) for r in found] == [
        ("box", "boxes", "plate"),
        ("polygon", "polygons", "car"),
        ("polyline", "polylines", "traffic_line"),
        ("polyline", "polylines", "traffic_line"),
        ("points", "points", "wheel"),
        ("tag", "tags", "good_frame"),  # undeclared in <labels>: kept as written
        ("points", "skeletons", "s1"),
        ("mask", "masks", "car"),
    ]
    box = found[0]
    assert isinstance(box, Box)
    assert corners(box) == pytest.approx((797.33, 870.92, 965.52, 928.94))
    assert box.attributes == {"occluded": False, "z_order": 4}
    polygon = found[1]
    assert isinstance(polygon, Polygon) and len(polygon.points) == 69
    assert polygon.points[0] == (561.30, 916.23) and polygon.points[-1] == (560.20, 966.67)
    wheel = found[4]
    assert isinstance(wheel, Points) and len(wheel.points) == 4
    assert found[5].attributes == {"source": "manual"}


def test_docs_images_example_skeleton_keeps_its_key_points() -> None:
    skeleton = regions_of(records(DOCS_IMAGES)[0])[6]
    assert isinstance(skeleton, Points)
    assert skeleton.points == [(54.47, 94.81), (68.02, 162.34), (125.87, 62.85)]
    assert [k["label"] for k in skeleton.attributes["keypoints"]] == ["1", "2", "3"]
    assert skeleton.attributes["source"] == "manual"


def test_docs_images_example_mask_envelope_is_painted_pixels() -> None:
    mask = regions_of(records(DOCS_IMAGES)[0])[7]
    assert isinstance(mask, Mask)
    assert (mask.left, mask.top, mask.width, mask.height) == (707, 888, 13, 15)
    assert sum(mask.rle) == 13 * 15 == 195  # SOURCES.md
    x1, y1, x2, y2 = painted_bbox(paint(mask.rle, 13, 15)) or (0, 0, 0, 0)
    assert mask.bbox == (707 + x1, 888 + y1, 707 + x2, 888 + y2)


def test_docs_video_example_frames_tracks_and_skeletons() -> None:
    found = records(DOCS_VIDEO)
    assert len(found) == 4620  # <size>: every frame of the task, annotated or not
    assert (found[0].id, found[-1].id) == ("frame_000000", "frame_004619")
    shapes = {r.meta["frame"]: regions_of(r) for r in found if regions_of(r)}
    assert sorted(shapes) == [0, 6, 13]  # 1, 7, 14: outside; the rest: no track
    for frame, count in ((0, 6), (6, 5), (13, 5)):
        polygon, skeleton = shapes[frame]
        assert isinstance(polygon, Polygon) and polygon.label == "car"
        assert len(polygon.points) == count
        assert isinstance(skeleton, Points) and skeleton.field == "skeletons"
        assert skeleton.label == "s1" and len(skeleton.points) == 3
    assert shapes[13][1].attributes["keyframe"] is False  # interpolated
    assert shapes[6][1].points[0] == (120.07, 270.59)
    assert found[0].annotations[0].meta == {"owner": "admin"}
    assert all(r.media[0].width == 640 and r.media[0].height == 480 for r in found[:20])


# --- real exports --------------------------------------------------------------------------


def test_job_export_reserialised_with_spaces_and_ampersand_names() -> None:
    found = records(CGRAS)
    assert len(found) == 5
    names = [r.id for r in found]
    assert names[1] == "01_Recruit symbiotic & CCA alive Tray1_Row_CDE_05_20230223-Annotated.jpg"
    assert found[1].media[0].uri == names[1]
    assert [len(regions_of(r)) for r in found] == [1, 0, 0, 0, 0]  # 4 of 5 images empty
    (polygon,) = regions_of(found[0])
    assert isinstance(polygon, Polygon) and polygon.label == "recruit_live_white"
    assert len(polygon.points) == 12 and polygon.attributes["source"] == "manual"
    assert all((r.media[0].width, r.media[0].height) == (7360, 4912) for r in found)
    annotation = found[0].annotations[0]
    assert annotation.annotator is None  # <assignee /> is empty
    assert annotation.meta == {"owner": "doriantsai"}


def test_project_export_ids_with_gaps_odd_extensions_and_subsets() -> None:
    found = records(CVETA2)
    assert [r.data["image"].removeprefix("default/") for r in found] == [
        "000000000009.avif",
        "000000000025.bmp",
        "000000000036.jpeg",
        "000000000042.jpg",
        "000000000009_1.avif",
        "000000000042_1.jpg",
    ]
    assert [r.meta["frame"] for r in found] == [0, 1, 2, 3, 4, 7]
    assert [r.data["task_id"] for r in found] == ["1"] * 4 + ["2"] * 2
    assert {r.data["subset"] for r in found} == {"default"}
    assert found[0].id == "default/000000000009.avif"
    assert (found[2].media[0].width, found[2].media[0].height) == (481, 640)
    assert all(regions_of(r) == [] for r in found)


def test_project_export_repeating_names_get_subset_ids() -> None:
    found = by_id(EXPORT_PROJECT)
    assert sorted(found) == sorted(
        f"{subset}/img{n}.jpg" for subset in ("Test", "Train", "Validation") for n in (0, 1)
    )
    train = found["Train/img0.jpg"]
    assert train.data == {"image": "Train/img0.jpg", "subset": "Train", "task_id": "39"}
    assert train.media[0].uri == "Train/img0.jpg"  # where the export keeps it, under images/
    assert (EXPORT_PROJECT / "images" / train.media[0].uri).is_file()


def test_checkbox_attributes_are_booleans_other_types_stay_text() -> None:
    first, second = records(EXPORT_TASK)
    box, polyline = regions_of(first)
    assert isinstance(box, Box)
    assert corners(box) == (0, 2, 4, 4)
    assert box.attributes == {
        "occluded": True,
        "z_order": 1,
        "a1": True,  # input_type checkbox
        "a2": "v3",
        "a3": "0003",  # text keeps its zeros
        "a4": "2.4",  # number: as written
    }
    assert isinstance(polyline, Polyline) and polyline.label == ""  # empty label kept
    assert [r.type for r in regions_of(second)] == ["polygon", "points"]


def test_old_video_export_with_start_frame_and_step() -> None:
    found = records(FOR_VIDEO)
    assert [r.id for r in found] == ["frame_000010", "frame_000013", "frame_000016", "frame_000019"]
    assert all((r.media[0].width, r.media[0].height) == (25, 20) for r in found)
    box, points = regions_of(found[0])
    assert isinstance(box, Box) and box.label == "II" and corners(box) == (3, 4, 10, 5)
    assert box.attributes["occluded"] is True
    assert isinstance(points, Points) and points.label == "klhg"
    assert points.attributes["hgl"] == "hgkf"
    (polyline,) = regions_of(found[1])  # the box and the points are outside at 13
    assert isinstance(polyline, Polyline) and polyline.label == "II"
    assert regions_of(found[2]) == [] and regions_of(found[3]) == []


@pytest.mark.parametrize("path", ALL_XML, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_reads_without_problems_and_round_trips(path: Path) -> None:
    found = records(path)
    assert found
    for record in found[:50]:
        assert record.problems == []
        assert msgspec.json.decode(msgspec.json.encode(record), type=Record) == record


# --- inputs: folder, zip, names ------------------------------------------------------------


def test_folder_input_finds_the_xml_by_its_root(tmp_path: Path) -> None:
    (tmp_path / "notes.xml").write_text("<notes><n>not cvat</n></notes>", encoding="utf-8")
    (tmp_path / "export.xml").write_bytes((IMAGES_DIR / "default.xml").read_bytes())
    found = records(tmp_path)
    assert [r.id for r in found] == [f"part_000{n}.jpg" for n in range(1, 6)]
    assert found[0].source.file == str(tmp_path / "export.xml")


def export_zip(tmp_path: Path) -> Path:
    """The datumaro CVAT-for-images export packed as CVAT's download zip names it."""
    archive = tmp_path / "task_export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(IMAGES_DIR / "default.xml", "annotations.xml")
        for image in sorted((IMAGES_DIR / "images").iterdir()):
            out.write(image, f"images/{image.name}")
    return archive


def test_zip_input_equals_the_folder(tmp_path: Path) -> None:
    archive = export_zip(tmp_path)
    with zipfile.ZipFile(archive, "a") as out:
        out.writestr("images/readme.xml", "<other/>")
    zipped, folder = records(archive), records(IMAGES_DIR)
    assert [r.id for r in zipped] == [r.id for r in folder]
    assert [r.annotations for r in zipped] == [r.annotations for r in folder]
    assert zipped[0].source.file == f"{archive}!annotations.xml"
    assert sniff(archive)


def test_zip_with_no_cvat_xml_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("annotations.xml", "<dataset/>")
    with pytest.raises(InputError, match="no CVAT XML in this zip"):
        records(archive)
    assert not sniff(archive)


@pytest.mark.parametrize("member", ["../evil.xml", "/etc/cron.d/x", "images/../../x.jpg", "C:/x"])
def test_zip_slip_member_names_refuse_the_whole_export(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "slip.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(IMAGES_DIR / "default.xml", "annotations.xml")
        out.writestr(zipfile.ZipInfo(member), b"x")
    with pytest.raises(InputError, match="would escape the archive") as raised:
        records(archive)
    assert raised.value.where == str(archive)


def test_zip_bomb_member_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_archive, "BOMB_FLOOR", 1024)  # a real bomb is > 64 MiB
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(IMAGES_DIR / "default.xml", "annotations.xml")
        out.writestr("images/zeros.bin", b"\0" * 1_000_000)
    with pytest.raises(InputError, match="zip bomb"):
        records(archive)


def test_names_with_folders_spaces_ampersands_and_dots(tmp_path: Path) -> None:
    name = "batch 2/cam&amp;1/part.v2.final.JPEG"
    xml = document(
        f'<image id="3" name="{name}" width="10" height="8"></image>\n'
        '<image id="9" name="a.b.c.png" width="4" height="4">'
        '<box label="x" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2"/></image>'
    )
    first, second = records(write(tmp_path, xml))
    assert first.id == first.media[0].uri == "batch 2/cam&1/part.v2.final.JPEG"
    assert (first.meta, second.meta) == ({"frame": 3}, {"frame": 9})
    assert second.id == "a.b.c.png" and len(regions_of(second)) == 1


# --- unsafe and broken XML -----------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE annotations [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<annotations><version>1.1</version><image id="0" name="&lol3;" width="1" height="1"/></annotations>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE annotations SYSTEM "file:///etc/passwd">
<annotations><version>1.1</version><image id="0" name="a" width="1" height="1"/></annotations>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL], ids=["entities", "external-dtd"])
def test_dtd_and_entities_are_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match="DTD or entity") as raised:
        records(path)
    assert raised.value.where == str(path)
    assert not sniff(path)


def test_undeclared_entity_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, document('<image id="0" name="&secret;" width="1" height="1"/>'))
    with pytest.raises(InputError, match="undefined entity"):
        records(path)


def test_truncated_xml_names_the_file_and_line(tmp_path: Path) -> None:
    text = (IMAGES_DIR / "default.xml").read_text("utf-8")
    cut = text[: text.index('<image id="2"') + 40]  # inside the third <image> start tag
    path = write(tmp_path, cut)
    found: list[Record] = []
    with pytest.raises(InputError, match="truncated or malformed XML") as raised:
        found.extend(read(path))
    line = cut.count("\n") + 1
    assert raised.value.where == f"{path}:{line}"
    ids = [r.id for r in found]  # complete images before the cut may stream out first
    assert ids == ["part_0001.jpg", "part_0002.jpg"][: len(ids)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("<dataset><item/></dataset>", "root element is <dataset>"),
        (document(""), "no <image> and no <track>"),
        ("<annotations><version>1.1</version><image", "truncated"),
    ],
)
def test_unreadable_inputs_are_input_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        records(write(tmp_path, text))


def many_images(count: int) -> str:
    """`count` images, image k with k % 4 boxes (box j from x = j, its z_order j, attribute
    `k`), an unknown top-level element and a comment after every seventh."""
    parts = []
    for k in range(count):
        boxes = "".join(
            f'<box label="b" occluded="0" xtl="{j}" ytl="0" xbr="{j + 1}" ybr="1" z_order="{j}">'
            f'<attribute name="k">{k}</attribute></box>'
            for j in range(k % 4)
        )
        parts.append(f'<image id="{k}" name="img{k}.jpg" width="8" height="8">{boxes}</image>')
        if k % 7 == 0:
            parts.append("<!-- a comment --><future_element><x/></future_element>")
    return document("\n".join(parts))


@pytest.mark.parametrize("feed", [7, 300, 64 * 1024])
def test_every_image_is_read_once_in_order_whatever_the_read_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feed: int
) -> None:
    """Images that end anywhere in a read, or span many, come out whole and once; unknown
    top-level elements are skipped (the 3,000 images take about 700 KB: many reads)."""
    monkeypatch.setattr(_cvat_xml, "_FEED", feed)
    found = records(write(tmp_path, many_images(3000)))
    assert [record.id for record in found] == [f"img{k}.jpg" for k in range(3000)]
    for k, record in enumerate(found):
        boxes = [(r.x, r.attributes["z_order"], r.attributes["k"]) for r in regions_of(record)]
        assert boxes == [(float(j), j, str(k)) for j in range(k % 4)], record.id


def test_the_task_bound_is_per_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten images of 0.9 MiB each pass a 1 MiB bound (lowered from 64 MiB here); the bound
    refusing a larger one is tested in test_hardening_inputs.py."""
    monkeypatch.setattr(_common, "MAX_TASK_BYTES", 1 << 20)
    note = "n" * (900 << 10)
    body = "".join(
        f'<image id="{k}" name="i{k}.jpg" width="1" height="1">'
        f'<tag label="t"><attribute name="note">{note}</attribute></tag></image>'
        for k in range(10)
    )
    found = records(write(tmp_path, document(body)))
    assert [record.id for record in found] == [f"i{k}.jpg" for k in range(10)]
    assert all(regions_of(record)[0].attributes["note"] == note for record in found)


def test_an_image_id_or_z_order_in_other_digits_is_not_a_crash(tmp_path: Path) -> None:
    """`"²".isdigit()` is true but `int("²")` fails: such an id is no frame number, such a
    z_order a problem of its image (not a ValueError out of the reader)."""
    xml = document(
        '<image id="²" name="a.jpg" width="2" height="2">'
        '<box label="x" xtl="0" ytl="0" xbr="1" ybr="1" z_order="²"/></image>'
        '<image id="٣" name="b.jpg" width="2" height="2">'
        '<box label="x" xtl="0" ytl="0" xbr="1" ybr="1" z_order="٣"/></image>'
    )
    odd, arabic = records(write(tmp_path, xml))
    assert odd.meta == {} and odd.problems == [
        "/annotations/image[1]/box[1]: z_order='²' is not a number"
    ]
    assert arabic.meta == {"frame": 3} and regions_of(arabic)[0].attributes["z_order"] == 3


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        records(tmp_path / "nope.zip")


def test_folder_without_cvat_xml_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<x/>", encoding="utf-8")
    with pytest.raises(InputError, match="no CVAT XML here"):
        records(tmp_path)


def test_bad_shapes_become_problems_of_their_record_only(tmp_path: Path) -> None:
    xml = document(
        '<image id="0" name="a.jpg" width="10" height="10">'
        '<box label="x" xtl="1" ytl="1" ybr="2"/>'
        '<box label="y" xtl="1" ytl="1" xbr="3" ybr="2"/>'
        '<mask label="m" rle="1, 2" left="0" top="0" width="2" height="2"/>'
        '<polygon label="p" points="1,2;oops"/>'
        "<hologram/><hologram/></image>"
        '<image id="1" name="b.jpg" width="10" height="10"><hologram/></image>'
    )
    with pytest.warns(UserWarning, match="<hologram> is not a CVAT 1.1 element") as warned:
        bad, good = records(write(tmp_path, xml))
    assert len([w for w in warned if "hologram" in str(w.message)]) == 1
    assert bad.problems == [  # an unknown element (a newer CVAT's) is left out, not a problem
        "/annotations/image[1]/box[1]: xbr is missing",
        "/annotations/image[1]/mask[1]: mask: rle runs cover 3 pixels, the 2x2 mask has 4",
        "/annotations/image[1]/polygon[1]: points: 'oops' is not an x,y pair",
    ]
    assert [r.label for r in regions_of(bad) if isinstance(r, Box)] == ["y"]
    assert good.problems == [] and regions_of(good) == []


# --- synthetic shapes: ellipse, cuboid, rotation normalisation, tracks of skeletons ----------


def test_ellipse_and_negative_rotation(tmp_path: Path) -> None:
    xml = document(
        '<image id="0" name="a.jpg" width="640" height="480">'
        '<ellipse label="dent" occluded="1" cx="435" cy="290" rx="35" ry="30" rotation="-30"'
        ' z_order="1" group_id="1"><attribute name="severity">low</attribute></ellipse>'
        '<box label="dent" xtl="0" ytl="0" xbr="4" ybr="2" rotation="450.5" group_id="0"/>'
        "</image>"
    )
    ellipse, box = regions_of(records(write(tmp_path, xml))[0])
    assert isinstance(ellipse, Ellipse) and ellipse.field == "ellipses"
    assert (ellipse.cx, ellipse.cy, ellipse.rx, ellipse.ry) == (435, 290, 35, 30)
    assert ellipse.rotation == 330
    assert ellipse.attributes == {"occluded": True, "z_order": 1, "group_id": 1, "severity": "low"}
    assert isinstance(box, Box) and box.rotation == pytest.approx(90.5)
    assert "group_id" not in box.attributes  # 0 means no group


def test_cuboid_is_the_hull_of_its_corners(tmp_path: Path) -> None:
    corners_xy = {
        "tl1": (10, 10), "bl1": (10, 50), "tr1": (60, 10), "br1": (60, 50),
        "tl2": (30, 0), "bl2": (30, 40), "tr2": (80, 0), "br2": (80, 40),
    }  # fmt: skip
    geometry = " ".join(f'x{k}="{x}" y{k}="{y}"' for k, (x, y) in corners_xy.items())
    image = '<image id="0" name="a.jpg" width="100" height="100">'
    xml = document(f'{image}<cuboid label="c" {geometry}/></image>')
    (cuboid,) = regions_of(records(write(tmp_path, xml))[0])
    assert isinstance(cuboid, Polygon) and cuboid.field == "cuboids"
    assert set(cuboid.points) == {(10, 10), (10, 50), (60, 50), (80, 40), (80, 0), (30, 0)}
    assert cuboid.attributes["cuboid"] == {k: [x, y] for k, (x, y) in corners_xy.items()}


def test_skeleton_outside_points_are_left_out(tmp_path: Path) -> None:
    xml = document(
        '<image id="0" name="a.jpg" width="640" height="480">'
        '<skeleton label="clamp" z_order="0">'
        '<points label="left" outside="0" occluded="0" points="380,250"/>'
        '<points label="right" outside="0" occluded="1" points="430,250"/>'
        '<points label="tip" outside="1" occluded="0" points="405,330"/>'
        "</skeleton>"
        '<skeleton label="clamp"><points label="left" outside="1" points="1,1"/></skeleton>'
        "</image>"
    )
    (skeleton,) = regions_of(records(write(tmp_path, xml))[0])  # the all-outside one: gone
    assert isinstance(skeleton, Points) and skeleton.points == [(380, 250), (430, 250)]
    assert [(k["label"], k["point"], k["outside"]) for k in skeleton.attributes["keypoints"]] == [
        ("left", [380, 250], False),
        ("right", [430, 250], False),
        ("tip", None, True),
    ]


def test_legacy_attribute_specs_declare_checkboxes(tmp_path: Path) -> None:
    meta = (
        "<task><labels><label><name>car</name><attributes>"
        "<attribute>~checkbox=parked:false,true</attribute></attributes></label></labels></task>"
    )
    xml = document(
        '<image id="0" name="a.jpg" width="9" height="9"><box label="car" xtl="0" ytl="0" xbr="1"'
        ' ybr="1"><attribute name="parked">true</attribute></box></image>',
        meta,
    )
    (box,) = regions_of(records(write(tmp_path, xml))[0])
    assert box.attributes["parked"] is True


def test_assignee_is_the_annotator(tmp_path: Path) -> None:
    meta = (
        "<job><id>7</id><size>1</size><owner><username>boss</username></owner>"
        "<assignee><username>anna</username><email>a@x</email></assignee></job>"
    )
    xml = document('<image id="0" name="a.jpg" width="9" height="9"/>', meta)
    (annotation,) = records(write(tmp_path, xml))[0].annotations
    assert (annotation.annotator, annotation.meta) == ("anna", {"owner": "boss"})


# --- schema ---------------------------------------------------------------------------------


def test_schema_lists_meta_labels_per_field() -> None:
    found = schema(IMAGES_DIR)
    assert found is not None
    labels = ["scratch", "dent", "paint_chip", "weld_seam", "reference_point", "defective", "ok"]
    assert list(found.fields) == [
        "boxes",
        "polygons",
        "polylines",
        "points",
        "ellipses",
        "masks",
        "tags",
    ]  # no skeleton or cuboid label is declared
    assert found.fields["boxes"].kind == "box" and found.fields["boxes"].labels == labels
    assert found.fields["tags"].kind == "tag" and found.fields["tags"].labels == labels


def test_schema_skeletons_take_only_skeleton_labels() -> None:
    found = schema(DOCS_IMAGES)
    assert found is not None
    assert found.fields["skeletons"].labels == ["s1"]
    assert found.fields["boxes"].labels == ["car", "traffic_line", "wheel", "plate"]  # no 1, 2, 3


def test_schema_is_none_without_labels(tmp_path: Path) -> None:
    assert (
        schema(write(tmp_path, document('<image id="0" name="a" width="1" height="1"/>'))) is None
    )


# --- sniff ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*ALL_XML, IMAGES_DIR, EXPORT_PROJECT], ids=str)
def test_sniff_claims_cvat_xml_and_folders(path: Path) -> None:
    assert sniff(path)
    assert detect_adapter(path).name == "cvat"  # and no other adapter claims it


def test_sniff_refuses_other_inputs(tmp_path: Path) -> None:
    assert not sniff(LS_JSON)
    assert not sniff(LS_CONFIG)  # XML, but a Label Studio config
    assert not sniff(write(tmp_path, "", "empty.xml"))
    assert not sniff(
        write(tmp_path, "<annotations><version>1.0</version></annotations>", "old.xml")
    )
    assert not sniff(write(tmp_path, "<annotations><meta/></annotations>", "nover.xml"))
    assert not sniff(tmp_path / "missing.xml")
    assert detect_adapter(LS_JSON).name == "label-studio"


# --- RLE ------------------------------------------------------------------------------------


def test_rle_first_pixel_set_starts_with_a_zero_run() -> None:
    extent = mask_extent([0, 2, 2], 2, 2)  # top row painted
    assert (extent.pixels, extent.bbox) == (2, (0, 0, 2, 1))
    assert mask_extent([4], 2, 2).bbox is None


def test_rle_run_across_rows_spans_every_column() -> None:
    # 3x3: row 0 col 2, row 1 col 0 painted by one run of 2 starting at offset 2
    assert mask_extent([2, 2, 5], 3, 3).bbox == (0, 0, 3, 2)


@pytest.mark.parametrize("text", ["1, x", "1, -2", ""])
def test_rle_rejects_junk(text: str) -> None:
    with pytest.raises(RleError):
        parse_runs(text)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=24).flatmap(
        lambda w: st.integers(min_value=1, max_value=24).flatmap(
            lambda h: st.lists(
                st.lists(st.sampled_from([0, 0, 0, 1]), min_size=w, max_size=w),
                min_size=h,
                max_size=h,
            )
        )
    )
)
def test_rle_envelope_matches_the_painted_bitmap(mask: list[list[int]]) -> None:
    height, width = len(mask), len(mask[0])
    runs = encode(mask)
    assert paint(runs, width, height) == mask  # the reference pair is consistent
    extent = mask_extent(runs, width, height)
    assert extent.pixels == sum(map(sum, mask))
    assert extent.bbox == painted_bbox(mask)


def test_rle_is_arithmetic_not_a_bitmap() -> None:
    """A full 8K frame with one painted pixel decodes from its 3 runs, not 33M pixels."""
    width, height = 7680, 4320
    runs = [width * 100 + 5, 1, width * height - width * 100 - 6]
    assert mask_extent(runs, width, height).bbox == (5, 100, 6, 101)
    assert math.prod((width, height)) == sum(runs)


def test_annotations_are_region_dicts_templates_can_read() -> None:
    """`region.attributes.severity` in a template: attributes survive model_dump."""
    record = by_id(IMAGES_DIR / "default.xml")["part_0001.jpg"]
    dumped: list[dict[str, Any]] = [msgspec.to_builtins(r) for r in regions_of(record)]
    assert [d["attributes"].get("severity") for d in dumped] == ["high", "low", None]


# --- with the pipeline: the export's own images/ and the qc-defects preset ------------------


def test_media_roots_name_the_exports_images_folder(tmp_path: Path) -> None:
    assert ADAPTER.media_roots is not None
    assert ADAPTER.media_roots(IMAGES_DIR, None) == [(IMAGES_DIR, "images")]
    assert ADAPTER.media_roots(IMAGES_DIR / "default.xml", None) == [(IMAGES_DIR, "images")]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(IMAGES_DIR / "default.xml", "annotations.xml")
    assert ADAPTER.media_roots(archive, None) == [(archive, "images")]
    assert ADAPTER.media_roots(DOCS_IMAGES, None) == []  # no images/ beside it


def _gemini(xtl: float, ytl: float, xbr: float, ybr: float) -> list[int]:
    """MANIFEST corners on the 640x480 image → box_2d [ymin, xmin, ymax, xmax] per mille."""
    return [round(v * 1000) for v in (ytl / 480, xtl / 640, ybr / 480, xbr / 640)]


def test_qc_defects_converts_the_export_zip_with_its_own_images(tmp_path: Path) -> None:
    from jsonl_bridge import convert

    archive = export_zip(tmp_path)
    conversion = convert(archive, "qc-defects")
    answers = {}
    for example in conversion:
        content = example.messages[-1].content
        answers[example.id] = json.loads(content if isinstance(content, str) else content[0].text)
    assert conversion.report.images_embedded == 5
    assert answers["part_0001.jpg"] == [
        {"box_2d": _gemini(115, 145, 235, 195), "label": "scratch"},
        {"box_2d": _gemini(400, 260, 470, 320), "label": "dent"},
    ]
    assert answers["part_0003.jpg"][1] == {"box_2d": _gemini(470, 100, 531, 141), "label": "dent"}
    assert answers["part_0004.jpg"] == answers["part_0005.jpg"] == []  # negatives


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_marks_and_utf16_are_read(tmp_path: Path, encoding: str) -> None:
    text = document('<image id="0" name="café.jpg" width="2" height="2"/>').replace(
        'encoding="utf-8"', f'encoding="{encoding.removesuffix("-sig")}"'
    )
    path = tmp_path / "annotations.xml"
    path.write_bytes(text.encode(encoding))
    assert [r.id for r in records(path)] == ["café.jpg"]
    assert sniff(path)


def test_whole_image_tags_work_with_a_classification_preset(tmp_path: Path) -> None:
    """MANIFEST: parts 1-3 are tagged defective, part 4 ok, part 5 has nothing (rejected as
    having no result, not written as an empty answer)."""
    from jsonl_bridge import convert

    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nextends: email-classification\n"
        "labels: {allowed: [defective, ok], unknown: keep}\n"  # boxes keep their labels
        "user:\n  - text: Is this part defective?\n  - image: '{{ image }}'\n"
    )
    conversion = convert(IMAGES_DIR, mapping)
    answers = {e.id: e.messages[-1].content[0].text for e in conversion}  # type: ignore[union-attr]
    assert answers == {
        "part_0001.jpg": "Classification: defective",
        "part_0002.jpg": "Classification: defective",
        "part_0003.jpg": "Classification: defective",
        "part_0004.jpg": "Classification: ok",
    }
    assert {r.id: r.reason for r in conversion.rejects} == {"part_0005.jpg": "empty"}
