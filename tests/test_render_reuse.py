"""Rendered outputs reused across annotations, tasks and the run never carry one task's data
into another: each case renders tasks whose answers are equal but whose inputs differ, with a
fresh renderer as the reference (nothing reused), and checks the templates ran no more often
than their level allows.

Records are built by hand so that these tests do not depend on an adapter.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jsonl_bridge import render as render_module
from jsonl_bridge.errors import FieldBindingError, RecordError, TemplateError
from jsonl_bridge.mapping import Mapping, load_mapping
from jsonl_bridge.records import Annotation, Choice, ExportSchema, FieldSchema, Record, Source, Span
from jsonl_bridge.render import Renderer
from jsonl_bridge.templates import CompiledTemplate

SOURCE = Source(tool="label-studio", format="json", file="export.json", pointer="/[0]")
SCHEMA = ExportSchema(
    fields={"mood": FieldSchema(name="mood", kind="choice", labels=["good", "bad"], target="text")}
)


def task(
    ident: str, text: str, *answers: str, field: str = "mood", subject: str | None = None
) -> Record:
    """A task whose annotators (1, 2, ...) each chose one label; region ids differ."""
    data: dict[str, Any] = {"text": text}
    if subject is not None:
        data["subject"] = subject
    annotations = [
        Annotation(
            id=f"{ident}-{n}",
            annotator=str(n),
            regions=[Choice(id=f"r{ident}{n}", field=field, target="text", labels=[label])],
        )
        for n, label in enumerate(answers, 1)
    ]
    return Record(id=ident, source=SOURCE, data=data, annotations=annotations)


def mapping_of(tmp_path: Path, **templates: str) -> Mapping:
    lines = ["version: 1"] + [f"{key}: {json.dumps(value)}" for key, value in templates.items()]
    path = tmp_path / "mapping.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_mapping(path)


def outputs(renderer: Renderer, records: list[Record]) -> list[Any]:
    """Every annotation's messages (as role/content pairs), or its error's class and text."""
    out: list[Any] = []
    for record in records:
        for annotation in record.annotations:
            try:
                messages = renderer.render(record, annotation)
            except RecordError as exc:
                out.append((type(exc).__name__, str(exc)))
            else:
                out.append([(m.role, m.content) for m in messages])
    return out


def unshared(mapping: Mapping, records: list[Record], schema: ExportSchema | None) -> list[Any]:
    """The reference: a new renderer for every annotation, so that nothing is reused."""
    out: list[Any] = []
    for record in records:
        for annotation in record.annotations:
            alone = Record(
                id=record.id, source=record.source, data=record.data, annotations=[annotation]
            )
            out += outputs(Renderer.compile(mapping, schema), [alone])
    return out


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each template (by its dotted path) really rendered."""
    calls: Counter[str] = Counter()
    real = CompiledTemplate.render

    def counting(self: CompiledTemplate, context: dict[str, Any]) -> str:
        calls[".".join(map(str, self.path))] += 1
        return real(self, context)

    monkeypatch.setattr(CompiledTemplate, "render", counting)
    return calls


EQUAL_ANSWERS = [
    task("1", "First e-mail.", "good", "good"),
    task("2", "Second e-mail.", "good", "bad"),
    task("3", "Third e-mail.", "bad", "good", "good"),
    task("4", "Fourth e-mail.", "good"),
]


