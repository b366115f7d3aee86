"""The Python API of DESIGN §10, as a notebook or an ETL job would use it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import jsonl_bridge as jb
from jsonl_bridge.records import Annotation, Choice, Record, Source

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
EMAIL = FIXTURES / "email-classification"


def test_read_streams_records_lazily() -> None:
    records = jb.read(EMAIL / "export.json")
    assert not isinstance(records, list)
    first = next(iter(records))
    assert first.id == "1" and first.source.tool == "label-studio"


def test_read_validates_options() -> None:
    with pytest.raises(jb.UsageError, match="label_config"):
        jb.read(EMAIL / "export.json", "label-studio", {"label_cfg": "x"})


def test_convert_is_lazy_and_reports_once_iterated(tmp_path: Path) -> None:
    conversion = jb.convert(EMAIL / "export.json", "email-classification")
    assert conversion.report.tasks_read == 0
    report = jb.write_jsonl(conversion, tmp_path / "train.jsonl")
    assert report is conversion.report
    assert (report.tasks_read, report.examples, report.unannotated) == (6, 4, 1)
    assert dict(report.rejected) == {"disagreement": 1}
    assert [r.id for r in conversion.rejects] == ["5"]
    with pytest.raises(jb.UsageError, match="iterated once"):
        list(conversion)


def test_convert_accepts_records_and_a_loaded_mapping() -> None:
    source = Source(tool="mine", format="py", file="<memory>")
    records = [
        Record(
            id=str(i),
            source=source,
            data={"text": f"mail {i}"},
            annotations=[Annotation(annotator="a", regions=[Choice(field="c", labels=[label])])],
        )
        for i, label in enumerate(["spam", "billing"])
    ]
    mapping = jb.load_mapping("email-classification")
    examples = list(jb.convert(records, mapping))
    assert [e.messages[-1].content for e in examples] == [
        "Classification: spam",
        "Classification: billing",
    ]
    system = examples[0].messages[0].content
    assert isinstance(system, str) and "billing, spam" in system  # first pass: sorted labels


def test_a_one_shot_stream_gets_its_first_pass_too() -> None:
    """The first pass spools the records, so a generator needs no second reading."""
    source = Source(tool="mine", format="py", file="<memory>")

    def records() -> Iterator[Record]:
        for n, label in enumerate(["spam", "billing", "spam"]):
            yield Record(
                id=str(n),
                source=source,
                data={"text": f"mail {n}"},
                annotations=[Annotation(regions=[Choice(field="c", labels=[label])])],
            )

    examples = list(jb.convert(records(), "email-classification"))
    assert [e.messages[-1].content for e in examples] == [
        "Classification: spam",
        "Classification: billing",
        "Classification: spam",
    ]
    assert [e.messages[1].content for e in examples] == ["mail 0", "mail 1", "mail 2"]
    system = examples[0].messages[0].content
    assert isinstance(system, str) and "billing, spam" in system


def test_write_jsonl_counts_plain_examples(tmp_path: Path) -> None:
    examples = list(jb.convert(EMAIL / "export.json", "email-classification"))
    report = jb.write_jsonl(examples, tmp_path / "t.jsonl")
    assert report.examples == 4
    rows = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]


def test_to_dataframe_of_records_and_examples() -> None:
    frame = jb.to_dataframe(jb.read(EMAIL / "export.json"))
    assert len(frame) == 15  # 14 annotations + 1 row for the unannotated task
    row = frame[(frame["id"] == "2") & (frame["annotator"] == "3")].iloc[0]
    assert row["field.category"] == "other"
    assert row["data.subject"] == "App stürzt ab 😡"
    spans = jb.to_dataframe(jb.read(FIXTURES / "ner-spans" / "export.json"))
    n2 = spans[(spans["id"] == "23") & (spans["annotator"] == "1")].iloc[0]
    assert n2["field.label"][0] == {"label": "PERSON", "text": "Jürgen Klopp"}
    examples = jb.to_dataframe(jb.convert(EMAIL / "export.json", "email-classification"))
    assert list(examples["assistant"])[:2] == [
        "Classification: billing",
        "Classification: technical_support",
    ]


def test_to_dataframe_keeps_fields_named_like_its_own_columns_apart() -> None:
    """A Label Studio control may be called `id` or `annotator`; it must not overwrite those."""
    from jsonl_bridge.records import Annotation, Choice, Record, Source

    record = Record(
        id="t1",
        source=Source(tool="label-studio", format="json", file="x.json"),
        data={"id": "data-id"},
        annotations=[
            Annotation(id="a1", annotator="7", regions=[Choice(field="annotator", labels=["x"])])
        ],
    )
    row = jb.to_dataframe([record]).iloc[0]
    assert (row["id"], row["annotator"]) == ("t1", "7")
    assert (row["data.id"], row["field.annotator"]) == ("data-id", "x")


def test_errors_share_one_base() -> None:
    assert issubclass(jb.InputError, jb.BridgeError)
    assert issubclass(jb.MappingError, jb.BridgeError)
    with pytest.raises(jb.BridgeError):
        jb.load_mapping("no-such-preset")


def test_an_invalid_task_names_its_annotators_in_the_reject() -> None:
    """Whoever annotated a task the adapter could not read is who to ask about it."""
    from jsonl_bridge.records import Annotation, Choice, Record, Source

    answer = [Choice(field="category", labels=["billing"])]
    record = Record(
        id="9",
        source=Source(tool="t", format="f", file="export.jsonl", line=4),
        data={"text": "hi"},
        annotations=[Annotation(annotator=who, regions=answer) for who in ("anna", "ben", "anna")],
        problems=["/[3]/label: an offset inside the text's emoji"],
    )
    conversion = jb.convert([record], "auto")
    assert list(conversion) == []
    (reject,) = conversion.rejects
    assert (reject.reason, reject.annotators) == ("invalid", ["anna", "ben"])
    assert "emoji" in reject.detail


def test_records_you_build_are_checked_and_give_one_output_with_or_without_a_first_pass(
    tmp_path: Path,
) -> None:
    """Box(x=10) (an int where a float belongs) is what pydantic used to turn into 10.0: the
    example must not depend on whether the first pass (whose spool converts) ran."""
    from jsonl_bridge.records import Box

    source = Source(tool="mine", format="py", file="<memory>")
    box = Box(field="b", label="dent", x=10, y=0, w=5, h=5)
    record = Record(
        id="1", source=source, data={"text": "x"}, annotations=[Annotation(regions=[box])]
    )
    answers = []
    for allowed in ("", "labels: {allowed: [dent]}\n"):
        mapping = tmp_path / f"m{len(allowed)}.yaml"
        mapping.write_text(
            "version: 1\nuser: '{{ data.text }}'\n"
            "assistant: \"{{ schema.labels | join(',') }} {{ regions | tojson }}\"\n" + allowed
        )
        (example,) = jb.convert([record], mapping)
        answers.append(example.messages[-1].content)
    assert answers[0] == answers[1] and '"x": 10.0' in str(answers[0])
    odd = Record(id="7", source=source, data={1: "not a text key"})  # type: ignore[dict-item]
    with pytest.raises(jb.InputError, match=r"record 0 \(id '7'\): .*\$\.data"):
        list(jb.convert([odd], "email-classification"))
    with pytest.raises(jb.UsageError, match="record 0: expected a Record, got dict"):
        list(jb.convert([{"id": "1"}], "email-classification"))  # type: ignore[list-item]
