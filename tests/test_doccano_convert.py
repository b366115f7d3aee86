"""Doccano exports through `convert` and the CLI with the packaged presets, no custom mapping.

Expected messages are computed from the fixtures' `ground_truth.json` and MANIFEST.md (the
images are 64x48 px, MANIFEST "picture content") with the rules of DESIGN §8 and §11, never
from the converter's output.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

import jsonl_bridge as jb
from jsonl_bridge.cli import app

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*doccano's CSV joins several labels"),
    pytest.mark.filterwarnings("ignore:.*a collaborative doccano export"),
]
FIXTURES = Path(__file__).parent / "fixtures" / "doccano"
WIDTH, HEIGHT = 64, 48
"""Every fixture image's size (MANIFEST.md: "generated with Pillow, 64x48 px")."""


def _truth(project: str) -> dict[str, Any]:
    text = (FIXTURES / project / "ground_truth.json").read_text(encoding="utf-8")
    truth: dict[str, Any] = json.loads(text)
    return truth


def _export(project: str, name: str) -> Path:
    return FIXTURES / project / "exports" / f"{name}.zip"


def _convert(source: Path, mapping: str | Path, **kwargs: Any) -> tuple[list[Any], Any]:
    conversion = jb.convert(source, mapping, **kwargs)
    examples = list(conversion)
    return examples, conversion


def _text_of(content: Any) -> str:
    return content if isinstance(content, str) else str(content[0].text)


def _dumped(examples: list[Any]) -> list[list[dict[str, Any]]]:
    return [[msgspec.to_builtins(m) for m in e.messages] for e in examples]


# --- email-classification on document classification, in every format --------------------


@pytest.mark.parametrize(
    "name", ["JSONL__individual__all", "JSON__individual__all", "CSV__individual__all",
             "fastText__individual__all"],
)  # fmt: skip
def test_email_classification_on_every_format(name: str) -> None:
    truth = _truth("document-classification")
    labels = ", ".join(sorted(truth["label_types"]["cat"]))
    system = (
        f"Classify the customer e-mail into exactly one of these categories: {labels}. "
        'Answer in the form "Classification: <category>".'
    )
    expected, disagreeing, unlabeled = [], [], 0
    for example in sorted(truth["examples"], key=lambda e: e["example_id"]):
        answers = {", ".join(v) for v in example["labels_by_user"].values() if v}
        if not answers:
            unlabeled += 1
        elif len(answers) == 1:
            expected.append((example["text"], f"Classification: {answers.pop()}"))
        else:
            disagreeing.append(tuple(sorted(u for u, v in example["labels_by_user"].items() if v)))
    examples, conversion = _convert(
        _export("document-classification", name), "email-classification"
    )
    got = [(e.messages[1].content, e.messages[2].content) for e in examples]
    assert sorted(got) == sorted(expected)  # fastText keeps no ids, so no order either
    assert {e.messages[0].content for e in examples} == {system}
    assert conversion.report.unannotated == unlabeled
    assert [r.reason for r in conversion.rejects] == ["disagreement"] * len(disagreeing)
    assert sorted(tuple(r.annotators) for r in conversion.rejects) == sorted(disagreeing)


# --- summarization on seq2seq ----------------------------------------------------------------


def test_summarization_on_the_collaborative_export_joins_every_summary() -> None:
    truth = _truth("seq2seq")
    expected = [
        (e["text"], "\n".join(sorted(t for texts in e["texts_by_user"].values() for t in texts)))
        for e in sorted(truth["examples"], key=lambda e: e["example_id"])
        if any(e["texts_by_user"].values())
    ]
    examples, _ = _convert(_export("seq2seq", "JSONL__collaborative__all"), "summarization")
    assert [(e.messages[1].content, e.messages[2].content) for e in examples] == expected
    assert {e.messages[0].content for e in examples} == {
        "Summarize the text in a few short sentences."
    }


def test_summarization_of_one_user_by_name(tmp_path: Path) -> None:
    mapping = tmp_path / "ben.yaml"
    mapping.write_text("version: 1\nextends: summarization\nselect: annotator:ben\n", "utf-8")
    truth = _truth("seq2seq")
    expected = {
        str(e["example_id"]): "\n".join(e["texts_by_user"]["ben"])
        for e in truth["examples"]
        if e["texts_by_user"]["ben"]
    }
    examples, conversion = _convert(_export("seq2seq", "JSONL__individual__all"), mapping)
    assert {e.id: e.messages[-1].content for e in examples} == expected
    assert conversion.rejects == []


# --- qc-defects on bounding boxes, with the images --------------------------------------------