def test_each_level_renders_as_often_as_its_inputs_change(
    tmp_path: Path, counted: Counter[str]
) -> None:
    """system reads only `schema`: once a run; assistant only the answer: once per distinct
    answer in the whole run; user the task's text: once per task, whoever answered."""
    mapping = mapping_of(
        tmp_path,
        system="Labels: {{ schema.labels | join(', ') }}",
        user="{{ text }}",
        assistant="Mood: {{ label }} / {{ fields.mood }}",
    )
    renderer = Renderer.compile(mapping, SCHEMA)
    got = outputs(renderer, EQUAL_ANSWERS)
    assert counted == {"system": 1, "assistant": 2, "user": 4}
    assert got == unshared(mapping, EQUAL_ANSWERS, SCHEMA)
    assert [messages[1][1] for messages in got] == [
        "First e-mail.",
        "First e-mail.",
        "Second e-mail.",
        "Second e-mail.",
        "Third e-mail.",
        "Third e-mail.",
        "Third e-mail.",
        "Fourth e-mail.",
    ]
    assert got[3][2][1] == "Mood: bad / bad"


@pytest.mark.parametrize(
    "assistant",
    [
        "{{ label }} for {{ data.text }}",  # the task's data
        "{{ label }} in {{ text }}",  # the task's text
        "{{ label }} by {{ annotation.annotator }}",  # who answered
        "{{ label }} {{ annotation.id }}",
        "{{ regions[0].id }} {{ regions | length }}",  # region ids
        "{{ label }} of task {{ record.id }}",
        "{{ fields.mood }} {{ data.subject | default('-') }}",
    ],
)
def test_outputs_that_read_the_task_or_the_annotation_are_never_shared(
    tmp_path: Path, counted: Counter[str], assistant: str
) -> None:
    mapping = mapping_of(tmp_path, user="{{ text }}", assistant=assistant)
    records = [*EQUAL_ANSWERS, task("5", "Fifth.", "good", subject="Re: hi")]
    renderer = Renderer.compile(mapping, SCHEMA)
    got = outputs(renderer, records)
    assert counted["assistant"] >= len(records)  # at least once per task
    assert got == unshared(mapping, records, SCHEMA)
    assistants = [messages[-1][1] for messages in got]
    assert len(set(assistants)) > 2  # they do differ between tasks with equal answers


def test_a_user_template_of_data_and_text_renders_per_task_and_per_targeted_field(
    tmp_path: Path, counted: Counter[str]
) -> None:
    """`text` is what the answer's field points at: two annotators labeling different
    fields of one task see different texts."""
    mapping = mapping_of(
        tmp_path,
        user="{% if data.subject is defined %}{{ data.subject }}: {% endif %}{{ text }}",
        assistant="{{ label }}",
    )
    first = Annotation(
        id="a", annotator="1", regions=[Choice(field="m1", target="body", labels=["x"])]
    )
    second = Annotation(
        id="b", annotator="2", regions=[Choice(field="m2", target="title", labels=["x"])]
    )
    record = Record(
        id="9",
        source=SOURCE,
        data={"body": "The body.", "title": "The title.", "subject": "S"},
        annotations=[first, second],
    )
    records = [record, task("10", "Other.", "x", subject="T")]
    renderer = Renderer.compile(mapping, None)
    got = outputs(renderer, records)
    assert counted["user"] == 3
    assert got == unshared(mapping, records, None)
    assert [messages[0][1] for messages in got] == ["S: The body.", "S: The title.", "T: Other."]


def test_spans_without_their_own_text_are_answers_of_their_task(tmp_path: Path) -> None:
    """`answer` reads a span's text from the task when the span does not carry it: equal
    offsets in two tasks are two answers."""
    mapping = mapping_of(tmp_path, assistant="{{ answer | json }}")
    records = [
        Record(
            id=ident,
            source=SOURCE,
            data={"text": text},
            annotations=[
                Annotation(
                    id=ident,
                    regions=[Span(field="ner", target="text", start=0, end=4, label="Who")],
                )
            ],
        )
        for ident, text in (("1", "Anna went home."), ("2", "Bert went home."))
    ]
    got = outputs(Renderer.compile(mapping, None), records)
    assert [messages[-1][1] for messages in got] == ['{"Who": "Anna"}', '{"Who": "Bert"}']


