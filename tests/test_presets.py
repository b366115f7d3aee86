"""Every preset renders exactly the documented output (DESIGN §8) for records shaped like the
Label Studio fixtures' tasks (data copied from tests/fixtures MANIFEST.md), built by hand."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
import yaml

from jsonl_bridge.chat import ImagePart, ImageURL, TextPart
from jsonl_bridge.errors import UsageError
from jsonl_bridge.mapping import list_presets, load_mapping, preset_text
from jsonl_bridge.records import (
    Annotation,
    Box,
    Choice,
    Ellipse,
    ExportSchema,
    FieldSchema,
    Mask,
    MediaRef,
    Number,
    Points,
    Polygon,
    Record,
    Region,
    Relation,
    Source,
    Span,
    Text,
)
from jsonl_bridge.render import Renderer, infer_schema

SOURCE = Source(tool="label-studio", format="json", file="export.json", pointer="/[0]")
PRESETS = [
    "auto",
    "cad-code",
    "dialogue",
    "email-classification",
    "predictive-maintenance",
    "qc-defects",
    "structured-extraction",
    "summarization",
]


def task(task_id: str, data: dict[str, Any], *regions: Region, **kw: Any) -> Record:
    annotation = Annotation(id=f"a{task_id}", annotator="1", regions=list(regions))
    return Record(id=task_id, source=SOURCE, data=data, annotations=[annotation], **kw)


def run(preset: str, record: Record, schema: ExportSchema | None = None) -> list[tuple[str, Any]]:
    renderer = Renderer.compile(load_mapping(preset), schema)
    messages = renderer.render(record, record.annotations[0])
    return [(m.role, m.content) for m in messages]


# --- email-classification --------------------------------------------------------------------

EMAIL_SCHEMA = ExportSchema(
    fields={
        "category": FieldSchema(
            name="category",
            kind="choice",
            labels=["billing", "technical_support", "sales", "spam", "other"],
            target="text",
        )
    }
)
E1 = task(
    "1",
    {
        "subject": "Rechnung doppelt abgebucht",
        "sender": "juergen.weiss@example.de",
        "text": "Hallo, mir wurde die Rechnung Nr. 4711 für März zweimal abgebucht. Bitte "
        "erstatten Sie den doppelten Betrag. Grüße, Jürgen Weiß",
    },
    Choice(field="category", target="text", labels=["billing"]),
)
E3 = task(
    "3",
    {
        "subject": "Quote request",
        "sender": "procurement@example.ch",
        "text": "Hi, we'd like a quote for 250 seats of your Pro plan for our team in Zürich. "
        "Can you include volume discounts?",
    },
    Choice(field="category", target="text", labels=["sales"]),
)
EMAIL_SYSTEM = (
    "Classify the customer e-mail into exactly one of these categories: billing, "
    'technical_support, sales, spam, other. Answer in the form "Classification: <category>".'
)


def test_email_classification_e1() -> None:
    assert run("email-classification", E1, EMAIL_SCHEMA) == [
        ("system", EMAIL_SYSTEM),
        ("user", f"Subject: Rechnung doppelt abgebucht\n\n{E1.data['text']}"),
        ("assistant", "Classification: billing"),
    ]


def test_email_classification_e3_and_without_a_subject() -> None:
    assert run("email-classification", E3, EMAIL_SCHEMA)[1:] == [
        ("user", f"Subject: Quote request\n\n{E3.data['text']}"),
        ("assistant", "Classification: sales"),
    ]
    plain = msgspec.structs.replace(E3, data={"text": "Just text."})
    assert run("email-classification", plain, EMAIL_SCHEMA)[1] == ("user", "Just text.")


def test_email_classification_labels_from_a_first_pass_are_sorted() -> None:
    schema = infer_schema([E1, E3])
    system = run("email-classification", E1, schema)[0][1]
    assert "categories: billing, sales. Answer" in system


# --- summarization ---------------------------------------------------------------------------

S2_TEXT = (
    "Der Winterdienst der Stadt Würzburg räumt ab sofort auch Radwege. Bisher wurden nur "
    "Hauptstraßen geräumt. Die Stadt stellt dafür zwei zusätzliche Fahrzeuge bereit und "
    "rechnet mit Mehrkosten von 80.000 Euro pro Saison."
)


def test_summarization_s2_joins_two_entries_with_a_newline() -> None:
    s2 = task(
        "13",
        {"text": S2_TEXT},
        Text(field="summary", target="text", value="Würzburg räumt jetzt auch Radwege."),
        Text(
            field="summary",
            target="text",
            value="Zwei neue Fahrzeuge, ca. 80.000 € Mehrkosten pro Saison.",
        ),
    )
    assert run("summarization", s2) == [
        ("system", "Summarize the text in a few short sentences."),
        ("user", S2_TEXT),
        (
            "assistant",
            "Würzburg räumt jetzt auch Radwege.\n"
            "Zwei neue Fahrzeuge, ca. 80.000 € Mehrkosten pro Saison.",
        ),
    ]


def test_summarization_s3_keeps_an_embedded_newline() -> None:
    summary = "New open dataset: 5,000 industrial defect images.\nBaseline detector: 0.61 mAP."
    s3 = task("14", {"text": "Researchers released ..."}, Text(field="summary", value=summary))
    assert run("summarization", s3)[-1] == ("assistant", summary)


# --- dialogue --------------------------------------------------------------------------------

D1 = task(
    "17",
    {
        "system": "You are a helpful support assistant for ExampleShop. Answer briefly and "
        "politely.",
        "conv_id": "c-001",
        "dialogue": [
            {"author": "user", "text": "I forgot my password. How do I reset it?"},
            {
                "author": "assistant",
                "text": "You can reset it from the login page. Did you receive the reset e-mail?",
            },
            {"author": "user", "text": "No, nothing arrived."},
        ],
    },
    Text(
        field="reply",
        target="dialogue",
        value="Sorry about that! Please check your spam folder. If it is not there, I can "
        "resend the reset e-mail to the address on file.",
    ),
)


def test_dialogue_d1_system_from_data_history_and_reply() -> None:
    assert run("dialogue", D1) == [
        ("system", D1.data["system"]),
        ("user", "I forgot my password. How do I reset it?"),
        ("assistant", "You can reset it from the login page. Did you receive the reset e-mail?"),
        ("user", "No, nothing arrived."),
        ("assistant", D1.annotations[0].regions[0].value),  # type: ignore[union-attr]
    ]


def test_dialogue_without_a_task_system_uses_the_preset_system() -> None:
    data = {"dialogue": [{"author": "user", "text": "Do you ship to Österreich?"}]}
    record = task("21", data, Text(field="reply", value="Ja, wir liefern nach Österreich."))
    assert run("dialogue", record) == [
        ("system", "You are a helpful assistant. Reply to the user's last message."),
        ("user", "Do you ship to Österreich?"),
        ("assistant", "Ja, wir liefern nach Österreich."),
    ]


# --- structured-extraction -------------------------------------------------------------------

NER_SCHEMA = ExportSchema(
    fields={
        "label": FieldSchema(
            name="label", kind="span", labels=["PERSON", "ORG", "LOC", "DATE"], target="text"
        ),
        "relation": FieldSchema(name="relation", kind="relation", labels=["works_for"]),
    }
)
N2_TEXT = "Jürgen Klopp works for Liverpool FC in England."
N2 = task(
    "23",
    {"text": N2_TEXT},
    Span(
        field="label", target="text", id="O9", start=0, end=12, text="Jürgen Klopp", label="PERSON"
    ),
    Span(field="label", target="text", id="36", start=23, end=35, text="Liverpool FC", label="ORG"),
    Span(field="label", target="text", id="30", start=39, end=46, text="England", label="LOC"),
    Relation(field="relation", from_id="O9", to_id="36", labels=["works_for"]),
    Relation(field="relation", from_id="36", to_id="30", labels=["located_in"]),
)
EXTRACTION_SYSTEM = (
    "Extract the information from the text and answer with one JSON object. The keys are: "
    "PERSON, ORG, LOC, DATE. Each value is the text as it appears, a list of strings when there "
    "are several; leave out keys with nothing to extract."
)


def test_structured_extraction_n2() -> None:
    assert run("structured-extraction", N2, NER_SCHEMA) == [
        ("system", EXTRACTION_SYSTEM),
        ("user", N2_TEXT),
        ("assistant", '{"PERSON": "Jürgen Klopp", "ORG": "Liverpool FC", "LOC": "England"}'),
    ]
    answer = json.loads(run("structured-extraction", N2, NER_SCHEMA)[-1][1])
    assert answer == {"PERSON": "Jürgen Klopp", "ORG": "Liverpool FC", "LOC": "England"}


def test_structured_extraction_n1_several_spans_of_a_label_become_a_list() -> None:
    n1 = task(
        "22",
        {"text": "Angela Merkel met Tim Cook in Berlin on 3 May 2019."},
        Span(field="label", start=0, end=13, text="Angela Merkel", label="PERSON"),
        Span(field="label", start=18, end=26, text="Tim Cook", label="PERSON"),
        Span(field="label", start=30, end=36, text="Berlin", label="LOC"),
        Span(field="label", start=40, end=50, text="3 May 2019", label="DATE"),
    )
    assert run("structured-extraction", n1, NER_SCHEMA)[-1] == (
        "assistant",
        '{"PERSON": ["Angela Merkel", "Tim Cook"], "LOC": "Berlin", "DATE": "3 May 2019"}',
    )


def test_structured_extraction_keys_from_a_first_pass_and_field_names() -> None:
    system = run("structured-extraction", N2, infer_schema([N2]))[0][1]
    assert "The keys are: LOC, ORG, PERSON." in system
    assert run("structured-extraction", E1, EMAIL_SCHEMA)[-1] == (
        "assistant",
        '{"category": "billing"}',
    )


# --- auto ------------------------------------------------------------------------------------


def test_auto_single_label_classification_is_the_label() -> None:
    assert run("auto", E1) == [("user", E1.data["text"]), ("assistant", "billing")]


def test_auto_otherwise_writes_a_json_object_of_all_fields() -> None:
    assert run("auto", N2)[-1] == (
        "assistant",
        '{"PERSON": "Jürgen Klopp", "ORG": "Liverpool FC", "LOC": "England"}',
    )
    two = task(
        "1", {"text": "t"}, Text(field="summary", value="a"), Text(field="summary", value="b")
    )
    assert run("auto", two) == [("user", "t"), ("assistant", '{"summary": ["a", "b"]}')]


def test_auto_with_an_image_sends_it_and_boxes_as_box_2d() -> None:
    uri = "/data/upload/6/6bc7734c-qc_part_01.png"
    q1 = task(
        "27",
        {"image": uri},
        Box(field="defect", target="image", label="scratch", x=100, y=120, w=160, h=30),
        Box(field="defect", target="image", label="dent", x=400, y=300, w=60, h=50),
        Polygon(
            field="defect_poly",
            target="image",
            label="paint_chip",
            points=[(500, 80), (560, 90), (550, 140), (505, 130)],
        ),
        media=[MediaRef(key="image", uri=uri, width=640, height=480)],
    )
    assert run("auto", q1) == [
        ("user", [ImagePart(image_url=ImageURL(url=uri))]),
        (
            "assistant",
            [
                TextPart(
                    text='{"defect": [{"box_2d": [250, 156, 312, 406], "label": "scratch"}, '
                    '{"box_2d": [625, 625, 729, 719], "label": "dent"}], '
                    '"defect_poly": [{"box_2d": [167, 781, 292, 875], "label": "paint_chip"}]}'
                )
            ],
        ),
    ]
    captioned = msgspec.structs.replace(
        q1, **{"data": {"image": uri, "caption": "Part 1, top view"}}
    )
    assert run("auto", captioned)[0] == (
        "user",
        [TextPart(text="Part 1, top view"), ImagePart(image_url=ImageURL(url=uri))],
    )


def test_auto_without_text_or_image_is_a_template_error() -> None:
    from jsonl_bridge.errors import TemplateError

    record = task("5", {"a": "x", "b": "y"}, Choice(field="c", labels=["l"]))
    with pytest.raises(
        TemplateError, match=r"preset:auto:\d+: user\[0\]\.text: 'text' is undefined"
    ):
        run("auto", record)


# --- image presets (the images themselves are embedded by the pipeline: test_images_golden) --

QC_URI = "/data/upload/6/6bc7734c-qc_part_01.png"
QC_MEDIA = [MediaRef(key="image", uri=QC_URI, width=640, height=480)]


def assistant_text(messages: list[tuple[str, Any]]) -> str:
    role, content = messages[-1]
    assert role == "assistant" and isinstance(content, list)
    text: str = content[0].text
    return text


def test_qc_defects_boxes_every_localised_region_in_source_order() -> None:
    """Rotated boxes, polygons, ellipses and masks give their envelope; points and choices
    are not defects with an extent and are left out."""
    record = task(
        "1",
        {"image": QC_URI},
        Box(field="defect", target="image", label="dent", x=310, y=95, w=70, h=70, rotation=45),
        Points(field="kp", target="image", label="bolt", points=[(80, 80)]),
        Choice(field="verdict", target="image", labels=["reject"]),
        Polygon(
            field="poly",
            target="image",
            label="paint_chip",
            points=[(500, 80), (560, 90), (550, 140)],
        ),
        Ellipse(field="ell", target="image", label="dent", cx=320, cy=240, rx=64, ry=48),
        Mask(
            field="brush",
            target="image",
            label="scratch",
            encoding="ls-rle",
            rle=[0],
            width=640,
            height=480,
            bbox=(64, 48, 128, 96),
        ),
        media=QC_MEDIA,
    )
    messages = run("qc-defects", record, infer_schema([record]))
    assert [role for role, _ in messages] == ["system", "user", "assistant"]
    assert messages[1][1] == [
        TextPart(
            text="Analyze the image of the metal component and output the JSON list of defects."
        ),
        ImagePart(image_url=ImageURL(url=QC_URI)),
    ]
    assert json.loads(assistant_text(messages)) == [
        {"box_2d": [198, 407, 404, 562], "label": "dent"},  # x 260.5-359.5, y 95-194
        {"box_2d": [167, 781, 292, 875], "label": "paint_chip"},
        {"box_2d": [400, 400, 600, 600], "label": "dent"},
        {"box_2d": [100, 100, 200, 200], "label": "scratch"},
    ]


def test_qc_defects_refuses_boxes_drawn_on_an_image_turned_in_the_editor() -> None:
    from jsonl_bridge.errors import TemplateError

    turned = Box(
        field="defect", target="image", label="dent", x=1, y=2, w=3, h=4,
        attributes={"image_rotation": 90},
    )  # fmt: skip
    record = task("1", {"image": QC_URI}, turned, media=QC_MEDIA)
    with pytest.raises(TemplateError, match="turned 90 degrees in the editor"):
        run("qc-defects", record, infer_schema([record]))


def test_qc_defects_an_annotation_without_regions_is_a_negative_example() -> None:
    clean = task("7", {"image": QC_URI}, media=QC_MEDIA)
    defect = FieldSchema(name="defect", kind="box", labels=["scratch", "dent"], target="image")
    messages = run("qc-defects", clean, ExportSchema(fields={"defect": defect}))
    assert "Defects: scratch, dent." in messages[0][1][0].text
    assert assistant_text(messages) == "[]"


def test_qc_defects_lists_the_box_labels_not_a_verdict_choice() -> None:
    """A QC project often asks for a whole-image verdict beside the boxes: those labels are
    not defect classes (`schema.labels` would name the single choice field's)."""
    clean = task("7", {"image": QC_URI}, media=QC_MEDIA)
    verdict = FieldSchema(name="verdict", kind="choice", labels=["ok", "defective"])
    defect = FieldSchema(name="defect", kind="box", labels=["scratch", "dent"], target="image")
    poly = FieldSchema(name="poly", kind="polygon", labels=["dent", "paint_chip"], target="image")
    schema = ExportSchema(fields={"verdict": verdict, "defect": defect, "poly": poly})
    messages = run("qc-defects", clean, schema)
    assert messages[0][1][0].text.endswith("Defects: scratch, dent, paint_chip.")


def test_cad_code_sends_the_instruction_and_the_code_verbatim() -> None:
    code = 'echo("Tab:\there, backslash: \\\\ , quote: \\" done");'
    record = task(
        "44", {"image": QC_URI}, Text(field="code", target="image", value=code), media=QC_MEDIA
    )
    messages = run("cad-code", record)
    assert messages[1][1][0] == TextPart(
        text="Write OpenSCAD (or CadQuery) code that reproduces this drawing."
    )
    assert assistant_text(messages) == code
    instructed = msgspec.structs.replace(
        record, data={"image": QC_URI, "instruction": "Model it in CadQuery."}
    )
    assert run("cad-code", instructed)[1][1][0] == TextPart(text="Model it in CadQuery.")


def thermal(*regions: Region) -> Record:
    return task(
        "t1",
        {"image": "/data/upload/9/thermal.png"},
        *regions,
        media=[MediaRef(key="image", uri="/data/upload/9/thermal.png", width=320, height=240)],
    )


def test_predictive_maintenance_writes_one_line_per_finding() -> None:
    record = thermal(
        Choice(field="status", labels=["monitor"]),
        Number(field="max_temp_c", value=87.5),
        Text(field="location", value="left bearing housing"),
        Choice(field="severity", labels=["high"]),
    )
    assert assistant_text(run("predictive-maintenance", record)) == (
        "STATUS: monitor\nMax_Temp_C: 87.5\nLocation: left bearing housing\nSeverity: high"
    )


def test_predictive_maintenance_leaves_out_absent_fields_and_takes_bindings(tmp_path: Any) -> None:
    record = thermal(
        Choice(field="condition", labels=["critical"]),
        Number(field="max_temp_c", value=112),
        Choice(field="severity", labels=["high", "urgent"]),
    )
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\nextends: predictive-maintenance\nfields: {status: condition}\n")
    renderer = Renderer.compile(load_mapping(mapping), None)
    messages = renderer.render(record, record.annotations[0])
    assert messages[-1].content[0].text == (  # type: ignore[index, union-attr]
        "STATUS: critical\nMax_Temp_C: 112\nSeverity: high, urgent"
    )


# --- listing ---------------------------------------------------------------------------------


def test_list_presets_sorted_with_descriptions() -> None:
    presets = list_presets()
    names = [name for name, _ in presets]
    assert names == sorted(names)
    assert set(PRESETS) <= set(names)
    assert all(description for _, description in presets)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_text_is_the_yaml_that_loads(name: str) -> None:
    text = preset_text(name)
    data = yaml.safe_load(text)
    assert data["version"] == 1 and data["description"]
    mapping = load_mapping(name)
    assert mapping.origin == f"preset:{name}"
    assert mapping.assistant == data["assistant"]


def test_preset_text_of_an_unknown_name() -> None:
    with pytest.raises(UsageError, match="did you mean 'summarization'"):
        preset_text("sumarization")