def _box_2d(box: dict[str, float]) -> list[int]:
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    return [
        round(y / HEIGHT * 1000),
        round(x / WIDTH * 1000),
        round((y + h) / HEIGHT * 1000),
        round((x + w) / WIDTH * 1000),
    ]


def _defects(boxes: list[dict[str, Any]]) -> str:
    ordered = sorted(boxes, key=lambda b: b["annotation_id"])  # doccano's database order
    return json.dumps([{"box_2d": _box_2d(b), "label": b["label"]} for b in ordered])


def test_qc_defects_through_the_cli_with_images(tmp_path: Path) -> None:
    out = tmp_path / "qc.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jsonl_bridge",
            "convert",
            str(_export("bounding-box", "JSONL__collaborative__all")),
            "-m",
            "qc-defects",
            "--images",
            str(FIXTURES / "bounding-box" / "imported"),
            "-o",
            str(out),
        ],
        capture_output=True,
        cwd=tmp_path,  # `-m` puts cwd on sys.path: never the source checkout
        text=True,
    )
    assert result.returncode == 0, result.stderr
    truth = _truth("bounding-box")
    expected = [
        (e["upload_name"], _defects([b for boxes in e["boxes_by_user"].values() for b in boxes]))
        for e in sorted(truth["examples"], key=lambda e: e["example_id"])
        if any(e["boxes_by_user"].values())
    ]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    got = []
    for row in rows:
        user, assistant = row["messages"][1], row["messages"][2]
        url = user["content"][1]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        name = next(
            p.name
            for p in (FIXTURES / "bounding-box" / "imported").iterdir()
            if p.read_bytes() == base64.b64decode(url.partition(",")[2])
        )
        got.append((name, assistant["content"][0]["text"]))
    assert got == expected
    # b2, anna's DENT: x=30 y=20 w=10 h=10 on 64x48, worked out by hand
    assert '{"box_2d": [417, 469, 625, 625], "label": "DENT"}' in got[0][1]
    assert "without annotations: 1" in result.stderr


def test_qc_defects_for_one_annotator_across_the_per_user_files(tmp_path: Path) -> None:
    mapping = tmp_path / "anna.yaml"
    mapping.write_text("version: 1\nextends: qc-defects\nselect: annotator:anna\n", "utf-8")
    images = FIXTURES / "bounding-box" / "imported"
    examples, conversion = _convert(
        _export("bounding-box", "JSONL__individual__all"), mapping, images=[images]
    )
    truth = _truth("bounding-box")
    expected = {
        str(e["example_id"]): _defects(e["boxes_by_user"]["anna"])
        for e in truth["examples"]
        if e["boxes_by_user"]["anna"]
    }
    assert {e.id: _text_of(e.messages[-1].content) for e in examples} == expected
    assert conversion.report.unannotated == 1


def test_qc_defects_without_images_rejects_each_task_and_names_the_image() -> None:
    examples, conversion = _convert(
        _export("bounding-box", "JSONL__collaborative__all"), "qc-defects"
    )
    assert examples == []
    assert [r.reason for r in conversion.rejects] == ["image_not_found"] * 2
    assert "panel_02.png" in conversion.rejects[0].detail


# --- auto on image classification ------------------------------------------------------------


def test_auto_on_image_classification_sends_the_image_and_the_label() -> None:
    truth = _truth("image-classification")
    expected = {}
    for e in truth["examples"]:
        answers = {tuple(v) for v in e["labels_by_user"].values() if v}
        if len(answers) == 1 and len(next(iter(answers))) == 1:
            expected[e["upload_name"]] = next(iter(answers))[0]
    images = FIXTURES / "image-classification" / "imported"
    examples, _ = _convert(
        _export("image-classification", "JSONL__individual__all"), "auto", images=[images]
    )
    got = {}
    for example in _dumped(examples):
        user, assistant = example
        url = user["content"][0]["image_url"]["url"]
        name = next(
            p.name for p in images.iterdir() if p.read_bytes() == base64.b64decode(url[22:])
        )
        got[name] = assistant["content"][0]["text"]
    assert got == expected
    assert "widget_05_ünïcode.png" in got


# --- options and warnings through the CLI and the API ------------------------------------------


def test_cli_inspect_passes_the_offsets_option() -> None:
    source = FIXTURES / "sequence-labeling" / "exports" / "JSONL__collaborative__relations__all.zip"
    result = CliRunner().invoke(
        app, ["inspect", str(source), "--records", "--option", "offsets=codepoints"]
    )
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    s4 = next(record for record in records if record["id"] == "28")
    texts = {r["text"] for a in s4["annotations"] for r in a["regions"] if r["type"] == "span"}
    assert texts == {"ZX-9", "$12.00", "2025-01-31"}
    bad = CliRunner().invoke(app, ["inspect", str(source), "--option", "offsets=bytes"])
    assert bad.exit_code == 2 and "offsets" in bad.stderr