def test_a_binding_that_fails_on_a_task_still_fails_when_its_answer_was_seen(
    tmp_path: Path,
) -> None:
    """The output for the answer is known from task 1; task 2 has two choice fields, so its
    `{kind: choice}` binding is ambiguous and the task is rejected all the same."""
    path = tmp_path / "mapping.yaml"
    path.write_text(
        'version: 1\nassistant: "{{ fields.label }}"\nfields:\n  label: {kind: choice}\n',
        encoding="utf-8",
    )
    mapping = load_mapping(path)
    fine = task("1", "One.", "good")
    ambiguous = task("2", "Two.", "good")
    other = Annotation(
        id="x", annotator="9", regions=[Choice(field="topic", target="text", labels=["a"])]
    )
    ambiguous = Record(
        id="2",
        source=SOURCE,
        data=ambiguous.data,
        annotations=[*ambiguous.annotations, other],
    )
    renderer = Renderer.compile(mapping, None)
    assert renderer.render(fine, fine.annotations[0])[-1].content == "good"
    with pytest.raises(FieldBindingError, match="ambiguous"):
        renderer.render(ambiguous, ambiguous.annotations[0])


def test_errors_are_not_kept_and_name_each_task(tmp_path: Path) -> None:
    mapping = mapping_of(tmp_path, assistant="{{ fields.nothere }}")
    records = [task("1", "One.", "good"), task("2", "Two.", "good")]
    got = outputs(Renderer.compile(mapping, SCHEMA), records)
    assert [error[0] for error in got] == ["TemplateError", "TemplateError"]
    assert "(task 1)" in got[0][1] and "(task 2)" in got[1][1]
    assert "data has: text; fields has: mood" in got[1][1]  # the hint lists the context


def test_the_shared_outputs_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module, "SHARED_OUTPUTS", 2)
    mapping = mapping_of(tmp_path, user="{{ text }}", assistant="{{ label }}")
    labels = ["a", "b", "c", "a", "d", "b", "a"]
    records = [task(str(n), f"Text {n}.", label) for n, label in enumerate(labels)]
    renderer = Renderer.compile(mapping, None)
    got = outputs(renderer, records)
    assert [messages[-1][1] for messages in got] == labels
    assert len(renderer._by_answer) == 2
    assert got == unshared(mapping, records, None)


def test_a_random_draw_is_not_reused_across_tasks(tmp_path: Path, counted: Counter[str]) -> None:
    mapping = mapping_of(tmp_path, assistant="{{ label }} {{ [1, 2, 3] | random }}")
    records = [task(str(n), "Same.", "good") for n in range(5)]
    outputs(Renderer.compile(mapping, None), records)
    assert counted["assistant"] == 5


def test_boxes_read_the_task_images_and_are_not_shared(tmp_path: Path) -> None:
    mapping = mapping_of(tmp_path, assistant="{{ label }} {{ [] | boxes }}")
    renderer = Renderer.compile(mapping, None)
    assert "|random" not in renderer._reads[("assistant",)]
    assert renderer._reuse[("assistant",)] is None


def test_the_email_classification_preset_reuses_at_every_level(
    counted: Counter[str],
) -> None:
    mapping = load_mapping("email-classification")
    records = [
        task("1", "Where is my parcel?", "good", "good", subject="Parcel"),
        task("2", "Thanks!", "good", "bad"),
        task("3", "Refund please.", "bad", subject="Refund"),
    ]
    renderer = Renderer.compile(mapping, SCHEMA)
    got = outputs(renderer, records)
    assert counted == {"system": 1, "user": 3, "assistant": 2}
    assert got == unshared(mapping, records, SCHEMA)
    assert got[0][1] == ("user", "Subject: Parcel\n\nWhere is my parcel?")
    assert got[2][1] == ("user", "Thanks!")
    assert got[3][2] == ("assistant", "Classification: bad")


