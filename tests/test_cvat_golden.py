"""Golden: every CVAT export in the fixtures, through `convert` and qc-defects' box list.

The truth comes from outside jsonl_bridge: datumaro_1.13_exports/MANIFEST.md and
extra_answer_key.json for the metal parts (transcribed below), and for the public files the
shapes the XML itself holds, read here with ElementTree and boxed by the rules of FORMAT.md §7-8
(written out again in this file, not taken from jsonl_bridge.geometry). Every box must match
within ±1 in box_2d ([ymin, xmin, ymax, xmax], 0-1000).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from jsonl_bridge import convert

FIXTURES = Path(__file__).parent / "fixtures" / "cvat"
DATUMARO = FIXTURES / "datumaro_1.13_exports"
PUBLIC_XML = sorted((FIXTURES / "public").rglob("*.xml"))

Box = tuple[str, list[int]]


def _text_only_qc(tmp_path: Path) -> Path:
    """qc-defects without the image part: most public exports come without their images, and
    boxes are measured on the XML's own image sizes anyway."""
    mapping = tmp_path / "qc-text.yaml"
    mapping.write_text("version: 1\nextends: qc-defects\nuser: Find the defects.\n")
    return mapping


def _answers(source: Path, mapping: Path | str, **kwargs: Any) -> dict[str, list[Box]]:
    conversion = convert(source, mapping, **kwargs)
    out = {}
    for example in conversion:
        content = example.messages[-1].content
        text = content if isinstance(content, str) else content[0].text  # type: ignore[union-attr]
        out[example.id] = [(item["label"], item["box_2d"]) for item in json.loads(text)]
    assert not conversion.rejects, conversion.rejects
    return out


def _per_mille(box: tuple[float, float, float, float], width: float, height: float) -> list[int]:
    """Pixel envelope (x0, y0, x1, y1), clamped to the image → [ymin, xmin, ymax, xmax]."""
    x0, y0, x1, y1 = box
    x0, x1 = (min(max(v, 0.0), width) for v in (x0, x1))
    y0, y1 = (min(max(v, 0.0), height) for v in (y0, y1))
    return [round(v * 1000) for v in (y0 / height, x0 / width, y1 / height, x1 / width)]


def _assert_same(got: dict[str, list[Box]], truth: dict[str, list[Box]]) -> None:
    assert set(got) == set(truth)
    for key, boxes in truth.items():
        mine = sorted(got[key])
        assert [label for label, _ in mine] == sorted(label for label, _ in boxes), key
        for (_, box), (_, want) in zip(mine, sorted(boxes), strict=True):
            assert all(abs(a - b) <= 1 for a, b in zip(box, want, strict=True)), (key, box, want)


# --- the metal parts: MANIFEST.md is the answer key ------------------------------------------


def _manifest_images() -> dict[str, list[Box]]:
    corners = json.loads((DATUMARO / "extra_answer_key.json").read_text())["part_0003"]
    xs = [x for x, _ in corners["rotated_box_corners"]]
    ys = [y for _, y in corners["rotated_box_corners"]]
    left, top, width, height = corners["mask_bbox_xywh"]

    def gemini(*box: float) -> list[int]:
        return _per_mille((box[0], box[1], box[2], box[3]), 640, 480)

    return {
        "part_0001.jpg": [
            ("scratch", gemini(115, 145, 235, 195)),
            ("dent", gemini(400, 260, 470, 320)),
        ],
        "part_0002.jpg": [  # reference_point is three bare points: no box
            ("paint_chip", gemini(295, 190, 365, 255)),
            ("scratch", gemini(100, 310, 300, 350)),
        ],
        "part_0003.jpg": [
            ("scratch", gemini(min(xs), min(ys), max(xs), max(ys))),
            ("dent", gemini(left, top, left + width, top + height)),  # [left, left+width)
            ("weld_seam", gemini(60, 440, 580, 440)),
        ],
        "part_0004.jpg": [],  # a tag only: a clean part
        "part_0005.jpg": [],
    }


def _manifest_video() -> dict[str, list[Box]]:
    def gemini(*box: float) -> list[int]:
        return _per_mille((box[0], box[1], box[2], box[3]), 640, 480)

    scratch = {0: 100, 1: 130, 2: 160, 3: 190}  # xtl per frame; outside on frame 4
    dent = {2: 400, 3: 430, 4: 460}
    return {
        f"frame_{frame:06d}": [
            *(
                [("scratch", gemini(scratch[frame], 190, scratch[frame] + 80, 235))]
                if frame in scratch
                else []
            ),
            *([("dent", gemini(dent[frame], 300, dent[frame] + 50, 340))] if frame in dent else []),
        ]
        for frame in range(5)
    }


def test_metal_parts_images_with_their_own_images(tmp_path: Path) -> None:
    """The real preset, images embedded from the export's images/ folder."""
    got = _answers(DATUMARO / "metal_parts_cvat_images", "qc-defects")
    _assert_same(got, _manifest_images())


def test_metal_parts_video_tracks_per_frame(tmp_path: Path) -> None:
    got = _answers(DATUMARO / "metal_parts_cvat_video" / "default.xml", _text_only_qc(tmp_path))
    _assert_same(got, _manifest_video())