def test_convert_warns_about_hash_joined_csv_labels() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert(_export("seq2seq", "CSV__individual__all"), "summarization")
    assert any("'#'" in str(w.message) for w in caught)


# --- structured-extraction on sequence labeling ----------------------------------------------


def _extraction(spans: list[dict[str, Any]]) -> dict[str, Any]:
    """The preset's answer: span label → its text, a list when several (preset comment)."""
    answer: dict[str, Any] = {}
    for span in sorted(spans, key=lambda s: s["start_offset"]):
        texts = answer.setdefault(span["label"], [])
        texts.append(span["text"])
    return {label: texts[0] if len(texts) == 1 else texts for label, texts in answer.items()}


@pytest.mark.parametrize(
    "name", ["JSONL__individual__no-relations__all", "JSONL__individual__relations__all"]
)
def test_structured_extraction_on_sequence_labeling_for_one_user(tmp_path: Path, name: str) -> None:
    mapping = tmp_path / "anna.yaml"
    mapping.write_text(
        "version: 1\nextends: structured-extraction\nselect: annotator:anna\n", "utf-8"
    )
    truth = _truth("sequence-labeling")
    expected = {
        str(e["example_id"]): (e["text"], _extraction(e["by_user"]["anna"]["spans"]))
        for e in truth["examples"]
        if e["by_user"]["anna"]["spans"]
    }
    examples, conversion = _convert(
        _export("sequence-labeling", name), mapping, options={"offsets": "codepoints"}
    )
    got = {e.id: (e.messages[1].content, json.loads(e.messages[2].content)) for e in examples}
    assert got == expected
    assert got["28"][1]["INVOICE_ID"] == "ZX-9"  # s4, after its two emoji
    keys = ", ".join(sorted(truth["label_types"]["span"]))
    assert f"The keys are: {keys}." in examples[0].messages[0].content
    assert conversion.rejects == []


# --- cad-code on image captioning ---------------------------------------------------------------

CAD_INSTRUCTION = "Write OpenSCAD (or CadQuery) code that reproduces this drawing."
"""cad-code's instruction when the task has no `instruction` field (mappings/cad-code.yaml)."""


def _captioning(tmp_path: Path, captions: dict[str, str]) -> Path:
    """An image-captioning export (README "Export structures": `filename` + `label` texts),
    one user, one row per fixture image."""
    rows = [
        {"id": ident, "filename": name, "label": [caption], "Comments": []}
        for ident, (name, caption) in enumerate(captions.items(), start=50)
    ]
    path = tmp_path / "anna.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_cad_code_on_captioning_sends_the_drawing_and_answers_the_caption(tmp_path: Path) -> None:
    images = FIXTURES / "bounding-box" / "imported"
    code = {
        "panel_01.png": "difference() {\n  cube([64, 48, 2]);\n  translate([9, 9, -1]) cube(9);\n}",
        "panel_02.png": "cube([64, 48, 2]);\n// no cut-outs",
    }
    examples, conversion = _convert(_captioning(tmp_path, code), "cad-code", images=[images])
    assert conversion.rejects == []
    got = {}
    for example in _dumped(examples):
        system, user, assistant = example
        assert system["content"][0]["text"].startswith("You are a CAD engineer.")
        instruction, image = user["content"]
        assert instruction == {"type": "text", "text": CAD_INSTRUCTION}
        sent = base64.b64decode(image["image_url"]["url"].partition(",")[2])
        name = next(p.name for p in images.iterdir() if p.read_bytes() == sent)
        got[name] = assistant["content"][0]["text"]
    assert got == code


def test_one_line_captions_need_label_kind_text_and_the_reject_says_so(tmp_path: Path) -> None:
    images = FIXTURES / "bounding-box" / "imported"
    export = _captioning(tmp_path, {"panel_03.png": "cube([64, 48, 2]);"})  # a category name?
    examples, conversion = _convert(export, "cad-code", images=[images])
    assert examples == []
    assert [r.reason for r in conversion.rejects] == ["field"]
    assert "try `--option label_kind=text`" in conversion.rejects[0].detail
    examples, _ = _convert(export, "cad-code", images=[images], options={"label_kind": "text"})
    assert [_dumped(examples)[0][2]["content"][0]["text"]] == ["cube([64, 48, 2]);"]
