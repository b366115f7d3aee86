"""Golden tests of the image presets on the real Label Studio image projects.

Expected boxes are computed here from each project's answer key (manifest.json: the pixel
geometry the fixture author chose, `_px`), with this file's own envelope math, never from
saved output. Images are checked by decoding the data URLs the examples carry.
"""

from __future__ import annotations

import base64
import io
import json
import math
import threading
from collections.abc import Iterator
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageOps

import jsonl_bridge as jb

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
QC = FIXTURES / "qc-defects"
CAD = FIXTURES / "cad-code"
QC_ROOTS = [QC / "media" / "upload", QC / "external"]


def manifest(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "manifest.json").read_text(encoding="utf-8"))
    return data


def task_of(project: Path, name: str) -> dict[str, Any]:
    task: dict[str, Any] = manifest(project)["tasks"][name]
    return task


def px_envelope(px: dict[str, Any]) -> tuple[float, float, float, float]:
    """The answer key's shape → its axis-aligned envelope, clamped to the image."""
    width, height = px["image_wh"]
    if "points" in px:
        xs = [p[0] for p in px["points"]]
        ys = [p[1] for p in px["points"]]
    else:  # rotation clockwise (y down) about the top-left corner
        theta = math.radians(px["rotation_deg"])
        corners = [(0, 0), (px["w"], 0), (px["w"], px["h"]), (0, px["h"])]
        xs = [px["x"] + cx * math.cos(theta) - cy * math.sin(theta) for cx, cy in corners]
        ys = [px["y"] + cx * math.sin(theta) + cy * math.cos(theta) for cx, cy in corners]
    return (
        max(min(xs), 0),
        max(min(ys), 0),
        min(max(xs), width),
        min(max(ys), height),
    )


def box_2d(px: dict[str, Any]) -> list[float]:
    """Gemini's [ymin, xmin, ymax, xmax] per mille of the image, before rounding."""
    width, height = px["image_wh"]
    x1, y1, x2, y2 = px_envelope(px)
    return [y1 / height * 1000, x1 / width * 1000, y2 / height * 1000, x2 / width * 1000]


def assert_boxes(answer: str, annotation: dict[str, Any]) -> None:
    got = json.loads(answer)
    want = [r["_px"] for r in annotation["raw"]]
    assert [b["label"] for b in got] == [px["label"] for px in want]  # source order
    for box, px in zip(got, want, strict=True):
        assert all(isinstance(v, int) for v in box["box_2d"])
        assert box["box_2d"] == pytest.approx(box_2d(px), abs=1)
    assert answer == json.dumps(got)  # json.dumps default separators


def decoded(url: str) -> tuple[str, bytes]:
    header, _, payload = url.partition(",")
    assert header.startswith("data:") and header.endswith(";base64")
    return header[5:-7], base64.b64decode(payload, validate=True)


def image_of(example: Any) -> tuple[str, bytes]:
    user = example.messages[-2].content
    parts = [p for p in user if p.type == "image_url"]
    assert len(parts) == 1
    mime, data = decoded(parts[0].image_url.url)
    return mime, data


def convert_qc(source: Path = QC / "export.json", **kwargs: Any) -> tuple[dict[str, Any], Any]:
    options = {"label_config": str(QC / "config.xml")}
    conversion = jb.convert(source, "qc-defects", images=QC_ROOTS, options=options, **kwargs)
    return {e.id: e for e in conversion}, conversion


def test_qc_defects_examples_follow_the_answer_key() -> None:
    examples, conversion = convert_qc()
    rejects = {r.id: r.reason for r in conversion.rejects}
    assert sorted(examples) == ["27", "29", "30", "33"]  # q1, q3, q4, q6
    assert rejects == {"28": "disagreement", "32": "image_refused"}  # q2 two inspectors; q5 http
    assert conversion.report.unannotated == 1  # q7
    q1 = task_of(QC, "q1")
    truth = next(a for a in q1["annotations"] if a["ground_truth"])
    assert_boxes(examples["27"].messages[-1].content[0].text, truth)
    for name, task_id in (("q3", "29"), ("q4", "30"), ("q6", "33")):
        (only,) = [a for a in task_of(QC, name)["annotations"] if not a["was_cancelled"]]
        assert_boxes(examples[task_id].messages[-1].content[0].text, only)