def test_qc_defects_lists_only_the_labels_drawn_as_areas() -> None:
    """MANIFEST's label set: scratch, dent, paint_chip and weld_seam are drawn as shapes with an
    area or extent; reference_point only as points, defective and ok only as tags. The labels
    are declared with type `any`, so a first pass decides; the order is the declared one."""
    conversion = convert(DATUMARO / "metal_parts_cvat_images", "qc-defects")
    system = next(iter(conversion)).messages[0].content
    text = system if isinstance(system, str) else system[0].text  # type: ignore[union-attr]
    assert text.endswith("Defects: scratch, dent, paint_chip, weld_seam.")


def test_a_classification_preset_lists_the_tag_labels(tmp_path: Path) -> None:
    mapping = tmp_path / "tags.yaml"
    mapping.write_text(
        "version: 1\nextends: email-classification\nfields: {label: {kind: tag}}\n"
        "user: Is this part defective?\n"
    )
    conversion = convert(DATUMARO / "metal_parts_cvat_images", mapping)
    system = next(iter(conversion)).messages[0].content
    assert isinstance(system, str)
    assert "defective, ok" in system and "scratch" not in system


# --- the public exports: the XML's own shapes are the truth -----------------------------------


def _envelope(shape: ET.Element) -> tuple[float, float, float, float] | None:
    """FORMAT.md §7-8, independently: the pixel envelope of one shape, None for no area."""
    a = {key: float(value) for key, value in shape.attrib.items() if _is_number(value)}
    if shape.tag == "box":
        cx, cy = (a["xtl"] + a["xbr"]) / 2, (a["ytl"] + a["ybr"]) / 2
        corners = [
            (a["xtl"], a["ytl"]),
            (a["xbr"], a["ytl"]),
            (a["xbr"], a["ybr"]),
            (a["xtl"], a["ybr"]),
        ]
        turn = math.radians(a.get("rotation", 0.0))
        points = [
            (
                cx + (x - cx) * math.cos(turn) - (y - cy) * math.sin(turn),
                cy + (x - cx) * math.sin(turn) + (y - cy) * math.cos(turn),
            )
            for x, y in corners
        ]
    elif shape.tag in ("polygon", "polyline"):
        points = [
            (float(x), float(y))
            for x, y in (pair.split(",") for pair in shape.attrib["points"].strip(";").split(";"))
        ]
    elif shape.tag == "ellipse":
        assert not a.get("rotation"), "no rotated ellipse in these fixtures"
        points = [(a["cx"] - a["rx"], a["cy"] - a["ry"]), (a["cx"] + a["rx"], a["cy"] + a["ry"])]
    elif shape.tag == "mask":
        return _painted(shape)
    else:
        assert shape.tag in ("points", "skeleton", "tag"), shape.tag  # no area: not boxed
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def _painted(mask: ET.Element) -> tuple[float, float, float, float] | None:
    """Decode CVAT's RLE (row-major over the crop, background first) and box the 1-pixels,
    each covering [x, x+1)."""
    left, top, width = (int(float(mask.attrib[k])) for k in ("left", "top", "width"))
    cells, offset, value = [], 0, 0
    for run in (int(n) for n in mask.attrib["rle"].split(",")):
        if value:
            cells += [divmod(offset + k, width) for k in range(run)]
        offset, value = offset + run, value ^ 1
    if not cells:
        return None
    rows, cols = [r for r, _ in cells], [c for _, c in cells]
    return left + min(cols), top + min(rows), left + max(cols) + 1, top + max(rows) + 1


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _xml_truth(path: Path) -> dict[str, list[Box]]:
    root = ET.parse(path).getroot()
    truth: dict[str, list[Box]] = {}
    for image in root.iter("image"):
        width, height = float(image.attrib["width"]), float(image.attrib["height"])
        name = image.attrib["name"]
        key = f"{image.attrib['subset']}/{name}" if "subset" in image.attrib else name
        boxes = truth.setdefault(key, [])
        for shape in image:
            envelope = _envelope(shape)
            if envelope is not None:
                boxes.append((shape.attrib["label"], _per_mille(envelope, width, height)))
    size = root.find("meta/task/original_size")
    for track in root.iter("track"):
        assert size is not None
        width, height = float(size.findtext("width", "")), float(size.findtext("height", ""))
        for shape in track:
            if shape.attrib.get("outside") == "1":
                continue
            envelope = _envelope(shape)
            key = f"frame_{int(shape.attrib['frame']):06d}"
            boxes = truth.setdefault(key, [])
            if envelope is not None:
                boxes.append((track.attrib["label"], _per_mille(envelope, width, height)))
    return truth


@pytest.mark.parametrize("path", PUBLIC_XML, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_public_export(tmp_path: Path, path: Path) -> None:
    got = _answers(path, _text_only_qc(tmp_path))
    truth = _xml_truth(path)
    # Frames the task has but no track touches are negatives the XML does not list.
    _assert_same({k: v for k, v in got.items() if k in truth or v}, truth)
    assert sum(len(v) for v in truth.values()) > 0 or "cveta2" in str(path)


def test_the_public_video_finds_its_lower_case_png_frames() -> None:
    """datumaro's for_video export saved `frame_000010.png`; CVAT's rule names `.PNG`. Frame
    19 is the task's last frame, with no image saved: that task alone is rejected."""
    path = FIXTURES / "public/datumaro/tests/assets/cvat_dataset/for_video/annotations.xml"
    conversion = convert(path, "qc-defects")
    written = [example.id for example in conversion]
    assert written == ["frame_000010", "frame_000013", "frame_000016"]
    assert [(r.id, r.reason) for r in conversion.rejects] == [("frame_000019", "image_not_found")]
