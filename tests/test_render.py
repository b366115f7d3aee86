"""Rendering annotations into messages: context, labels schema, bindings, dialogue, errors.

Records are built by hand from jsonl_bridge.records so these tests do not depend on an adapter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jinja2.exceptions import SecurityError

from jsonl_bridge.chat import ImagePart, ImageURL, Message, TextPart
from jsonl_bridge.errors import (
    EmptyAnswerError,
    FieldBindingError,
    LabelError,
    MappingError,
    TemplateError,
)
from jsonl_bridge.mapping import Mapping, load_mapping
from jsonl_bridge.records import (
    Annotation,
    Box,
    Choice,
    ExportSchema,
    FieldSchema,
    MediaRef,
    Number,
    Polygon,
    Rating,
    Record,
    Region,
    Relation,
    Source,
    Span,
    Taxonomy,
    Text,
)
from jsonl_bridge.render import Renderer, infer_schema

SOURCE = Source(tool="label-studio", format="json", file="export.json", pointer="/[0]")


def make_record(
    regions: Sequence[Region],
    data: dict[str, Any] | None = None,
    *,
    task: str = "17",
    annotator: str = "3",
    media: list[MediaRef] | None = None,
) -> Record:
    annotation = Annotation(id="a1", annotator=annotator, regions=list(regions))
    return Record(
        id=task,
        source=SOURCE,
        data={"text": "Some text."} if data is None else data,
        media=media or [],
        annotations=[annotation],
    )


def write_mapping(tmp_path: Path, text: str) -> tuple[Mapping, Path]:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path), path


def render(mapping: Mapping, record: Record, schema: ExportSchema | None = None) -> list[Message]:
    return Renderer.compile(mapping, schema).render(record, record.annotations[0])


def assistant_of(mapping: Mapping, record: Record, schema: ExportSchema | None = None) -> Any:
    return render(mapping, record, schema)[-1].content


def choice(*labels: str, field: str = "category") -> Choice:
    return Choice(field=field, target="text", labels=list(labels))


def simple(tmp_path: Path, assistant: str, extra: str = "") -> Mapping:
    body = f"version: 1\nassistant: {json.dumps(assistant)}\n{extra}"
    return write_mapping(tmp_path, body)[0]


# --- messages -----------------------------------------------------------------------------


def test_text_only_example_has_string_contents(tmp_path: Path) -> None:
    mapping, _ = write_mapping(
        tmp_path,
        'version: 1\nsystem: "Sys"\nuser: "{{ text }}"\nassistant: "{{ fields.category }}"\n',
    )
    assert render(mapping, make_record([choice("billing")])) == [
        Message(role="system", content="Sys"),
        Message(role="user", content="Some text."),
        Message(role="assistant", content="billing"),
    ]


def test_empty_system_and_user_are_left_out(tmp_path: Path) -> None:
    mapping, _ = write_mapping(
        tmp_path,
        'version: 1\nsystem: "{% if false %}x{% endif %}  "\nuser: "{{ \'\' }}"\n'
        'assistant: "{{ fields.category }}"\n',
    )
    assert render(mapping, make_record([choice("billing")])) == [
        Message(role="assistant", content="billing")
    ]


def test_an_image_part_makes_every_message_a_parts_list(tmp_path: Path) -> None:
    mapping, _ = write_mapping(
        tmp_path,
        """\
version: 1
system: "Inspect."
user:
  - text: "Find the defects."
  - image: "{{ data.image }}"
assistant: "{{ fields.defect | boxes }}"
""",
    )
    record = make_record(
        [Box(field="defect", target="image", label="dent", x=400, y=300, w=60, h=50)],
        {"image": "/data/upload/6/q1.png"},
        media=[MediaRef(key="image", uri="/data/upload/6/q1.png", width=640, height=480)],
    )
    assert render(mapping, record) == [
        Message(role="system", content=[TextPart(text="Inspect.")]),
        Message(
            role="user",
            content=[
                TextPart(text="Find the defects."),
                ImagePart(image_url=ImageURL(url="/data/upload/6/q1.png")),
            ],
        ),
        Message(
            role="assistant",
            content=[TextPart(text='[{"box_2d": [625, 625, 729, 719], "label": "dent"}]')],
        ),
    ]


def test_text_parts_without_an_image_become_a_string(tmp_path: Path) -> None:
    mapping, _ = write_mapping(
        tmp_path,
        """\