def test_qc_defects_messages_are_parts_lists_as_the_service_shows() -> None:
    examples, _ = convert_qc()
    line = examples["27"].to_json_dict()
    system, user, assistant = line["messages"]
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
    assert system["content"][0]["type"] == "text" and len(system["content"]) == 1
    assert "Defects: scratch, dent, paint_chip." in system["content"][0]["text"]
    assert user["content"][0] == {
        "type": "text",
        "text": "Analyze the image of the metal component and output the JSON list of defects.",
    }
    assert user["content"][1]["type"] == "image_url"
    assert set(user["content"][1]["image_url"]) == {"url"}
    assert assistant["content"] == [{"type": "text", "text": assistant["content"][0]["text"]}]


def test_png_within_the_limits_passes_through_byte_for_byte() -> None:
    examples, conversion = convert_qc()
    stored = QC / "media" / "upload" / "6"
    assert image_of(examples["27"]) == (
        "image/png",
        (stored / "6bc7734c-qc_part_01.png").read_bytes(),
    )
    wide = image_of(examples["30"])  # 800x300 keeps its aspect
    assert wide == ("image/png", (stored / "5f33ec3c-qc_part_04_wide.png").read_bytes())
    local = QC / "external" / "dataset1" / "qc_part_06_local.png"  # /data/local-files/?d=...
    assert image_of(examples["33"]) == ("image/png", local.read_bytes())
    assert conversion.report.images_embedded == 4
    assert conversion.report.images_reencoded == 1  # only the EXIF JPEG


def test_the_exif_rotated_jpeg_is_sent_as_the_annotator_saw_it() -> None:
    """Stored 640x480 with Orientation=6, annotated on the displayed 480x640: the image is sent
    transposed, and its boxes (checked above) are in that displayed orientation."""
    examples, _ = convert_qc()
    mime, data = image_of(examples["29"])
    sent = Image.open(io.BytesIO(data))
    assert mime == "image/jpeg" and sent.format == "JPEG"
    assert sent.size == (480, 640)
    assert sent.getexif().get(0x0112) in (None, 1)  # no orientation left to apply twice
    stored = Image.open(QC / "media" / "upload" / "6" / "781e75a6-qc_part_03_exif6.jpg")
    displayed = ImageOps.exif_transpose(stored).convert("RGB")
    difference = ImageChops.difference(displayed, sent.convert("RGB")).getextrema()
    assert max(high for _, high in difference) < 48  # JPEG noise, not a rotated picture
    wrong_way = stored.convert("RGB").transpose(Image.Transpose.ROTATE_90)  # turned the other way
    mismatch = ImageChops.difference(wrong_way, sent.convert("RGB")).getextrema()
    assert max(high for _, high in mismatch) >= 48


def test_downscaled_images_keep_their_boxes_relative_and_qwen_counts_sent_pixels(
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nextends: qc-defects\nimages: {max_side: 400}\n"
        "assistant: \"{{ regions | boxes('gemini') }}|{{ regions | boxes('qwen') }}\"\n"
    )
    conversion = jb.convert(QC / "export.json", mapping, images=QC_ROOTS)
    examples = {e.id: e for e in conversion}
    _, data = image_of(examples["30"])
    assert Image.open(io.BytesIO(data)).size == (400, 150)  # 800x300, aspect kept
    gemini, qwen = examples["30"].messages[-1].content[0].text.split("|")
    (only,) = task_of(QC, "q4")["annotations"]
    assert_boxes(gemini, only)  # per mille: unchanged by the resize
    for box, item in zip(json.loads(qwen), only["raw"], strict=True):
        x1, y1, x2, y2 = px_envelope(item["_px"])
        assert box["bbox_2d"] == pytest.approx([x1 / 2, y1 / 2, x2 / 2, y2 / 2], abs=1)