def test_a_template_error_in_a_run_level_template_is_raised_for_every_task(
    tmp_path: Path,
) -> None:
    mapping = mapping_of(tmp_path, system="{{ schema.nothing }}", assistant="{{ label }}")
    renderer = Renderer.compile(mapping, SCHEMA)
    for record in (task("1", "One.", "good"), task("2", "Two.", "good")):
        with pytest.raises(TemplateError, match=f"task {record.id}"):
            renderer.render(record, record.annotations[0])


def test_numbers_json_cannot_tell_apart_get_their_own_outputs(tmp_path: Path) -> None:
    """NaN, inf and -inf are all `null` in JSON, 1 and 1.0 differ only in type: answers that
    differ only so must not share a cached output."""
    from jsonl_bridge.records import Number

    mapping = mapping_of(tmp_path, user="{{ data.text }}", assistant="n={{ fields.n }}")
    values = [float("inf"), float("nan"), float("-inf"), 1, 1.5, 1.0]
    records = [
        Record(
            id=str(i),
            source=SOURCE,
            data={"text": f"t{i}"},
            annotations=[Annotation(regions=[Number(field="n", value=value)])],
        )
        for i, value in enumerate(values)
    ]
    got = outputs(Renderer.compile(mapping, None), records)
    assert got == unshared(mapping, records, None)
    assert [messages[-1][1] for messages in got] == [
        "n=inf", "n=nan", "n=-inf", "n=1", "n=1.5", "n=1",
    ]  # fmt: skip


def test_reused_outputs_are_whole_messages_shared_only_as_widely_as_their_text(
    tmp_path: Path, counted: Counter[str]
) -> None:
    """A text-only mapping hands out message objects: the system message is one object for
    the run, a task's user message one for all its annotators, an answer's assistant message
    one for every task with that answer; no object crosses into a task whose text differs."""
    mapping = mapping_of(
        tmp_path,
        system="Labels: {{ schema.labels | join(', ') }}",
        user="{{ text }}",
        assistant="Mood: {{ label }}",
    )
    renderer = Renderer.compile(mapping, SCHEMA)
    rendered = [
        (record, renderer.render(record, annotation))
        for record in EQUAL_ANSWERS
        for annotation in record.annotations
    ]
    assert counted == {"system": 1, "assistant": 2, "user": 4}
    got = [[(m.role, m.content) for m in messages] for _, messages in rendered]
    assert got == unshared(mapping, EQUAL_ANSWERS, SCHEMA)
    assert len({id(messages[0]) for _, messages in rendered}) == 1
    users = {id(messages[1]): messages[1].content for _, messages in rendered}
    assert sorted(users.values()) == sorted(record.data["text"] for record in EQUAL_ANSWERS)
    assistants = {id(messages[2]): messages[2].content for _, messages in rendered}
    assert sorted(assistants.values()) == ["Mood: bad", "Mood: good"]


def test_blank_outputs_leave_their_message_out_or_reject_every_time(tmp_path: Path) -> None:
    """A blank system or user output is no message, a blank answer rejects the task: kept
    as outputs are, neither turns into a message on a later task."""
    mapping = mapping_of(
        tmp_path,
        system="{{ ' ' }}",
        user="{% if data.subject is defined %}{{ data.subject }}{% endif %}",
        assistant="{% if label == 'good' %}{{ label }}{% endif %}",
    )
    records = [
        task("1", "One.", "good", subject="Hi"),
        task("2", "Two.", "bad", "good"),
        task("3", "Three.", "bad", subject="Yo"),
        task("4", "Four.", "good", "bad"),
    ]
    got = outputs(Renderer.compile(mapping, SCHEMA), records)
    assert got == unshared(mapping, records, SCHEMA)
    assert [g if isinstance(g, list) else g[0] for g in got] == [
        [("user", "Hi"), ("assistant", "good")],
        "EmptyAnswerError",
        [("assistant", "good")],
        "EmptyAnswerError",
        [("assistant", "good")],
        "EmptyAnswerError",
    ]