version: 1
user:
  - text: "Question:"
  - text: "{{ text }}"
  - image: "{{ data.image | default('') }}"
assistant: "{{ fields.category }}"
""",
    )
    messages = render(mapping, make_record([choice("billing")]))
    assert messages[0] == Message(role="user", content="Question:\nSome text.")


def test_empty_assistant_and_empty_annotation_are_empty_answers(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.category if false else '' }}")
    with pytest.raises(EmptyAnswerError, match=r"rendered empty \(task 17\)") as caught:
        render(mapping, make_record([choice("billing")]))
    assert caught.value.reason == "empty"
    schema = ExportSchema(fields={"category": FieldSchema(name="category", kind="choice")})
    with pytest.raises(EmptyAnswerError, match="no result"):
        render(mapping, make_record([]), schema)


# --- template errors ----------------------------------------------------------------------


def test_undefined_variable_names_mapping_line_and_task(tmp_path: Path) -> None:
    mapping, path = write_mapping(
        tmp_path, 'version: 1\nuser: "{{ text }}"\nassistant: "{{ fields.foo }}"\n'
    )
    with pytest.raises(TemplateError) as caught:
        render(mapping, make_record([choice("billing")]))
    error = caught.value
    assert str(error) == (
        f"{path}:3: assistant: 'dict object' has no attribute 'foo' "
        "(data has: text; fields has: category) (task 17)"
    )
    assert error.message == str(error)  # the rejects detail names the mapping line too
    assert error.reason == "template"
    assert error.annotators == ["3"]


def test_error_line_inside_a_block_template(tmp_path: Path) -> None:
    mapping, path = write_mapping(
        tmp_path,
        "version: 1\nsystem: |\n  Line one.\n  Line two.\n  {{ data.nope }}\nassistant: x\n",
    )
    with pytest.raises(TemplateError, match=rf"^{path}:5: system: 'dict object' has no "):
        render(mapping, make_record([choice("billing")]))


def test_user_part_errors_name_the_part(tmp_path: Path) -> None:
    mapping, path = write_mapping(
        tmp_path,
        'version: 1\nuser:\n  - text: ok\n  - image: "{{ data.image }}"\nassistant: x\n',
    )
    with pytest.raises(TemplateError, match=rf"^{path}:4: user\[1\]\.image: "):
        render(mapping, make_record([choice("billing")]))


def test_python_errors_inside_templates_become_template_errors(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ 1 + fields.category }}")
    with pytest.raises(TemplateError, match=r"TypeError: .*\(task 17\)"):
        render(mapping, make_record([choice("billing")]))


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ data.clear() }}",
        "{{ fields.category.__class__ }}",
        "{{ data.update({'text': 'pwned'}) }}",
    ],
)
def test_sandbox_escapes_are_template_errors_and_never_run(tmp_path: Path, template: str) -> None:
    mapping = simple(tmp_path, template)
    record = make_record([choice("billing")])
    with pytest.raises(TemplateError) as caught:
        render(mapping, record)
    assert isinstance(caught.value.__cause__, SecurityError)
    assert record.data == {"text": "Some text."}


# --- labels schema ------------------------------------------------------------------------


LABELS = "labels: {allowed: [billing, sales], rename: {Billing: billing}, unknown: %s}\n"


def test_rename_runs_before_the_allowed_check(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.category }}", LABELS % "reject")
    assert assistant_of(mapping, make_record([choice("Billing")])) == "billing"


def test_unknown_label_rejected_with_label_field_annotator_and_allowed(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.category }}", LABELS % "reject")
    with pytest.raises(LabelError) as caught:
        render(mapping, make_record([choice("spam")], annotator="7"))
    error = caught.value
    assert error.reason == "label"
    assert error.annotators == ["7"]
    message = error.message  # what the rejects file's detail shows
    assert "label 'spam' of field 'category' is not allowed" in message
    assert str(error).startswith("export.json [/[0]]: label 'spam'")
    assert "allowed: billing, sales" in message
    assert "annotator 7" in message and "task 17" in message


def test_unknown_label_dropped(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.category | json }}", LABELS % "drop")
    # One label is left, so the (not declared multiple) field becomes a plain string.
    assert assistant_of(mapping, make_record([choice("sales", "spam")])) == '"sales"'
    assert assistant_of(mapping, make_record([choice("sales", "x", "Billing")])) == (
        '["sales", "billing"]'
    )
    spans = [
        Span(field="ent", target="text", start=0, end=4, text="Some", label="sales"),
        Span(field="ent", target="text", start=5, end=9, text="text", label="junk"),
    ]
    mapping = simple(
        tmp_path, "{{ fields.ent | map(attribute='text') | join(',') }}", LABELS % "drop"
    )
    assert assistant_of(mapping, make_record(spans)) == "Some"


def test_dropping_every_label_leaves_an_empty_answer(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.category }}", LABELS % "drop")
    with pytest.raises(EmptyAnswerError, match="dropped"):
        render(mapping, make_record([choice("spam")]))


def test_unknown_label_kept(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.category }}", LABELS % "keep")
    assert assistant_of(mapping, make_record([choice("spam")])) == "spam"


def test_labels_apply_to_boxes(tmp_path: Path) -> None:
    mapping = simple(
        tmp_path, "{{ fields.d | map(attribute='label') | join(',') }}", LABELS % "reject"
    )
    box = Box(field="d", label="Billing", x=0, y=0, w=1, h=1)
    assert assistant_of(mapping, make_record([box])) == "billing"
    with pytest.raises(LabelError):
        render(mapping, make_record([msgspec.structs.replace(box, label="other")]))


# --- bindings -----------------------------------------------------------------------------


BIND_CHOICE = "fields: {label: {kind: choice}}\n"


def test_selector_binds_the_only_field_of_its_kind(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.label }}", BIND_CHOICE)
    record = make_record([choice("sales"), Text(field="notes", target="text", value="n")])
    assert assistant_of(mapping, record) == "sales"


def test_selector_with_two_candidates_names_both(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.label }}", BIND_CHOICE)
    record = make_record([choice("sales"), choice("urgent", field="priority")])
    with pytest.raises(FieldBindingError) as caught:
        render(mapping, record)
    message = str(caught.value)
    assert caught.value.reason == "field"
    assert "ambiguous" in message and "category, priority" in message
    assert message.startswith(f"{mapping.origin}:3: fields.label: ")


def test_selector_without_a_candidate_names_the_fields(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.label }}", BIND_CHOICE)
    with pytest.raises(FieldBindingError, match=r"no choice field \(fields: notes \(text\)\)"):
        render(mapping, make_record([Text(field="notes", value="n")]))


def test_a_task_without_any_field_names_columns_and_the_option(tmp_path: Path) -> None:
    # What Label Studio JSON_MIN/CSV look like without a labeling config: labels are columns.
    bare = Record(
        id="9",
        source=SOURCE,
        data={"text": "t", "category": "billing"},
        annotations=[Annotation(annotator="1", regions=[])],
    )
    for mapping, schema in [
        (simple(tmp_path, "{{ fields.label }}", BIND_CHOICE), None),
        (load_mapping("auto"), None),
        (load_mapping("email-classification"), ExportSchema()),  # a first pass found nothing
    ]:
        with pytest.raises(FieldBindingError) as caught:
            render(mapping, bare, schema)
        message = str(caught.value)
        assert "data columns: text, category" in message
        assert "--option label_config=PATH" in message and "`fields:`" in message
    # With a known schema an empty annotation is just empty.
    schema = ExportSchema(fields={"category": FieldSchema(name="category", kind="choice")})
    with pytest.raises(EmptyAnswerError, match="no result"):
        render(load_mapping("auto"), bare, schema)


def test_bindings_checked_at_compile_against_a_known_schema(tmp_path: Path) -> None:
    schema = ExportSchema(
        fields={
            "category": FieldSchema(name="category", kind="choice", labels=["a"]),
            "priority": FieldSchema(name="priority", kind="choice", labels=["b"]),
            "notes": FieldSchema(name="notes", kind="text"),
        }
    )
    mapping, path = write_mapping(
        tmp_path,
        "version: 1\nassistant: x\nfields:\n  label: {kind: choice}\n"
        "  summary: {kind: [span, number]}\n  gone: topic\n  ok: notes\n",
    )
    with pytest.raises(MappingError) as caught:
        Renderer.compile(mapping, schema)
    problems = caught.value.problems
    assert problems[0].startswith(f"{path}:4:3: fields.label: {{kind: choice}} is ambiguous")
    assert "(category, priority)" in problems[0]
    assert problems[1].startswith(f"{path}:5:3: fields.summary: {{kind: span or number}}")
    assert "notes (text)" in problems[1]
    assert problems[2] == (
        f"{path}:6:3: fields.gone: the export has no field 'topic' "
        "(fields: category (choice), priority (choice), notes (text))"
    )
    assert len(problems) == 3


def test_a_bound_but_absent_field_is_undefined_even_if_a_field_has_its_name(
    tmp_path: Path,
) -> None:
    mapping = simple(
        tmp_path,
        "{{ fields.label if fields.label is defined else 'NONE' }}",
        "fields: {label: category}\n",
    )
    ner = Span(field="label", start=0, end=4, text="Some", label="ORG")
    assert assistant_of(mapping, make_record([ner])) == "NONE"


def test_name_binding_aliases_the_export_field(tmp_path: Path) -> None:
    mapping = simple(
        tmp_path, "{{ fields.label }}/{{ fields.category }}", "fields: {label: category}\n"
    )
    assert assistant_of(mapping, make_record([choice("sales")])) == "sales/sales"


# --- context values -----------------------------------------------------------------------


def context_json(tmp_path: Path, expression: str, record: Record, **kw: Any) -> Any:
    mapping = simple(tmp_path, "{{ (" + expression + ") | json }}")
    return json.loads(assistant_of(mapping, record, kw.get("schema")))


def test_field_values_by_kind(tmp_path: Path) -> None:
    regions: list[Region] = [
        choice("a"),
        choice("x", "y", field="tags"),
        Taxonomy(field="topic", paths=[["Sport", "Football"], ["News"]]),
        Text(field="summary", value="one"),
        Text(field="summary", value="two"),
        Text(field="title", value="only"),
        Number(field="count", value=178.0),
        Rating(field="stars", value=3.5),
        Span(field="ent", target="text", start=0, end=4, text="Some", label="ORG"),
        Relation(field="relations", from_id="r1", to_id="r2", labels=["works_for"]),
    ]
    values = context_json(tmp_path, "fields", make_record(regions))
    assert values == {
        "category": "a",
        "tags": ["x", "y"],
        "topic": ["Sport / Football", "News"],
        "summary": ["one", "two"],
        "title": "only",
        "count": 178,
        "stars": 3.5,
        "ent": [{"start": 0, "end": 4, "text": "Some", "label": "ORG"}],
        "relations": [
            {
                "field": "relations",
                "id": None,
                "target": None,
                "attributes": {},
                "type": "relation",
                "from_id": "r1",
                "to_id": "r2",
                "labels": ["works_for"],
                "direction": None,
            }
        ],
    }


def test_a_declared_multiple_choice_is_always_a_list(tmp_path: Path) -> None:
    schema = ExportSchema(
        fields={"category": FieldSchema(name="category", kind="choice", multiple=True)}
    )
    assert context_json(tmp_path, "fields.category", make_record([choice("a")]), schema=schema) == [
        "a"
    ]


def test_label_is_defined_only_when_unambiguous(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ label if label is defined else 'NONE' }}")
    assert assistant_of(mapping, make_record([choice("a")])) == "a"
    assert assistant_of(mapping, make_record([choice("a", "b")])) == "NONE"
    two_fields = [choice("a"), choice("b", field="priority")]
    assert assistant_of(mapping, make_record(two_fields)) == "NONE"
    assert assistant_of(mapping, make_record([Text(field="t", value="v")])) == "NONE"


def test_text_is_the_labeled_target_then_text_then_the_only_string(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ text if text is defined else 'NONE' }}")
    body = {"body": "The body.", "text": "The text.", "n": 3}
    target = Choice(field="c", target="body", labels=["a"])
    assert assistant_of(mapping, make_record([target], body)) == "The body."
    assert assistant_of(mapping, make_record([choice("a")], body)) == "The text."
    only = make_record([Choice(field="c", labels=["a"])], {"message": "Only.", "n": 1})
    assert assistant_of(mapping, only) == "Only."
    two = make_record([Choice(field="c", labels=["a"])], {"a": "x", "b": "y"})
    assert assistant_of(mapping, two) == "NONE"
    image_only = make_record(
        [Box(field="d", target="image", label="x", x=0, y=0, w=1, h=1)],
        {"image": "a.png"},
        media=[MediaRef(key="image", uri="a.png", width=10, height=10)],
    )
    assert assistant_of(mapping, image_only) == "NONE"  # an image reference is not text


def test_annotation_record_and_schema_context(tmp_path: Path) -> None:
    schema = ExportSchema(
        fields={"category": FieldSchema(name="category", kind="choice", labels=["b", "a"])}
    )
    got = context_json(
        tmp_path,
        "[annotation, record.id, record.source.file, schema.labels, schema.answer_keys]",
        make_record([choice("a")]),
        schema=schema,
    )
    assert got == [
        {
            "id": "a1",
            "annotator": "3",
            "kind": "annotation",
            "ground_truth": False,
            "created_at": None,
        },
        "17",
        "export.json",
        ["b", "a"],
        ["category"],
    ]


def test_schema_labels_prefer_allowed_then_config_with_renames(tmp_path: Path) -> None:
    schema = ExportSchema(
        fields={"category": FieldSchema(name="category", kind="choice", labels=["B", "a", "b"])}
    )
    mapping = simple(tmp_path, "{{ schema.labels | join(',') }}", "labels: {rename: {B: b}}\n")
    assert assistant_of(mapping, make_record([choice("a")]), schema) == "b,a"
    mapping = simple(tmp_path, "{{ schema.labels | join(',') }}", "labels: {allowed: [z, a]}\n")
    assert assistant_of(mapping, make_record([choice("a")]), schema) == "z,a"


def test_answer_object(tmp_path: Path) -> None:
    schema = ExportSchema(
        fields={
            "ent": FieldSchema(name="ent", kind="span", labels=["PERSON", "ORG"]),
            "sentiment": FieldSchema(name="sentiment", kind="choice"),
            "count": FieldSchema(name="count", kind="number"),
        }
    )
    text = "Ada and Bob met at ACME."
    regions: list[Region] = [
        Number(field="count", value=2.0),
        choice("positive", field="sentiment"),
        Span(field="ent", target="text", start=19, end=23, text="ACME", label="ORG"),
        Span(field="ent", target="text", start=0, end=3, text="Ada", label="PERSON"),
        Span(field="ent", target="text", start=8, end=11, label="PERSON"),  # text from data
        Relation(field="relations", from_id="a", to_id="b"),
        Box(field="logo", target="image", label="acme", x=0, y=0, w=50, h=25),
    ]
    record = make_record(
        regions,
        {"text": text, "image": "i.png"},
        media=[MediaRef(key="image", uri="i.png", width=100, height=100)],
    )
    answer = context_json(tmp_path, "answer", record, schema=schema)
    assert answer == {
        "PERSON": ["Ada", "Bob"],
        "ORG": "ACME",
        "sentiment": "positive",
        "count": "2",
        "logo": [{"box_2d": [0, 0, 250, 500], "label": "acme"}],
    }
    assert list(answer) == ["PERSON", "ORG", "sentiment", "count", "logo"]


def test_answer_with_boxes_but_no_image_size_is_a_template_error(tmp_path: Path) -> None:
    mapping, path = write_mapping(tmp_path, 'version: 1\nassistant: "{{ answer | json }}"\n')
    record = make_record([Polygon(field="p", label="x", points=[(0, 0), (1, 1)])])
    with pytest.raises(TemplateError, match=rf"^{path}:2: assistant: answer: boxes: no image"):
        render(mapping, record)


def test_boxes_filter_without_an_image_size_is_a_template_error(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.d | boxes }}")
    record = make_record(
        [Box(field="d", label="x", x=0, y=0, w=1, h=1, target="image")],
        media=[MediaRef(key="image", uri="a.png")],
    )
    with pytest.raises(TemplateError, match="size of image 'image' is unknown"):
        render(mapping, record)


# --- dialogue -----------------------------------------------------------------------------


TURNS = [
    {"author": "customer", "text": "Hi"},
    {"author": "Agent", "text": "Hello!"},
    {"author": "customer", "text": "Help?"},
]


def test_dialogue_history_with_default_roles_and_the_mapping_system(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.reply }}", 'system: "Be kind."\ndialogue: {}\n')
    record = make_record([Text(field="reply", value="Sure.")], {"turns": TURNS, "id": "c1"})
    assert [(m.role, m.content) for m in render(mapping, record)] == [
        ("system", "Be kind."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Help?"),
        ("assistant", "Sure."),
    ]


def test_dialogue_unknown_author_names_it_and_the_roles(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.reply }}", "dialogue: {roles: {Kunde: user}}\n")
    turns = [{"author": "Kunde", "text": "Hallo"}, {"author": "Roboter", "text": "Hi"}]
    record = make_record([Text(field="reply", value="x")], {"turns": turns})
    with pytest.raises(TemplateError) as caught:
        render(mapping, record)
    message = str(caught.value)
    assert "turn 2: unknown author 'Roboter'" in message
    assert "Kunde → user" in message and "bot → assistant" in message
    assert message.startswith(f"{mapping.origin}:3: dialogue.roles: ")


def test_dialogue_field_and_keys_are_configurable(tmp_path: Path) -> None:
    mapping = simple(
        tmp_path,
        "{{ fields.reply }}",
        "dialogue: {field: conv, author_key: who, text_key: said,\n"
        "  roles: {me: user, it: assistant}}\n",
    )
    data = {
        "conv": [{"who": "me", "said": "Q"}],
        "other": [{"who": "it", "said": "ignored"}],
    }
    messages = render(mapping, make_record([Text(field="reply", value="A")], data))
    assert [(m.role, m.content) for m in messages] == [("user", "Q"), ("assistant", "A")]


def test_dialogue_needs_exactly_one_turns_value(tmp_path: Path) -> None:
    mapping = simple(tmp_path, "{{ fields.reply }}", "dialogue: {}\n")
    with pytest.raises(FieldBindingError, match="data keys: text"):
        render(mapping, make_record([Text(field="reply", value="A")]))
    two = make_record([Text(field="reply", value="A")], {"a": TURNS, "b": TURNS})
    with pytest.raises(FieldBindingError, match=r"found: a, b; set dialogue.field"):
        render(mapping, two)


# --- schema inference and first-pass decisions ---------------------------------------------


def test_infer_schema() -> None:
    first = make_record([choice("sales"), Text(field="notes", target="text", value="n")])
    second = make_record(
        [
            choice("billing", "other"),
            Span(field="ent", start=0, end=1, label="PER"),
            Box(field="box", label="dent", x=0, y=0, w=1, h=1),
        ]
    )
    schema = infer_schema([first, second])
    assert list(schema.fields) == ["category", "notes", "ent", "box"]
    assert schema.fields["category"] == FieldSchema(
        name="category",
        kind="choice",
        labels=["billing", "other", "sales"],
        target="text",
        multiple=True,
    )
    assert schema.fields["notes"].kind == "text" and schema.fields["notes"].labels == []
    assert schema.fields["box"].labels == ["dent"]


def test_needs_label_scan(tmp_path: Path) -> None:
    email = load_mapping("email-classification")
    assert Renderer.compile(email, None).needs_label_scan
    configured = ExportSchema(
        fields={"category": FieldSchema(name="category", kind="choice", labels=["a"])}
    )
    assert not Renderer.compile(email, configured).needs_label_scan
    unlabeled = ExportSchema(fields={"category": FieldSchema(name="category", kind="choice")})
    assert Renderer.compile(email, unlabeled).needs_label_scan
    allowed = simple(tmp_path, "{{ schema.labels | join(',') }}", "labels: {allowed: [a]}\n")
    assert not Renderer.compile(allowed, None).needs_label_scan
    assert not Renderer.compile(load_mapping("summarization"), None).needs_label_scan
    assert Renderer.compile(load_mapping("structured-extraction"), None).needs_label_scan
    whole = simple(tmp_path, "{{ schema | json }}")
    assert Renderer.compile(whole, None).needs_label_scan


def test_task_level_templates_render_once_per_task_and_never_leak_between_tasks(
    tmp_path: Path,
) -> None:
    mapping, _ = write_mapping(
        tmp_path,
        'version: 1\nsystem: "{{ data.topic }}"\nuser: "{{ annotation.annotator }}"\n'
        'assistant: "{{ label }}"\n',
    )
    renderer = Renderer.compile(mapping, None)
    first = make_record([choice("a")], {"topic": "one"})
    second = make_record([choice("b")], {"topic": "two"}, task="18", annotator="4")
    contents = [
        [m.content for m in renderer.render(rec, rec.annotations[0])]
        for rec in (first, first, second, first)
    ]
    assert contents == [["one", "3", "a"], ["one", "3", "a"], ["two", "4", "b"], ["one", "3", "a"]]


# --- the same answer from several annotators renders once --------------------------------------


def _three_annotators(*answers: Region) -> Record:
    annotations = [
        Annotation(id=str(n), annotator=who, regions=[answer])
        for n, (who, answer) in enumerate(zip(("1", "2", "3"), answers, strict=True))
    ]
    return Record(id="9", source=SOURCE, data={"text": "Hi"}, annotations=annotations)


def test_equal_answers_render_once_per_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Region ids differ between annotators (Label Studio gives each its own): still one
    rendering for two equal answers, and a second one for the different answer."""
    renderer = Renderer.compile(simple(tmp_path, "{{ label }}"), None)
    calls: list[str | None] = []
    real = renderer._render_annotation

    def counting(record: Record, annotation: Annotation, answer: str | None) -> list[Message]:
        calls.append(annotation.annotator)
        return real(record, annotation, answer)

    monkeypatch.setattr(renderer, "_render_annotation", counting)
    a = Choice(id="r1", field="category", target="text", labels=["billing"])
    b = msgspec.structs.replace(a, id="r2")
    c = msgspec.structs.replace(a, id="r3", labels=["sales"])
    record = _three_annotators(a, b, c)
    answers = [renderer.render(record, x)[-1].content for x in record.annotations]
    assert answers == ["billing", "billing", "sales"]
    assert calls == ["1", "3"]


@pytest.mark.parametrize(
    "assistant", ["{{ label }} by {{ annotation.annotator }}", "{{ regions | tojson }}"]
)
def test_templates_that_see_the_annotation_render_each_one(tmp_path: Path, assistant: str) -> None:
    renderer = Renderer.compile(simple(tmp_path, assistant), None)
    a = Choice(id="r1", field="category", target="text", labels=["billing"])
    record = _three_annotators(*(msgspec.structs.replace(a, id=f"r{n}") for n in range(3)))
    answers = [renderer.render(record, x)[-1].content for x in record.annotations]
    assert len(set(answers)) == 3  # each names its annotator, or its region's id