@pytest.fixture
def served_png() -> Iterator[str]:
    """The http image of q5, served on 127.0.0.1 by this test (the URL's port is rewritten)."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(QC / "external"))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_http_image_is_refused_by_default_and_embedded_when_allowed(
    tmp_path: Path, served_png: str
) -> None:
    export = tmp_path / "export.json"
    tasks = json.loads((QC / "export.json").read_text(encoding="utf-8"))
    (q5,) = [t for t in tasks if t["data"]["image"].startswith("http://127.0.0.1:8766/")]
    q5["data"]["image"] = q5["data"]["image"].replace("http://127.0.0.1:8766", served_png)
    export.write_text(json.dumps(tasks), encoding="utf-8")
    _, refused = convert_qc(export, allow_remote=True)  # loopback needs the second flag too
    assert {r.id: r.reason for r in refused.rejects}["32"] == "image_refused"
    examples, allowed = convert_qc(export, allow_remote=True, allow_private_hosts=True)
    assert "32" not in {r.id for r in allowed.rejects}
    expected = (QC / "external" / "qc_part_05_http.png").read_bytes()
    assert image_of(examples["32"]) == ("image/png", expected)
    (only,) = task_of(QC, "q5")["annotations"]
    assert_boxes(examples["32"].messages[-1].content[0].text, only)


def test_without_image_roots_every_image_task_is_rejected_saying_what_to_pass() -> None:
    conversion = jb.convert(QC / "export.json", "qc-defects")
    assert list(conversion) == []
    reasons = {r.id: r.reason for r in conversion.rejects}
    assert reasons["27"] == "image_not_found"
    detail = next(r.detail for r in conversion.rejects if r.id == "27")
    assert "--images" in detail and "/data/upload/6/6bc7734c-qc_part_01.png" in detail


def test_a_missing_or_broken_image_rejects_only_its_task(tmp_path: Path) -> None:
    root = tmp_path / "upload" / "6"
    root.mkdir(parents=True)
    stored = QC / "media" / "upload" / "6"
    (root / "6bc7734c-qc_part_01.png").write_bytes(
        (stored / "6bc7734c-qc_part_01.png").read_bytes()[:900]
    )
    (root / "5f33ec3c-qc_part_04_wide.png").write_bytes(b"not an image at all")
    jpeg = stored / "781e75a6-qc_part_03_exif6.jpg"
    (root / jpeg.name).write_bytes(jpeg.read_bytes())
    conversion = jb.convert(QC / "export.json", "qc-defects", images=[tmp_path / "upload"])
    examples = {e.id for e in conversion}
    reasons = {r.id: r.reason for r in conversion.rejects}
    assert examples == {"29"}
    assert reasons["27"] == "image_invalid"  # truncated
    assert reasons["30"] == "image_invalid"  # not an image
    assert reasons["33"] == "image_not_found"
    assert conversion.report.rejected["image_invalid"] == 2


def test_cad_code_examples_follow_the_answer_key() -> None:
    conversion = jb.convert(CAD / "export.json", "cad-code", images=[CAD / "media" / "upload"])
    examples = {e.id: e for e in conversion}
    assert conversion.rejects == [] and conversion.report.unannotated == 1  # cad_06
    key = manifest(CAD)["tasks"]
    assert sorted(examples, key=int) == [
        str(t["task_id"]) for t in key.values() if t["annotations"]
    ]
    for task in key.values():
        if not task["annotations"]:
            continue
        chosen = next((a for a in task["annotations"] if a["ground_truth"]), task["annotations"][0])
        example = examples[str(task["task_id"])]
        code = "\n".join(t for r in chosen["raw"] for t in r["value"]["text"])
        assert example.messages[-1].content[0].text == code  # tabs, quotes, backslashes kept
        stored = CAD / "media" / "upload" / task["data"]["image"].removeprefix("/data/upload/")
        mime, data = image_of(example)
        assert data == stored.read_bytes()
        assert mime == ("image/jpeg" if stored.suffix == ".jpg" else "image/png")
        assert example.messages[1].content[0].text == (
            "Write OpenSCAD (or CadQuery) code that reproduces this drawing."
        )


def test_flat_formats_give_the_same_boxes_as_json_for_a_single_annotator_task() -> None:
    """q4 has one annotator: JSON_MIN, CSV and TSV (with the config) must agree with JSON."""
    json_examples, _ = convert_qc()
    for fmt in ("export_min.json", "export.csv", "export.tsv"):
        examples, _ = convert_qc(QC / fmt)
        assert examples["30"].to_json_dict() == json_examples["30"].to_json_dict()


def _edited_export(tmp_path: Path, task_id: int, **data: Any) -> tuple[Path, dict[str, Any]]:
    """A copy of the qc-defects export with one task's data changed."""
    tasks = json.loads((QC / "export.json").read_text(encoding="utf-8"))
    (task,) = [t for t in tasks if t["id"] == task_id]
    task["data"].update(data)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    return export, task


def test_an_image_task_never_becomes_a_text_only_example(tmp_path: Path) -> None:
    """A blank image reference must reject the task: boxes without their image are poison."""
    export, _ = _edited_export(tmp_path, 27, image=" ")
    examples, conversion = convert_qc(export)
    assert "27" not in examples
    reject = next(r for r in conversion.rejects if r.id == "27")
    assert reject.reason == "image_not_found" and "rendered empty" in reject.detail


def test_regions_on_two_images_are_not_sent_with_one_of_them(tmp_path: Path) -> None:
    second = "/data/upload/6/a36a6e21-qc_part_07_clean.png"
    export, task = _edited_export(tmp_path, 27, image2=second)
    for annotation in task["annotations"]:
        annotation["result"][-1]["to_name"] = "image2"  # the polygon now lies on image2
    tasks = json.loads(export.read_text(encoding="utf-8"))
    tasks[[t["id"] for t in tasks].index(27)] = task
    export.write_text(json.dumps(tasks), encoding="utf-8")
    conversion = jb.convert(export, "qc-defects", images=QC_ROOTS)
    examples = {e.id for e in conversion}
    assert "27" not in examples
    reasons = {r.id: r.reason for r in conversion.rejects}
    assert reasons["27"] in ("template", "image_not_found")


def test_a_file_of_another_size_than_annotated_is_refused(tmp_path: Path) -> None:
    """A half-size copy keeps the aspect ratio, but pixel boxes would fall outside it."""
    root = tmp_path / "upload" / "6"
    root.mkdir(parents=True)
    stored = QC / "media" / "upload" / "6" / "6bc7734c-qc_part_01.png"
    Image.open(stored).resize((320, 240)).save(root / stored.name)
    conversion = jb.convert(QC / "export.json", "qc-defects", images=[tmp_path / "upload"])
    assert "27" not in {e.id for e in conversion}
    reject = next(r for r in conversion.rejects if r.id == "27")
    assert reject.reason == "image_invalid"
    assert "annotated on 640x480 pixels, but the file shows 320x240" in reject.detail


def test_private_hosts_without_remote_is_a_usage_error() -> None:
    with pytest.raises(jb.UsageError, match="only widens --allow-remote"):
        jb.convert(QC / "export.json", "qc-defects", allow_private_hosts=True)


def test_a_clean_part_is_a_negative_example_unless_skip_empty(tmp_path: Path) -> None:
    """q7 annotated with no region: `[]` is written; --skip-empty leaves it out, counted."""
    tasks = json.loads((QC / "export.json").read_text(encoding="utf-8"))
    (q7,) = [t for t in tasks if t["id"] == 31]
    q7["annotations"] = [
        {"id": 99, "completed_by": 1, "result": [], "was_cancelled": False, "ground_truth": False}
    ]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    examples, conversion = convert_qc(export)
    assert examples["31"].messages[-1].content[0].text == "[]"
    assert conversion.report.unannotated == 0
    skipped, conversion = convert_qc(export, skip_empty=True)
    assert "31" not in skipped and set(skipped) == set(examples) - {"31"}
    assert conversion.report.skipped_empty == 1 and "31" not in {r.id for r in conversion.rejects}


@pytest.mark.parametrize("workers", [1, 2])
def test_an_image_is_read_and_encoded_once_per_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """qwen boxes need the size as sent while rendering, and the mapping sends the image
    twice: still one read and one encoding of each task's image, whether images are
    prepared ahead for worker processes or not."""
    from jsonl_bridge import embed, resolve

    reads: list[str] = []
    encodings: list[str] = []
    real_read, real_pass = resolve.ImageResolver.read, embed.pass_through

    def counting_read(self: Any, uri: str) -> bytes:
        reads.append(uri)
        return real_read(self, uri)

    def counting_pass(data: bytes, spec: Any, *, name: str) -> Any:
        encodings.append(name)  # every embedding starts here (re-encoding follows if needed)
        return real_pass(data, spec, name=name)

    monkeypatch.setattr(resolve.ImageResolver, "read", counting_read)
    monkeypatch.setattr(embed, "pass_through", counting_pass)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nextends: qc-defects\nselect: first\n"
        "user:\n  - image: '{{ image }}'\n  - image: '{{ image }}'\n"
        "assistant: \"{{ regions | boxes('qwen') }}\"\n"
    )
    conversion = jb.convert(QC / "export.json", mapping, images=QC_ROOTS, limit=2, workers=workers)
    examples = {e.id: e for e in conversion}
    assert sorted(examples) == ["27", "28"]
    assert (
        reads
        == encodings
        == [
            "/data/upload/6/6bc7734c-qc_part_01.png",
            "/data/upload/6/78f12596-qc_part_02.png",
        ]
    )
    assert conversion.report.images_embedded == 4  # two parts a task, from one encoding
